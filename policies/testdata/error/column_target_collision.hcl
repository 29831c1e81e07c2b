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

# Two columns renamed onto one name of the other node.
table "public.orders" {
  column "total" {
    target = "amount"
  }
  column "net" {
    target = "AMOUNT" # ERROR: Colliding column mapping
  }
}

# A rename onto a column that keeps its name (listed in columns).
table "public.items" {
  columns = ["sku", "price", "label", "name"]
  column "label" {
    target = "sku" # ERROR: Colliding column mapping
  }
  # Allowed: name is renamed away in turn, price and name swap.
  column "name" {
    target = "price"
  }
  column "price" {
    target = "name"
  }
}

# Without columns, a column whose block maps it onto itself keeps its name.
table "public.refunds" {
  column "reason" {
    target = "reason"
  }
  column "note" {
    target = "reason" # ERROR: Colliding column mapping
  }
}
