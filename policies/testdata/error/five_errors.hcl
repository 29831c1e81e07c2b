# Five independent problems: all must be reported in one run.
pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url     = "postgres://pgduet@localhost:5432/shop"
    sslmode = "on" # ERROR: Invalid value
  }
  agent {
    listen   = "127.0.0.1" # ERROR: Invalid address
    address  = "127.0.0.1:7420"
    insecure = true
  }
}

node "west" {
  database {
    url = "postgres://pgduet@localhost:5433/shop"
  }
  agent {
    listen   = "127.0.0.1:7430"
    address  = "127.0.0.1:7430"
    admin    = "127.0.0.1:7431"
    insecure = true
  }
}

retry {
  other = "ten minutes" # ERROR: Invalid duration
}

sync { parallelism = 0 } # ERROR: Invalid value

schema "public" {
  operations = ["insert", "merge"] # ERROR: Invalid value
}
