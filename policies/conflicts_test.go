package policies

import (
	"strings"
	"testing"
	"time"
)

func TestConflictsDefaults(t *testing.T) {
	cfg := mustParse(t, "defaults.hcl", baseNodes+`
schema "app" {}
table "public.orders" {}
`)
	if want := (Conflicts{Policy: PolicyFail, Retention: 30 * 24 * time.Hour}); cfg.Conflicts != want {
		t.Errorf("Conflicts = %+v, want %+v", cfg.Conflicts, want)
	}
	if got := cfg.Tables[0].Conflicts; got != PolicyFail {
		t.Errorf("table policy = %q, want the default %q", got, PolicyFail)
	}
	for _, node := range []string{"east", "west", "north", ""} {
		for _, tb := range [][2]string{{"public", "orders"}, {"app", "x"}, {"other", "x"}} {
			if got := cfg.PolicyOn(node, tb[0], tb[1]); got != PolicyFail {
				t.Errorf("PolicyOn(%q, %q, %q) = %q, want %q", node, tb[0], tb[1], got, PolicyFail)
			}
		}
	}

	// An empty pair-level block is the defaults too.
	cfg = mustParse(t, "empty.hcl", baseNodes+"conflicts {}\ntable \"public.orders\" {\n  conflicts {}\n}\n")
	if cfg.Conflicts != (Conflicts{Policy: DefaultConflictPolicy, Retention: DefaultConflictRetention}) || cfg.Tables[0].Conflicts != DefaultConflictPolicy {
		t.Errorf("empty conflicts blocks: %+v, table %q", cfg.Conflicts, cfg.Tables[0].Conflicts)
	}
}

func TestConflictsValues(t *testing.T) {
	for _, pair := range []string{PolicyFail, PolicyIgnore, PolicyOverwrite} {
		for _, table := range []string{PolicyFail, PolicyIgnore, PolicyOverwrite} {
			cfg := mustParse(t, "values.hcl", baseNodes+`
table "public.a" {
  conflicts {
    policy = "`+table+`"
  }
}
table "public.b" {}
conflicts {
  policy = "`+pair+`"
}
`)
			if cfg.Conflicts.Policy != pair || cfg.Tables[0].Conflicts != table || cfg.Tables[1].Conflicts != pair {
				t.Errorf("pair %q, table %q: got pair %q, tables %q and %q", pair, table,
					cfg.Conflicts.Policy, cfg.Tables[0].Conflicts, cfg.Tables[1].Conflicts)
			}
		}
	}
	for in, want := range map[string]time.Duration{
		"720h":  720 * time.Hour,
		"30d":   720 * time.Hour,
		"2d12h": 60 * time.Hour,
		"1h30m": 90 * time.Minute,
		"1s":    time.Second,
	} {
		cfg := mustParse(t, "retention.hcl", baseNodes+`conflicts { retention = "`+in+`" }`)
		if cfg.Conflicts.Retention != want || cfg.Conflicts.Policy != DefaultConflictPolicy {
			t.Errorf("retention %q: got %+v, want retention %s", in, cfg.Conflicts, want)
		}
	}
}

func TestConflictsErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"table retention", "table \"public.a\" {\n  conflicts { retention = \"1h\" }\n}",
			`test.hcl:2:15: error: Misplaced argument: retention is set per pair`},
		{"table retention with a pair block", "conflicts { retention = \"1h\" }\ntable \"public.a\" {\n  conflicts {\n    retention = \"1h\"\n  }\n}",
			`test.hcl:4:5: error: Misplaced argument: retention is set per pair`},
		{"unknown policy", "table \"public.a\" {\n  conflicts { policy = \"newest\" }\n}",
			`error: Invalid value: The conflict policy "newest" does not exist`},
		{"retention not a duration", `conflicts { retention = "a month" }`,
			`error: Invalid duration: conflicts.retention: "a month" is not a duration`},
		{"retention zero", `conflicts { retention = "0s" }`,
			`error: Invalid duration: conflicts.retention is "0s"; how long rows stay in pgduet.conflicts must be greater than zero (the default is 720h0m0s).`},
		{"retention negative", `conflicts { retention = "-1h" }`, `conflicts.retention is "-1h"`},
		{"retention without a unit", `conflicts { retention = 720 }`, `error: Invalid duration: conflicts.retention: "720" is not a duration`},
		{"retention not a string", `conflicts { retention = ["720h"] }`, `error: Incorrect attribute value type`},
		{"duplicate table block", "table \"public.a\" {\n  conflicts {}\n  conflicts {}\n}",
			`test.hcl:3:3: error: Duplicate conflicts block: The table "public.a" block already has a conflicts block at test.hcl:2:3`},
		{"unknown attribute", "table \"public.a\" {\n  conflicts { polcy = \"fail\" }\n}", `Unsupported argument`},
	} {
		// Put the snippet first so that the positions above hold.
		out := parseErrors(t, tc.src+"\n"+baseNodes)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: output does not contain %q:\n%s", tc.name, tc.want, out)
		}
		if n := countLines(out); n != 1 {
			t.Errorf("%s: want 1 diagnostic, got %d:\n%s", tc.name, n, out)
		}
	}
}

