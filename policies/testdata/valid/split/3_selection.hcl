schema "public" {
  exclude    = ["tmp_*"]
  operations = ["insert", "update", "delete", "truncate"]
}

schema "billing" {}

table "public.events" {
  operations = ["insert"]
}

table "inventory.items" {}
