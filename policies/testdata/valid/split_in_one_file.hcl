# The same config as split/, in one file, with its blocks in another order
# and its defaults written out: TestDigestSplitEqualsSingle asserts that both
# have the same digest.

table "inventory.items" {
  conflicts {} # the pair's policy, as in split/
  # The columns of split/ in another order and spelling; a column block
  # that keeps a column's name changes nothing.
  columns = ["QTY", "sku", "\"id\""]
  column "sku" {
    target = "sku"
  }
  column "Qty" {
    target = "\"quantity\""
  }
}

schema "billing" {
  tables = ["*"]
  target = "\"billing_eu\""
}

ddl {
  deny    = ["drop schema", "DROP  DATABASE"]
  reverse = "reject"
}

table "public.events" {
  conflicts {
    policy = "overwrite"
  }
  operations = ["insert"]
}

schema "public" {
  exclude    = ["tmp_*"]
  operations = ["truncate", "insert", "update", "delete"]
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

node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent {
    listen   = "127.0.0.1:7420"
    address  = "127.0.0.1:7420"
    admin    = "127.0.0.1:7421"
    insecure = true
  }
}

conflicts {
  retention = "168h"
}

retry {
  connection = "720m"
  other      = "10m"
}

pair "shop" {
  ddl_source = "east"
}
