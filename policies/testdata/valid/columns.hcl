# Column subsets and renames. public.orders replicates four of its columns
# to sales.orders on west, two of them under other names (one keeps upper
# case); public.customers replicates every column, renaming two of them and
# swapping two names; public.events replicates a subset under the same names.

pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent {
    listen   = "127.0.0.1:7420"
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

schema "public" {
  exclude = ["tmp_*"]
}

table "public.orders" {
  target     = "sales.orders"
  columns    = ["id", "customer_id", "Total", "\"Status\""]
  operations = ["insert", "update", "delete"]
  column "total" {
    target = "amount"
  }
  column "\"Status\"" {
    target = "\"State\""
  }
  column "id" {
    target = "id" # keeps its name: the same as no block
  }
  conflicts { policy = "overwrite" }
}

table "public.customers" {
  column "email" {
    target = "mail"
  }
  column "first_name" {
    target = "last_name"
  }
  column "last_name" {
    target = "first_name"
  }
}

table "public.events" {
  columns = ["id", "kind", "at"]
}
