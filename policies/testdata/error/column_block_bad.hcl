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

table "public.orders" {
  columns = ["id", "total", "status"]
  column "total" {} # ERROR: Missing required argument
  column "status" {
    target  = "state"
    default = "new" # ERROR: Unsupported argument
  }
  column "id" {
    target = "public.id" # ERROR: Invalid column name
  }
}

table "public.items" {
  column "sku.code" { # ERROR: Invalid column name
    target = "code"
  }
  column { # ERROR: Missing name for column
    target = "x"
  }
  column "price" {
    target = ["unit_price"] # ERROR: Incorrect attribute value type
  }
}
