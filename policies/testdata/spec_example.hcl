# The SPEC §4 example, made valid HCL (single-line blocks may hold only one
# argument, so tls and throttle are written on several lines; "node west"
# is spelled out). TestSpecExampleIsKnown checks that the decoder knows
# every setting in it: the only error is "Not supported yet" for the names
# block.

pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url         = "postgres://pgduet@db-east:5432/shop"
    password    = env("PGDUET_EAST_PASSWORD")
    sslmode     = "verify-full"
    sslrootcert = "/etc/pgduet/db-ca.pem"
    sslcert     = "/etc/pgduet/east-client.pem"
    sslkey      = "/etc/pgduet/east-client.key"
    sslpassword = env("PGDUET_EAST_KEY_PASSWORD")
  }
  agent {
    listen  = "0.0.0.0:7420"
    address = "agent-east.internal:7420"
    admin   = "127.0.0.1:7421"
    tls {
      ca_file   = "/etc/pgduet/ca.pem"
      cert_file = "/etc/pgduet/east.pem"
      key_file  = "/etc/pgduet/east.key"
    }
  }
}

node "west" {
  database {
    url      = "postgres://pgduet@db-west:5432/shop"
    password = env("PGDUET_WEST_PASSWORD")
  }
  agent {
    listen  = "0.0.0.0:7420"
    address = "agent-west.internal:7420"
    tls {
      ca_file   = "/etc/pgduet/ca.pem"
      cert_file = "/etc/pgduet/west.pem"
      key_file  = "/etc/pgduet/west.key"
    }
  }
}

sync {
  schema          = true
  data            = true
  existing_tables = "error"
  parallelism     = 4
}

ddl {
  replicate = true
  reverse   = "ignore"
  allow     = ["*"]
  deny      = ["DROP DATABASE"]
}

conflicts {
  policy = "fail"
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

retry {
  connection = "720m"
  other      = "10m"
}

alert {
  lag_threshold = "30s"
  webhook       = "https://alerts.example/pgduet"
}

names {
  case = "source"
}

schema "public" {
  tables  = ["*"]
  exclude = ["tmp_*"]
  target  = "public"
}

table "public.orders" {
  target     = "sales.orders"
  columns    = ["id", "customer_id", "total", "status"]
  operations = ["insert", "update", "delete"]
  where      = "region = 'eu'"
  conflicts { policy = "last_write_wins" }
}
