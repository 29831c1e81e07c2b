# Two nodes on one machine, plain TCP between the agents (demo / tests).
# Every supported setting but alert (off by default) is written out, mostly as its default.

pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url     = "postgres://pgduet@localhost:5432/shop"
    sslmode = "disable"
  }
  agent {
    listen   = "127.0.0.1:7420"
    address  = "127.0.0.1:7420"
    admin    = "127.0.0.1:7421"
    insecure = true
  }
}

node "west" {
  database {
    url     = "host=localhost port=5433 dbname=shop user=pgduet"
    sslmode = "disable"
  }
  agent {
    listen   = "127.0.0.1:7430"
    address  = "127.0.0.1:7430"
    admin    = "127.0.0.1:7431"
    insecure = true
  }
}

retry {
  connection = "720m"
  other      = "10m"
}

conflicts {
  policy    = "fail"
  retention = "720h"
}

ddl {
  replicate = true
  reverse   = "ignore"
  allow     = ["*"]
  deny      = ["DROP DATABASE"]
}

sync {
  schema          = true
  data            = true
  existing_tables = "error"
  parallelism     = 4
}

throttle "initial" {
  rows_per_second    = 0
  mb_per_second      = 0
  queries_per_second = 0
}

throttle "incremental" {
  rows_per_second = 0
  mb_per_second   = 0
}

schema "public" {
  target     = "public"
  tables     = ["*"]
  exclude    = ["tmp_*", "scratch?"]
  operations = ["insert", "update", "delete"]
}

table "public.audit_log" {
  operations = ["insert"]
  conflicts {
    policy = "ignore"
  }
}

table "\"Sales\".\"Orders\"" {
  target     = "\"Sales\".\"Orders\""
  operations = ["insert", "update", "delete", "truncate"]
}
