pair "shop" {
  ddl_source = "east"
}

retry {
  connection = "12h"
}

conflicts {
  policy = "fail"
}

ddl {
  reverse = "reject"
  deny    = ["DROP DATABASE", "DROP SCHEMA"]
}
