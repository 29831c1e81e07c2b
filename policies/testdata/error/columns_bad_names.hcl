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
  # id and ID are the same column (unquoted names fold to lower case);
  # "\"ID\"" is another one.
  columns = ["id", "ID", "\"ID\"", "total", "id"] # ERROR: Duplicate column # ERROR: Duplicate column
}

table "public.items" {
  columns = [
    "sku",
    "public.sku", # ERROR: Invalid column name
    "unit price", # ERROR: Invalid column name
    "\"unit price\"",
    "",           # ERROR: Invalid column name
  ]
  # Not checked against a list with a mistake in it.
  column "price" {
    target = "unit_price"
  }
}