// conflictsSel maps names (like mappingSel) and sets policies at both
// levels; the pair-level block comes last, so the tables' effective
// policies are settled after every block is read.
const conflictsSel = `
schema "app" {
  target  = "app_copy"
  exclude = ["tmp_*"]
}

schema "east_data" {
  target = "west_data"
}

schema "west_data" {
  target = "east_data"
}

table "app.orders" {
  target = "sales.orders2"
  conflicts {
    policy = "overwrite"
  }
}

table "app.customers" {
  conflicts {
    policy = "fail"
  }
}

table "app.tmp_keep" {
  conflicts { policy = "overwrite" }
}

table "legacy.items" {
  target = "stock.\"Items\""
}

table "inventory.parts" {
  conflicts {}
}

table "east_data.t" {
  conflicts { policy = "fail" }
}

conflicts {
  policy    = "ignore"
  retention = "7d"
}
`

func TestConflictsEffectiveValues(t *testing.T) {
	cfg := mustParse(t, "conflicts.hcl", baseNodes+conflictsSel)
	if want := (Conflicts{Policy: PolicyIgnore, Retention: 7 * 24 * time.Hour}); cfg.Conflicts != want {
		t.Errorf("Conflicts = %+v, want %+v", cfg.Conflicts, want)
	}
	want := map[[2]string]string{
		{"app", "orders"}:      PolicyOverwrite,
		{"app", "customers"}:   PolicyFail,
		{"app", "tmp_keep"}:    PolicyOverwrite,
		{"legacy", "items"}:    PolicyIgnore, // no conflicts block: the pair's
		{"inventory", "parts"}: PolicyIgnore, // empty conflicts block: the pair's
		{"east_data", "t"}:     PolicyFail,
	}
	if len(cfg.Tables) != len(want) {
		t.Fatalf("%d tables, want %d", len(cfg.Tables), len(want))
	}
	for _, tb := range cfg.Tables {
		if got, w := tb.Conflicts, want[[2]string{tb.Schema, tb.Name}]; got != w {
			t.Errorf("table %s.%s: Conflicts = %q, want %q", tb.Schema, tb.Name, got, w)
		}
	}
}

func TestPolicyOn(t *testing.T) {
	cfg := mustParse(t, "conflicts.hcl", baseNodes+conflictsSel)
	for _, tc := range []struct{ node, s, t, want string }{
		{"east", "app", "orders", PolicyOverwrite},
		{"east", "app", "customers", PolicyFail},
		{"east", "app", "tmp_keep", PolicyOverwrite}, // excluded by its schema block, selected by its table block
		{"east", "app", "invoices", PolicyIgnore},    // selected by the schema block only
		{"east", "app", "tmp_x", PolicyIgnore},       // not selected
		{"east", "legacy", "items", PolicyIgnore},
		{"east", "inventory", "parts", PolicyIgnore},
		{"east", "east_data", "t", PolicyFail},
		{"east", "west_data", "t", PolicyIgnore},
		{"east", "sales", "orders2", PolicyIgnore}, // a west name
		{"east", "App", "orders", PolicyIgnore},    // names are case-sensitive

		{"west", "sales", "orders2", PolicyOverwrite}, // app.orders under its target
		{"west", "app_copy", "orders", PolicyIgnore},  // app.orders goes to sales.orders2, not here
		{"west", "app", "orders", PolicyIgnore},       // an east name
		{"west", "app_copy", "customers", PolicyFail}, // follows its schema block's target
		{"west", "app_copy", "tmp_keep", PolicyOverwrite},
		{"west", "app_copy", "invoices", PolicyIgnore},
		{"west", "stock", "Items", PolicyIgnore},
		{"west", "west_data", "t", PolicyFail},   // east_data.t
		{"west", "east_data", "t", PolicyIgnore}, // west_data.t: no table block
		{"west", "inventory", "parts", PolicyIgnore},

		{"north", "app", "orders", PolicyIgnore},
		{"", "app", "orders", PolicyIgnore},
	} {
		if got := cfg.PolicyOn(tc.node, tc.s, tc.t); got != tc.want {
			t.Errorf("PolicyOn(%q, %q, %q) = %q, want %q", tc.node, tc.s, tc.t, got, tc.want)
		}
	}

	// Every table block's policy is found under its names on both nodes.
	for _, tb := range cfg.Tables {
		if got := cfg.PolicyOn("east", tb.Schema, tb.Name); got != tb.Conflicts {
			t.Errorf("PolicyOn(east, %s.%s) = %q, want %q", tb.Schema, tb.Name, got, tb.Conflicts)
		}
		if got := cfg.PolicyOn("west", tb.TargetSchema, tb.TargetName); got != tb.Conflicts {
			t.Errorf("PolicyOn(west, %s.%s) = %q, want %q", tb.TargetSchema, tb.TargetName, got, tb.Conflicts)
		}
	}
}

// The roles follow ddl_source: with west as the DDL source, the table
// block names are west's.
func TestPolicyOnFollowsDDLSource(t *testing.T) {
	src := strings.Replace(baseNodes, `ddl_source = "east"`, `ddl_source = "west"`, 1) + `
schema "app" { target = "app_copy" }
table "app.orders" {
  conflicts { policy = "overwrite" }
}
`
	cfg := mustParse(t, "west.hcl", src)
	for _, tc := range []struct{ node, s, t, want string }{
		{"west", "app", "orders", PolicyOverwrite},
		{"east", "app_copy", "orders", PolicyOverwrite},
		{"east", "app", "orders", PolicyFail},
		{"west", "app_copy", "orders", PolicyFail},
	} {
		if got := cfg.PolicyOn(tc.node, tc.s, tc.t); got != tc.want {
			t.Errorf("PolicyOn(%q, %q, %q) = %q, want %q", tc.node, tc.s, tc.t, got, tc.want)
		}
	}
}
