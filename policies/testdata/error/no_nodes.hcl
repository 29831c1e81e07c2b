pair "shop" { # ERROR: Missing node block
  ddl_source = "east"
}

schema "public" {}
