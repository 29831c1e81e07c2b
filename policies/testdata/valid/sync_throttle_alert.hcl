# The sync, throttle and alert blocks, each with values other than its
# defaults (TestSyncThrottleAlertFixtureValues checks them). The schema
# already exists on the other node, so the initial sync copies data only.

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
  data            = true
  schema          = false
  existing_tables = "ignore"
  parallelism     = 8
}

throttle "initial" {
  rows_per_second    = 50000
  mb_per_second      = 12.5
  queries_per_second = 20
}

throttle "incremental" {
  mb_per_second = 0.5
}

alert {
  lag_threshold = "2m30s"
  webhook       = env("PGDUET_TEST_ALERT_WEBHOOK")
}
