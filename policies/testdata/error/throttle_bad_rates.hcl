# Rates are numbers >= 0; rows and queries per second are whole numbers.
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

schema "public" {}

throttle "initial" {
  rows_per_second    = -1 # ERROR: Invalid value
  mb_per_second      = -0.5 # ERROR: Invalid value
  queries_per_second = 2.5 # ERROR: Invalid value
}

throttle "incremental" {
  rows_per_second = 100.25 # ERROR: Invalid value
  mb_per_second   = 0.5
}
