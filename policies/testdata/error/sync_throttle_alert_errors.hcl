# Independent problems in the sync, throttle and alert blocks: all are
# reported in one run.
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

sync {
  schema          = false
  data            = true
  existing_tables = "overwrite" # ERROR: Invalid value
  parallelism     = 1.5 # ERROR: Invalid value
}

throttle "Initial" { # ERROR: Invalid throttle phase
  rows_per_second = 100
}

throttle "initial" {
  queries_per_second = -3 # ERROR: Invalid value
}

throttle "incremental" {
  mb_per_second      = "fast" # ERROR: Incorrect attribute value type
  queries_per_second = 5 # ERROR: Misplaced argument
}

alert {
  lag_threshold = "soon" # ERROR: Invalid duration
  webhook       = "alerts.example/pgduet" # ERROR: Invalid webhook URL
  channel       = "#ops" # ERROR: Unsupported argument
}
