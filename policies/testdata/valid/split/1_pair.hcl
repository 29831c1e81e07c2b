pair "shop" {
  ddl_source = "east"
}

retry {
  connection = "12h"
}

conflicts {
  policy    = "fail"
  retention = "7d"
}

ddl {
  reverse = "reject"
  deny    = ["DROP DATABASE", "DROP SCHEMA"]
}
