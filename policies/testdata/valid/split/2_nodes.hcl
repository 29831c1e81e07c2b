node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent {
    listen   = "127.0.0.1:7420"
    address  = "127.0.0.1:7420"
    insecure = true
  }
}

node "west" {
  database {
    url = "postgres://pgduet@localhost:5433/shop"
  }
  agent {
    listen   = "127.0.0.1:7430"
    address  = "127.0.0.1:7430"
    admin    = "127.0.0.1:7431"
    insecure = true
  }
}
