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
  target  = "sales.orders"
  columns = ["id", "total"]
  column "total" {
    target = "amount"
  }
  column "status" { # ERROR: Column not replicated
    target = "state"
  }
  # A block mapping a column onto its own name still names a column.
  column "region" { # ERROR: Column not replicated
    target = "region"
  }
  # Quoting matters: "\"Total\"" is not total.
  column "\"Total\"" { # ERROR: Column not replicated
    target = "total2"
  }
}
