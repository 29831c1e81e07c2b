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
    tls { # ERROR: Missing required argument
      ca_file   = "ca.pem"
      cert_file = "east.pem"
    }
  }
}

node "west" {
  database {
    url = "postgres://pgduet@localhost:5442/shop"
  }
  agent {
    listen  = "127.0.0.1:7430"
    address = "127.0.0.1:7430"
    tls {
      ca_file   = "ca.pem"
      cert_file = "west.pem"
      key_file  = "west.key"
    }
  }
}

schema "public" {}
