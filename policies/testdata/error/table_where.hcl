pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent {
    listen   = "127.0.0.1:7432"
    address  = "127.0.0.1:7432"
    admin    = "127.0.0.1:7433"
    insecure = true
  }
}

node "west" {
  database {
    url = "postgres://pgduet@localhost:5442/shop"
  }
  agent {
    listen   = "127.0.0.1:7442"
    address  = "127.0.0.1:7442"
    admin    = "127.0.0.1:7443"
    insecure = true
  }
}

schema "public" {}

table "public.orders" {
  target     = "sales.orders"
  columns    = ["id", "total"]
  operations = ["insert", "update", "delete"]
  where      = "  " # ERROR: Invalid row filter
}

table "public.items" {
  where = "qty > 1" # ERROR: Row filter with renamed columns
  column "qty" {
    target = "quantity"
  }
}

table "public.events" {
  operations = ["insert", "truncate"]
  where      = "kind = 'x'" # ERROR: Row filter with truncate
}
