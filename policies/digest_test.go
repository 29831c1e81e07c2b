package policies

import (
	"strings"
	"testing"
)

// digestConfig renders a config whose parts the digest tests vary.
type digestConfig struct {
	pair, eastURL, eastPassword, eastSSLPassword, eastRootCert, westAddress string
	selection, retry                                                        string
}

func (c digestConfig) src() string {
	return `
pair "` + c.pair + `" {
  ddl_source = "east"
}

node "east" {
  database {
    url         = "` + c.eastURL + `"
    password    = "` + c.eastPassword + `"
    sslpassword = "` + c.eastSSLPassword + `"
    sslrootcert = "` + c.eastRootCert + `"
  }
  agent {
    listen   = "0.0.0.0:7420"
    address  = "east:7420"
    insecure = true
  }
}

node "west" {
  database {
    url = "postgres://pgduet@west:5432/shop"
  }
  agent {
    listen   = "0.0.0.0:7420"
    address  = "` + c.westAddress + `"
    insecure = true
  }
}
` + c.retry + c.selection
}

func TestDigest(t *testing.T) {
	base := digestConfig{
		pair:            "shop",
		eastURL:         "postgres://pgduet:urlsecret@east:5432/shop?sslmode=require",
		eastPassword:    "secret",
		eastSSLPassword: "keysecret",
		eastRootCert:    "/etc/pgduet/ca.pem",
		westAddress:     "west:7420",
		selection: `
schema "public" {
  exclude = ["tmp_*", "log_*"]
}
table "sales.orders" {
  operations = ["insert", "update"]
  conflicts { policy = "overwrite" }
}
table "sales.items" {}
`,
	}
	baseDigest := mustParse(t, "base.hcl", base.src()).Digest()

	same := map[string]func(c *digestConfig){
		"password":        func(c *digestConfig) { c.eastPassword = "other" },
		"sslpassword":     func(c *digestConfig) { c.eastSSLPassword = "other" },
		"password in url": func(c *digestConfig) { c.eastURL = strings.Replace(c.eastURL, "urlsecret", "other", 1) },
		"no password in url": func(c *digestConfig) {
			c.eastURL = "postgres://pgduet@east:5432/shop?sslmode=require"
		},
		"url as key=value": func(c *digestConfig) {
			c.eastURL = "host=east port=5432 dbname=shop user=pgduet password=x sslmode=require"
		},
		"local cert path": func(c *digestConfig) { c.eastRootCert = "certs/ca.pem" },
		"block order": func(c *digestConfig) {
			c.selection = `
table "sales.items" {}
table "sales.orders" {
  conflicts {
    policy = "overwrite"
  }
  operations = ["update", "insert"]
}
schema "public" {
  tables  = ["*"]
  exclude = ["log_*", "tmp_*"]
}
`
		},
		"defaults written out": func(c *digestConfig) {
			c.retry = `
retry {
  connection = "12h"
  other      = "600s"
}
conflicts {
  policy    = "fail"
  retention = "720h"
}
`
		},
		"retention in days": func(c *digestConfig) { c.retry = `conflicts { retention = "30d" }` },
		"table policy equal to the pair's written out": func(c *digestConfig) {
			c.selection = strings.Replace(c.selection, `table "sales.items" {}`, "table \"sales.items\" {\n  conflicts { policy = \"fail\" }\n}", 1)
		},
		"empty table conflicts block": func(c *digestConfig) {
			c.selection = strings.Replace(c.selection, `table "sales.items" {}`, "table \"sales.items\" {\n  conflicts {}\n}", 1)
		},
	}
	different := map[string]func(c *digestConfig){
		"table added":     func(c *digestConfig) { c.selection += `table "sales.refunds" {}` },
		"table removed":   func(c *digestConfig) { c.selection = strings.Replace(c.selection, `table "sales.items" {}`, "", 1) },
		"exclude changed": func(c *digestConfig) { c.selection = strings.Replace(c.selection, "log_*", "logs_*", 1) },
		"operations":      func(c *digestConfig) { c.selection = strings.Replace(c.selection, `"insert", "update"`, `"insert"`, 1) },
		"retry":           func(c *digestConfig) { c.retry = `retry { other = "11m" }` },
		"pair name":       func(c *digestConfig) { c.pair = "shop2" },
		"peer address":    func(c *digestConfig) { c.westAddress = "west2:7420" },
		"sslmode in url":  func(c *digestConfig) { c.eastURL = strings.Replace(c.eastURL, "require", "verify-full", 1) },
		"database host":   func(c *digestConfig) { c.eastURL = strings.Replace(c.eastURL, "@east:", "@east2:", 1) },
		"pair policy":     func(c *digestConfig) { c.retry = `conflicts { policy = "ignore" }` },
		"retention":       func(c *digestConfig) { c.retry = `conflicts { retention = "721h" }` },
		"table policy": func(c *digestConfig) {
			c.selection = strings.Replace(c.selection, `policy = "overwrite"`, `policy = "ignore"`, 1)
		},
		"table policy removed": func(c *digestConfig) {
			c.selection = strings.Replace(c.selection, `  conflicts { policy = "overwrite" }`+"\n", "", 1)
		},
		"table policy added": func(c *digestConfig) {
			c.selection = strings.Replace(c.selection, `table "sales.items" {}`, "table \"sales.items\" {\n  conflicts { policy = \"ignore\" }\n}", 1)
		},
	}
	for name, change := range same {
		c := base
		change(&c)
		if got := mustParse(t, name+".hcl", c.src()).Digest(); got != baseDigest {
			t.Errorf("%s: digest changed (%s -> %s)", name, baseDigest, got)
		}
	}
	for name, change := range different {
		c := base
		change(&c)
		if c == base {
			t.Fatalf("%s: the change did not apply", name)
		}
		if got := mustParse(t, name+".hcl", c.src()).Digest(); got == baseDigest {
			t.Errorf("%s: digest did not change", name)
		}
	}
}

