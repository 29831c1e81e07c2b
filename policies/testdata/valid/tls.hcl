# Production style: TLS to both databases, mutual TLS between the agents,
# secrets from the environment and from files. Relative paths are relative
# to this file's directory.

pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url         = "postgres://pgduet@db-east.internal:5432/shop"
    password    = env("PGDUET_TEST_EAST_PASSWORD")
    sslmode     = "verify-full"
    sslrootcert = "/etc/pgduet/db-ca.pem"
    sslcert     = "/etc/pgduet/east-client.pem"
    sslkey      = "/etc/pgduet/east-client.key"
    sslpassword = env("PGDUET_TEST_EAST_KEY_PASSWORD")
  }
  agent {
    listen  = "0.0.0.0:7420"
    address = "agent-east.internal:7420"
    tls {
      ca_file   = "certs/ca.pem"
      cert_file = "certs/east.pem"
      key_file  = "certs/east.key"
    }
  }
}

node "west" {
  database {
    url         = "postgresql://pgduet@db-west.internal:5432/shop?application_name=pgduet"
    password    = file("secrets/west_password.txt")
    sslmode     = "verify-full"
    sslrootcert = "system"
  }
  agent {
    listen  = "[::]:7420"
    address = "agent-west.internal:7420"
    admin   = "127.0.0.1:9421"
    tls {
      ca_file   = "/etc/pgduet/ca.pem"
      cert_file = "/etc/pgduet/west.pem"
      key_file  = "/etc/pgduet/west.key"
    }
  }
}

retry {
  connection = "2d"
  other      = "1h30m"
}

schema "sales" {
  exclude = ["*_archive"]
}

table "public.customers" {}
