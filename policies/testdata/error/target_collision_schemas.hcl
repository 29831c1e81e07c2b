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

# Two schema blocks mapping onto one schema of the other node.
schema "app" {
  target = "shared"
}

schema "web" {
  tables = ["sessions"]
  target = "shared" # ERROR: Colliding name mapping
}

# "legacy" maps onto "reports", which the reports block maps onto itself:
# the error points at the target that was written.
schema "legacy" {
  target = "reports" # ERROR: Colliding name mapping
}

schema "reports" {}

# A swap is one-to-one.
schema "east_data" {
  target = "west_data"
}

schema "west_data" {
  target = "east_data"
}

# Tables that follow their colliding schema blocks add no second error.
table "app.orders" {}
table "web.orders" {}