func TestDigestHasNoSecrets(t *testing.T) {
	c := digestConfig{
		pair: "shop", eastURL: "postgres://pgduet:urlsecret@east/shop?sslpassword=qsecret",
		eastPassword: "pwsecret", eastSSLPassword: "keysecret", eastRootCert: "/ca.pem", westAddress: "west:1",
	}
	canon := mustParse(t, "s.hcl", c.src()).canonical()
	for _, secret := range []string{"urlsecret", "qsecret", "pwsecret", "keysecret", "password"} {
		if strings.Contains(canon, secret) {
			t.Errorf("canonical form contains %q:\n%s", secret, canon)
		}
	}
}

// The effective ddl settings and the name mapping are part of the digest:
// two agents with different DDL rules or targets refuse each other.
func TestDigestDDLAndTargets(t *testing.T) {
	const base = `
ddl {
  allow = ["CREATE TABLE", "ALTER *"]
}
schema "app" {
  target = "app_copy"
}
table "app.orders" {
  target = "sales.orders"
}
table "legacy.items" {}
`
	baseDigest := mustParse(t, "base.hcl", baseNodes+base).Digest()
	same := map[string]string{
		"ddl defaults written out": `
ddl {
  replicate = true
  reverse   = "ignore"
  allow     = ["ALTER *", "CREATE TABLE"]
  deny      = ["DROP DATABASE"]
}
schema "app" {
  target = "app_copy"
}
table "app.orders" {
  target = "sales.orders"
}
table "legacy.items" {
  target = "legacy.items"
}
`,
		"tag case and spacing":           strings.Replace(base, `"CREATE TABLE", "ALTER *"`, `"create   table", "Alter *", "ALTER *"`, 1),
		"quoted target spelled the same": strings.Replace(base, `"app_copy"`, `"\"app_copy\""`, 1),
		"table target written as its default": strings.Replace(base, `table "legacy.items" {}`,
			"table \"legacy.items\" {\n  target = \"legacy.items\"\n}", 1),
	}
	different := map[string]string{
		"ddl replicate":    strings.Replace(base, "ddl {", "ddl {\n  replicate = false", 1),
		"ddl reverse":      strings.Replace(base, "ddl {", "ddl {\n  reverse = \"reject\"", 1),
		"ddl allow":        strings.Replace(base, `"ALTER *"`, `"ALTER TABLE"`, 1),
		"ddl deny":         strings.Replace(base, "ddl {", "ddl {\n  deny = [\"DROP *\"]", 1),
		"ddl deny empty":   strings.Replace(base, "ddl {", "ddl {\n  deny = []", 1),
		"ddl block gone":   strings.Replace(base, "ddl {\n  allow = [\"CREATE TABLE\", \"ALTER *\"]\n}", "", 1),
		"schema target":    strings.Replace(base, `"app_copy"`, `"app_copy2"`, 1),
		"target case":      strings.Replace(base, `"app_copy"`, `"\"App_copy\""`, 1),
		"table target":     strings.Replace(base, `"sales.orders"`, `"sales.orders2"`, 1),
		"no table target":  strings.Replace(base, `target = "sales.orders"`, "", 1),
		"no schema target": strings.Replace(base, `target = "app_copy"`, "", 1),
	}
	for name, sel := range same {
		if got := mustParse(t, name+".hcl", baseNodes+sel).Digest(); got != baseDigest {
			t.Errorf("%s: digest changed (%s -> %s)", name, baseDigest, got)
		}
	}
	for name, sel := range different {
		if sel == base {
			t.Fatalf("%s: the change did not apply", name)
		}
		if got := mustParse(t, name+".hcl", baseNodes+sel).Digest(); got == baseDigest {
			t.Errorf("%s: digest did not change", name)
		}
	}
}

