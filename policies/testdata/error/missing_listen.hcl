pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent { # ERROR: Missing required argument
    address  = "127.0.0.1:7420"
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

schema "public" {}
