schema "public" {
  exclude    = ["tmp_*"]
  operations = ["insert", "update", "delete", "truncate"]
}

schema "billing" {
  target = "billing_eu"
}

table "public.events" {
  operations = ["insert"]
  conflicts { policy = "overwrite" }
}

table "inventory.items" {
  columns = ["id", "sku", "qty"]
  column "qty" {
    target = "quantity"
  }
}
