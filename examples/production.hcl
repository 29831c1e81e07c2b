# A production-style pair: two regions, TLS everywhere, secrets from the
# environment. Both agents run with this same file (keep it in git):
#
#   pgduet run --config /etc/pgduet/shop.hcl --node east   # next to db-east
#   pgduet run --config /etc/pgduet/shop.hcl --node west   # next to db-west
#
# Certificates: one CA for the agents; each agent's certificate names its node
# ("east" / "west") as a DNS SAN or CN — the peer checks it — and the host in the
# other node's `address` as a DNS SAN, so the peer can verify it as a server.

pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url         = "postgres://pgduet@db-east.internal:5432/shop"
    password    = env("PGDUET_EAST_PASSWORD")
    sslmode     = "verify-full"
    sslrootcert = "/etc/pgduet/db-ca.pem"
    sslcert     = "/etc/pgduet/east-db-client.pem"
    sslkey      = "/etc/pgduet/east-db-client.key"
    sslpassword = env("PGDUET_EAST_KEY_PASSWORD")
  }
  agent {
    listen  = "0.0.0.0:7420"
    address = "agent-east.internal:7420"
    admin   = "127.0.0.1:7421"
    tls {
      ca_file   = "/etc/pgduet/agents-ca.pem"
      cert_file = "/etc/pgduet/east.pem"
      key_file  = "/etc/pgduet/east.key"
    }
  }
}

node "west" {
  database {
    url         = "postgres://pgduet@db-west.internal:5432/shop"
    password    = env("PGDUET_WEST_PASSWORD")
    sslmode     = "verify-full"
    sslrootcert = "/etc/pgduet/db-ca.pem"
    sslcert     = "/etc/pgduet/west-db-client.pem"
    sslkey      = "/etc/pgduet/west-db-client.key"
    sslpassword = env("PGDUET_WEST_KEY_PASSWORD")
  }
  agent {
    listen  = "0.0.0.0:7420"
    address = "agent-west.internal:7420"
    admin   = "127.0.0.1:7421"
    tls {
      ca_file   = "/etc/pgduet/agents-ca.pem"
      cert_file = "/etc/pgduet/west.pem"
      key_file  = "/etc/pgduet/west.key"
    }
  }
}

# At the first start west is filled from east: east's schema (the selected
# objects' definitions), then its rows over 4 parallel COPY streams. West
# starts empty: a selected table that already exists there fails precheck.
sync {
  schema          = true
  data            = true
  existing_tables = "error"
  parallelism     = 4
}

# The initial copy reads east while it serves production traffic: cap it.
# Once both directions run, changes are not throttled (no throttle
# "incremental" block: unlimited).
throttle "initial" {
  rows_per_second    = 50000
  mb_per_second      = 40
  queries_per_second = 200
}

# A region may be away for hours: keep retrying the peer for 12 h before the
# direction is reported failed (the slot holds the changes meanwhile; watch
# pgduet_retained_wal_bytes).
retry {
  connection = "720m"
  other      = "10m"
}

# DDL flows from east (the pair's ddl_source) only. Schema changes on west
# fail there, pointing to east, so the two schemas cannot drift apart.
# DROP TABLE / DROP SCHEMA on east are not replayed on west: a DBA does them
# there by hand, on purpose (each skipped one is logged and recorded in
# pgduet.conflicts).
ddl {
  replicate = true
  reverse   = "reject"
  allow     = ["*"]
  deny      = ["DROP DATABASE", "DROP TABLE", "DROP SCHEMA"]
}

# Every other conflict stops its direction for a DBA to look at
# (pgduet conflicts --node west); resolved ones are kept 30 days.
conflicts {
  policy    = "fail"
  retention = "720h"
}

# On-call hears about a direction that fails or recovers, or lags more than
# two minutes behind. The webhook URL holds the alerting service's token: it
# comes from the environment, like the passwords, and never enters the
# config digest.
alert {
  lag_threshold = "2m"
  webhook       = env("PGDUET_ALERT_WEBHOOK")
}

schema "sales" {
  tables  = ["*"]
  exclude = ["tmp_*", "*_staging"]
}

# The catalog lives in schema "catalog" on east and "shop_catalog" on west
# (name mapping: rows and DDL are renamed both ways).
schema "catalog" {
  tables = ["products", "prices", "categories"]
  target = "shop_catalog"
}

# Replicate TRUNCATE for the nightly-rebuilt price list only.
table "catalog.prices" {
  operations = ["insert", "update", "delete", "truncate"]
}

# Audit rows are written once and never updated or deleted here; a row that
# already exists on the other node is the same event arriving twice: keep it.
table "sales.audit_log" {
  operations = ["insert"]
  conflicts {
    policy = "ignore"
  }
}

# Customer profiles are edited in both regions: the newer edit wins on both
# nodes (needs track_commit_timestamp = on, and REPLICA IDENTITY FULL on the
# table because it holds large notes; see the README, "Conflicts"). The
# payment token stays in its region: it is not in the column list.
table "sales.customers" {
  columns = ["id", "name", "email", "notes", "updated_at"]
  conflicts {
    policy = "last_write_wins"
  }
}
