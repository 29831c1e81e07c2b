pair "shop" {
  ddl_source = "east"
}

node "east" { # ERROR: Missing node block
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

schema "public" {}
