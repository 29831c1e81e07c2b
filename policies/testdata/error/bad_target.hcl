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

schema "public" {
  target = "app.copy" # ERROR: Invalid schema name
}

schema "sales" {
  target = "pgduet" # ERROR: Reserved schema name
}

schema "billing" {
  target = "pg_billing" # ERROR: Reserved schema name
}

schema "audit" {
  target = "\"Audit" # ERROR: Invalid schema name
}

schema "stock" {
  target = ["stock_copy"] # ERROR: Incorrect attribute value type
}

schema "hr" {
  target = "information_schema" # ERROR: Reserved schema name
}

table "app.orders" {
  target = "orders2" # ERROR: Invalid table name
}

table "app.items" {
  target = "pg_catalog.items" # ERROR: Reserved schema name
}

table "app.lines" {
  target = "a.b.c" # ERROR: Invalid table name
}

# Quoted, the prefix is another name: PostgreSQL reserves lower-case pg_ only.
table "app.notes" {
  target = "\"PG_Notes\".notes"
}
