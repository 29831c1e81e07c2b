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

# Two table blocks mapping onto one table of the other node.
table "app.orders" {
  target = "sales.orders"
}

table "shop.orders" {
  target = "sales.orders" # ERROR: Colliding name mapping
}

# Implicit on both sides: a.x follows its schema block onto b.x, where the
# table block b.x (b has no schema block) stays.
schema "a" {
  tables = ["y"]
  target = "b" # ERROR: Colliding name mapping
}

table "a.x" {}
table "b.x" {}

# Quoting matters: "Sales".orders is another table than sales.orders.
table "app.invoices" {
  target = "\"Sales\".orders"
}
