pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url = "host=localhost port" # ERROR: Invalid connection string
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
    url = "mysql://localhost/shop" # ERROR: Invalid connection string
  }
  agent {
    listen   = "127.0.0.1:7442"
    address  = "127.0.0.1:7442"
    admin    = "127.0.0.1:7443"
    insecure = true
  }
}

schema "public" {}
