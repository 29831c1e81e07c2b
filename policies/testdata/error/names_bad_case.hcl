# names.case takes source, lower or upper; the other blocks here are valid.
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
  rows_per_second    = 0
  mb_per_second      = 0
  queries_per_second = 0
}

alert {
  lag_threshold = "30s"
  webhook       = "https://alerts.example/pgduet"
}

names {
  case = "title" # ERROR: Invalid names.case
}

throttle "incremental" {
  rows_per_second = 0
}

schema "sales" {
  target = "sales_copy"
}
