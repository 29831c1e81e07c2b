pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent {
    listen  = "127.0.0.1:7420"
    address = "127.0.0.1:7420"
    tls {
      ca_file   = "ca.pem"
      cert_file = "east.pem"
      key_file  = "east.key"
    }
  }
}

node "west" {
  database {
    url = "postgres://pgduet@localhost:5442/shop"
  }
  agent { # ERROR: Inconsistent transport security
    listen   = "127.0.0.1:7442"
    address  = "127.0.0.1:7442"
    admin    = "127.0.0.1:7443"
    insecure = true
  }
}

schema "public" {}
