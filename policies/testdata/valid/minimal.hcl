# The least a config needs: everything else takes its default.
pair "p" { ddl_source = "a" }

node "a" {
  database { url = "host=/tmp port=5432 dbname=app" }
  agent {
    listen   = ":7420"
    address  = "localhost:7420"
    insecure = true
  }
}

node "b" {
  database { url = "host=/tmp port=5433 dbname=app" }
  agent {
    listen   = ":7430"
    address  = "localhost:7430"
    admin    = "127.0.0.1:7431"
    insecure = true
  }
}

table "public.t" {}