// Column subsets and renames are part of the digest; their order and
// spelling are not, nor a column block that keeps a column's name.
func TestDigestColumns(t *testing.T) {
	const base = `
table "public.orders" {
  columns = ["id", "total", "\"Status\""]
  column "total" {
    target = "amount"
  }
}
table "public.customers" {
  column "email" {
    target = "mail"
  }
  column "name" {
    target = "full_name"
  }
}
table "public.items" {}
`
	baseDigest := mustParse(t, "base.hcl", baseNodes+base).Digest()
	same := map[string]string{
		"columns order":   strings.Replace(base, `["id", "total", "\"Status\""]`, `["\"Status\"", "total", "id"]`, 1),
		"columns quoting": strings.Replace(base, `["id", "total",`, `["ID", "\"total\"",`, 1),
		"column block order": strings.Replace(base, "  column \"email\" {\n    target = \"mail\"\n  }\n  column \"name\" {\n    target = \"full_name\"\n  }",
			"  column \"name\" {\n    target = \"full_name\"\n  }\n  column \"email\" {\n    target = \"mail\"\n  }", 1),
		"rename spelling": strings.Replace(base, `target = "amount"`, `target = "\"amount\""`, 1),
		"rename to the same name": strings.Replace(base, `table "public.items" {}`,
			"table \"public.items\" {\n  column \"sku\" {\n    target = \"sku\"\n  }\n}", 1),
		"rename to the same name in a subset": strings.Replace(base, `  column "total" {`, "  column \"id\" {\n    target = \"id\"\n  }\n  column \"total\" {", 1),
	}
	different := map[string]string{
		"column added":       strings.Replace(base, `"id", "total"`, `"id", "total", "note"`, 1),
		"column removed":     strings.Replace(base, `"id", "total"`, `"total"`, 1),
		"column case":        strings.Replace(base, `"\"Status\""`, `"status"`, 1),
		"subset removed":     strings.Replace(base, `  columns = ["id", "total", "\"Status\""]`+"\n", "", 1),
		"subset added":       strings.Replace(base, `table "public.items" {}`, "table \"public.items\" {\n  columns = [\"sku\"]\n}", 1),
		"rename target":      strings.Replace(base, `target = "amount"`, `target = "amount2"`, 1),
		"rename target case": strings.Replace(base, `target = "mail"`, `target = "\"Mail\""`, 1),
		"rename removed":     strings.Replace(base, "  column \"email\" {\n    target = \"mail\"\n  }\n", "", 1),
		"rename added": strings.Replace(base, `table "public.items" {}`,
			"table \"public.items\" {\n  column \"sku\" {\n    target = \"code\"\n  }\n}", 1),
		"renames swapped": strings.Replace(strings.Replace(base, `"mail"`, `"tmp"`, 1), `"full_name"`, `"mail"`, 1),
	}
	for name, sel := range same {
		if sel == base {
			t.Fatalf("%s: the change did not apply", name)
		}
		if got := mustParse(t, name+".hcl", baseNodes+sel).Digest(); got != baseDigest {
			t.Errorf("%s: digest changed (%s -> %s)", name, baseDigest, got)
		}
	}
	for name, sel := range different {
		if sel == base {
			t.Fatalf("%s: the change did not apply", name)
		}
		if got := mustParse(t, name+".hcl", baseNodes+sel).Digest(); got == baseDigest {
			t.Errorf("%s: digest did not change", name)
		}
	}
	if canon := mustParse(t, "base.hcl", baseNodes+base).canonical(); !strings.HasPrefix(canon, "pgduet-config v6\n") {
		t.Errorf("canonical form does not start with its version line:\n%s", canon)
	}
}

