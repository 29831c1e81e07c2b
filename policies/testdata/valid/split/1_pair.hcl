pair "shop" {
  ddl_source = "east"
}

retry {
  connection = "12h"
}

conflicts {
  policy = "fail"
}
