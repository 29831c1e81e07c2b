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

# A table block whose target is where a schema block maps another table.
schema "app" {
  target  = "app_copy"
  exclude = ["tmp_*"]
}

table "legacy.orders" {
  target = "app_copy.orders" # ERROR: Colliding name mapping
}

# Excluded from the schema block, app.tmp_orders still maps onto
# app_copy.tmp_orders: its DDL is replicated by schema.
table "legacy.tmp_orders" {
  target = "app_copy.tmp_orders" # ERROR: Colliding name mapping
}

# A table block for a table its own schema block selects wins: no collision.
table "app.customers" {
  target = "app_copy.customers"
}

table "app.invoices" {
  target = "billing.invoices"
}

# app.items has its own table block, mapped elsewhere: app_copy.items is free.
table "app.items" {
  target = "stock.items"
}

table "old.items" {
  target = "app_copy.items"
}

# Implicit table target: n.z stays n.z (n has no schema block), and the m
# block maps m.z there too.
schema "m" {
  target = "n" # ERROR: Colliding name mapping
}

table "n.z" {}

# The schema block selects only "keep", yet maps all of schema x: x.other
# would land where y.other does.
schema "x" {
  tables = ["keep"]
  target = "x_copy"
}

table "y.other" {
  target = "x_copy.other" # ERROR: Colliding name mapping
}

# A target schema no schema block maps onto is free.
table "y.more" {
  target = "x_more.more"
}
