# Two nodes on one machine: the config `pgduet demo` (and so `make demo`) runs.
#
# The demo starts two throwaway PostgreSQL clusters on free loopback ports and
# sets the environment variables read below before loading this file. To run it
# by hand against your own two local databases, export them yourself:
#
#   export PGDUET_DEMO_PASSWORD=...   # password of the postgres role on both
#   export PGDUET_EAST_PGPORT=5432 PGDUET_WEST_PGPORT=5433
#   export PGDUET_EAST_PORT=7420 PGDUET_WEST_PORT=7430
#   export PGDUET_EAST_ADMIN=7421 PGDUET_WEST_ADMIN=7431
#   pgduet run --config examples/localhost.hcl --node east &
#   pgduet run --config examples/localhost.hcl --node west &
#
# Agents talk plain TCP here (insecure = true): loopback only. See
# production.hcl for mutual TLS.

pair "demo" {
  ddl_source = "east" # DDL flows east → west only
}

node "east" {
  database {
    url      = "postgres://postgres@127.0.0.1:${env("PGDUET_EAST_PGPORT")}/shop?sslmode=disable"
    password = env("PGDUET_DEMO_PASSWORD")
  }
  agent {
    listen   = "127.0.0.1:${env("PGDUET_EAST_PORT")}"
    address  = "127.0.0.1:${env("PGDUET_EAST_PORT")}"
    admin    = "127.0.0.1:${env("PGDUET_EAST_ADMIN")}"
    insecure = true
  }
}

node "west" {
  database {
    url      = "postgres://postgres@127.0.0.1:${env("PGDUET_WEST_PGPORT")}/shop?sslmode=disable"
    password = env("PGDUET_DEMO_PASSWORD")
  }
  agent {
    listen   = "127.0.0.1:${env("PGDUET_WEST_PORT")}"
    address  = "127.0.0.1:${env("PGDUET_WEST_PORT")}"
    admin    = "127.0.0.1:${env("PGDUET_WEST_ADMIN")}"
    insecure = true
  }
}

retry {
  connection = "5m"
  other      = "1m"
}

conflicts {
  policy = "fail"
}

# Every table of schema public, in both directions.
schema "public" {
  tables = ["*"]
}

# The event log also replicates TRUNCATE (opt-in per table).
table "public.events" {
  operations = ["insert", "update", "delete", "truncate"]
}
