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
  column "total" {
    target = "amount"
  }
  column "TOTAL" { # ERROR: Duplicate column block
    target = "amount_eur"
  }
  # "\"Total\"" is another column: no duplicate.
  column "\"Total\"" {
    target = "\"Total_EUR\""
  }
}

table "public.items" {
  columns = ["sku", "price"]
  column "price" {
    target = "unit_price"
  }
  column "price" {} # ERROR: Duplicate column block # ERROR: Missing required argument
}