// The effective sync settings and both throttles are part of the digest
// (both agents must agree on them); the alert block is not, and no part of
// the webhook appears in the canonical form.
func TestDigestSyncThrottleAlert(t *testing.T) {
	const base = `
sync {
  existing_tables = "ignore"
  parallelism     = 8
}
throttle "initial" {
  rows_per_second = 1000
  mb_per_second   = 2.5
}
table "public.items" {}
`
	baseDigest := mustParse(t, "base.hcl", baseNodes+base).Digest()
	alert := "alert {\n  webhook = \"https://alerts.example/hook?token=digest-s3cret\"\n  lag_threshold = \"5m\"\n}\n"
	same := map[string]string{
		"defaults written out": `
sync {
  schema          = true
  data            = true
  existing_tables = "ignore"
  parallelism     = 8.0
}
throttle "incremental" {
  rows_per_second = 0
  mb_per_second   = 0
}
throttle "initial" {
  rows_per_second    = 1e3
  mb_per_second      = 2.50
  queries_per_second = 0
}
table "public.items" {}
`,
		"alert added":        base + alert,
		"alert changed":      base + strings.Replace(strings.Replace(alert, "digest-s3cret", "other", 1), "5m", "1m", 1),
		"negative zero rate": strings.Replace(base, "throttle \"initial\" {", "throttle \"initial\" {\n  queries_per_second = -0", 1),
		"throttle order":     "throttle \"incremental\" {}\n" + base,
	}
	different := map[string]string{
		"sync schema":          strings.Replace(base, "sync {", "sync {\n  schema = false", 1),
		"sync data":            strings.Replace(base, "sync {", "sync {\n  data = false", 1),
		"sync existing_tables": strings.Replace(base, `"ignore"`, `"error"`, 1),
		"sync parallelism":     strings.Replace(base, "= 8", "= 9", 1),
		"sync block gone":      strings.Replace(base, "sync {\n  existing_tables = \"ignore\"\n  parallelism     = 8\n}\n", "", 1),
		"initial rows":         strings.Replace(base, "1000", "1001", 1),
		"initial mb":           strings.Replace(base, "2.5", "2.25", 1),
		"initial queries":      strings.Replace(base, "throttle \"initial\" {", "throttle \"initial\" {\n  queries_per_second = 10", 1),
		"initial gone":         strings.Replace(base, "throttle \"initial\" {\n  rows_per_second = 1000\n  mb_per_second   = 2.5\n}\n", "", 1),
		"incremental rows":     base + "throttle \"incremental\" {\n  rows_per_second = 1000\n}\n",
		"incremental mb":       base + "throttle \"incremental\" {\n  mb_per_second = 2.5\n}\n",
		"phase swapped":        strings.Replace(base, "throttle \"initial\"", "throttle \"incremental\"", 1),
	}
	for name, sel := range same {
		if sel == base {
			t.Fatalf("%s: the change did not apply", name)
		}
		if got := mustParse(t, name+".hcl", baseNodes+sel).Digest(); got != baseDigest {
			t.Errorf("%s: digest changed (%s -> %s)", name, baseDigest, got)
		}
	}
	for name, sel := range different {
		if sel == base {
			t.Fatalf("%s: the change did not apply", name)
		}
		if got := mustParse(t, name+".hcl", baseNodes+sel).Digest(); got == baseDigest {
			t.Errorf("%s: digest did not change", name)
		}
	}
	canon := mustParse(t, "alert.hcl", baseNodes+base+alert).canonical()
	for _, s := range []string{"digest-s3cret", "alerts.example", "alert", "webhook", "lag"} {
		if strings.Contains(canon, s) {
			t.Errorf("canonical form contains %q:\n%s", s, canon)
		}
	}
	for _, s := range []string{
		`sync schema=true data=true existing_tables="ignore" parallelism=8`,
		`throttle "initial" rows_per_second=1000 mb_per_second=2.5 queries_per_second=0`,
		`throttle "incremental" rows_per_second=0 mb_per_second=0 queries_per_second=0`,
	} {
		if !strings.Contains(canon, s+"\n") {
			t.Errorf("canonical form lacks %q:\n%s", s, canon)
		}
	}
}
