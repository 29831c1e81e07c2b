package policies

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestDDLDefaults(t *testing.T) {
	cfg := mustParse(t, "none.hcl", baseNodes)
	want := DDL{Replicate: true, Reverse: DDLReverseIgnore, Allow: []string{"*"}, Deny: []string{"DROP DATABASE"}}
	if got := cfg.DDL; got.Replicate != want.Replicate || got.Reverse != want.Reverse ||
		!slices.Equal(got.Allow, want.Allow) || !slices.Equal(got.Deny, want.Deny) || got.DeclRange != (hcl.Range{}) {
		t.Errorf("DDL without a ddl block = %+v, want %+v", got, want)
	}
	// An empty block: the same values, and its range.
	cfg = mustParse(t, "empty.hcl", baseNodes+"\nddl {}\n")
	if got := cfg.DDL; !got.Replicate || got.Reverse != DDLReverseIgnore || !slices.Equal(got.Allow, []string{"*"}) ||
		!slices.Equal(got.Deny, []string{"DROP DATABASE"}) || got.DeclRange.Start.Line != countLines(baseNodes)+2 {
		t.Errorf("DDL of an empty ddl block = %+v", got)
	}
	// Only one attribute: the others keep their defaults.
	cfg = mustParse(t, "reverse.hcl", baseNodes+`ddl { reverse = "reject" }`)
	if got := cfg.DDL; !got.Replicate || got.Reverse != DDLReverseReject || !slices.Equal(got.Allow, []string{"*"}) ||
		!slices.Equal(got.Deny, []string{"DROP DATABASE"}) {
		t.Errorf("DDL = %+v", got)
	}
}

func TestDDLValues(t *testing.T) {
	cfg := mustParse(t, "ddl.hcl", baseNodes+`
ddl {
  replicate = false
  reverse   = "reject"
  allow     = ["create  table", " Alter * ", "CREATE MATERIALIZED VIEW", "*"]
  deny      = []
}
`)
	got := cfg.DDL
	if got.Replicate || got.Reverse != DDLReverseReject {
		t.Errorf("replicate, reverse = %v, %q", got.Replicate, got.Reverse)
	}
	if want := []string{"CREATE TABLE", "ALTER *", "CREATE MATERIALIZED VIEW", "*"}; !slices.Equal(got.Allow, want) {
		t.Errorf("Allow = %q, want %q (upper case, single spaces)", got.Allow, want)
	}
	if got.Deny == nil || len(got.Deny) != 0 {
		t.Errorf("Deny = %#v, want an empty list (deny = [] denies nothing)", got.Deny)
	}
	if got.DeclRange.Filename != "ddl.hcl" || got.DeclRange.Start.Line != countLines(baseNodes)+2 {
		t.Errorf("DeclRange = %v", got.DeclRange)
	}
}

func TestDDLErrors(t *testing.T) {
	out := parseErrors(t, baseNodes+`
ddl {
  reverse = "Ignore"
  allow   = ["CREATE TABLE", "DROP-TABLE"]
}
ddl {}
`)
	n := countLines(baseNodes)
	for _, want := range []string{
		fmt.Sprintf(`test.hcl:%d:13: error: Invalid value: ddl.reverse is "Ignore"; it must be "ignore" or "reject"`, n+3),
		fmt.Sprintf(`test.hcl:%d:30: error: Invalid command tag pattern: The pattern "DROP-TABLE" in ddl.allow holds '-'; a command tag pattern may hold only ASCII letters, spaces and *`, n+4),
		fmt.Sprintf(`test.hcl:%d:1: error: Duplicate ddl block: Only one ddl block is allowed in the whole config; the first one is at test.hcl:%d:1.`, n+6, n+2),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not contain\n%s\n%s", want, out)
		}
	}
	if countLines(out) != 3 {
		t.Errorf("want 3 errors:\n%s", out)
	}
}

const mappingSel = `
schema "app" {
  target  = "app_copy"
  exclude = ["tmp_*"]
}

schema "public" {}

schema "\"Sales\"" {
  target = "\"Sales_EU\""
}

schema "east_data" {
  target = "west_data"
}

schema "west_data" {
  target = "east_data"
}

table "app.orders" {
  target     = "sales.orders2"
  operations = ["insert"]
}

table "app.customers" {}

table "app.tmp_keep" {
  target = "App_Copy.tmp_keep"
}

table "legacy.items" {
  target = "stock.\"Items\""
}

table "inventory.parts" {}
`

func TestMappingEffectiveValues(t *testing.T) {
	cfg := mustParse(t, "map.hcl", baseNodes+mappingSel)
	gotSchemas := map[string]string{}
	for _, s := range cfg.Schemas {
		gotSchemas[s.Name] = s.Target
	}
	wantSchemas := map[string]string{
		"app": "app_copy", "public": "public", "Sales": "Sales_EU", "east_data": "west_data", "west_data": "east_data",
	}
	if !maps.Equal(gotSchemas, wantSchemas) {
		t.Errorf("schema targets = %v, want %v", gotSchemas, wantSchemas)
	}
	if got := cfg.SchemaTargets(); !maps.Equal(got, wantSchemas) {
		t.Errorf("SchemaTargets = %v, want %v", got, wantSchemas)
	}
	wantTables := map[[2]string][2]string{
		{"app", "orders"}:      {"sales", "orders2"},      // given
		{"app", "customers"}:   {"app_copy", "customers"}, // its schema block's target
		{"app", "tmp_keep"}:    {"app_copy", "tmp_keep"},  // given, unquoted: folded
		{"legacy", "items"}:    {"stock", "Items"},        // given, quoted part kept
		{"inventory", "parts"}: {"inventory", "parts"},    // no schema block: itself
	}
	gotTables := map[[2]string][2]string{}
	for _, tb := range cfg.Tables {
		gotTables[[2]string{tb.Schema, tb.Name}] = [2]string{tb.TargetSchema, tb.TargetName}
	}
	if !maps.Equal(gotTables, wantTables) {
		t.Errorf("table targets = %v, want %v", gotTables, wantTables)
	}
	if got := cfg.TableTargets(); !maps.Equal(got, wantTables) {
		t.Errorf("TableTargets = %v, want %v", got, wantTables)
	}
	// Fresh maps: changing one does not change the config.
	cfg.SchemaTargets()["app"] = "x"
	cfg.TableTargets()[[2]string{"app", "orders"}] = [2]string{"x", "y"}
	if cfg.MapSchema("east", "app") != "app_copy" {
		t.Error("SchemaTargets shares its map with the config")
	}
	if s, tb := cfg.MapTable("east", "app", "orders"); s != "sales" || tb != "orders2" {
		t.Error("TableTargets shares its map with the config")
	}
}

func TestMapSchemaAndTable(t *testing.T) {
	cfg := mustParse(t, "map.hcl", baseNodes+mappingSel)
	for _, tc := range []struct{ from, in, want string }{
		{"east", "app", "app_copy"},
		{"east", "public", "public"},
		{"east", "Sales", "Sales_EU"},
		{"east", "sales", "sales"}, // case-sensitive: no block for sales
		{"east", "east_data", "west_data"},
		{"east", "west_data", "east_data"},
		{"east", "other", "other"},
		{"east", "app_copy", "app_copy"}, // a target name is not a source name
		{"west", "app_copy", "app"},
		{"west", "Sales_EU", "Sales"},
		{"west", "west_data", "east_data"},
		{"west", "east_data", "west_data"},
		{"west", "public", "public"},
		{"west", "app", "app"}, // no block maps onto app: unmapped
		{"north", "app", "app"},
		{"", "app", "app"},
	} {
		if got := cfg.MapSchema(tc.from, tc.in); got != tc.want {
			t.Errorf("MapSchema(%q, %q) = %q, want %q", tc.from, tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ from, s, t, ws, wt string }{
		{"east", "app", "orders", "sales", "orders2"},
		{"east", "app", "customers", "app_copy", "customers"},
		{"east", "app", "anything", "app_copy", "anything"},
		{"east", "app", "tmp_x", "app_copy", "tmp_x"}, // excluded, still named by its schema's mapping
		{"east", "legacy", "items", "stock", "Items"},
		{"east", "legacy", "other", "legacy", "other"},
		{"east", "inventory", "parts", "inventory", "parts"},
		{"east", "east_data", "t", "west_data", "t"},
		{"west", "sales", "orders2", "app", "orders"},
		{"west", "app_copy", "customers", "app", "customers"},
		{"west", "app_copy", "anything", "app", "anything"},
		{"west", "stock", "Items", "legacy", "items"},
		{"west", "stock", "items", "stock", "items"},
		{"west", "west_data", "t", "east_data", "t"},
		{"west", "inventory", "parts", "inventory", "parts"},
		// Not the image of a selected table: only the inverse name mapping
		// (SelectedOn says it is not selected).
		{"west", "app_copy", "orders", "app", "orders"},
		{"north", "app", "orders", "app", "orders"},
	} {
		if gs, gt := cfg.MapTable(tc.from, tc.s, tc.t); gs != tc.ws || gt != tc.wt {
			t.Errorf("MapTable(%q, %q, %q) = %q, %q; want %q, %q", tc.from, tc.s, tc.t, gs, gt, tc.ws, tc.wt)
		}
	}
}

func TestSelectedOn(t *testing.T) {
	cfg := mustParse(t, "map.hcl", baseNodes+mappingSel)
	dml := []Op{OpInsert, OpUpdate, OpDelete}
	for _, tc := range []struct {
		node, s, t string
		ok         bool
		ops        []Op
	}{
		{"east", "app", "orders", true, []Op{OpInsert}},
		{"east", "app", "tmp_x", false, nil},
		{"east", "app_copy", "customers", false, nil},
		{"west", "sales", "orders2", true, []Op{OpInsert}},
		{"west", "app_copy", "customers", true, dml},
		{"west", "app_copy", "anything", true, dml},
		{"west", "app_copy", "tmp_keep", true, dml},
		{"west", "app_copy", "tmp_x", false, nil},  // excluded at the source
		{"west", "app_copy", "orders", false, nil}, // app.orders goes to sales.orders2
		{"west", "app", "orders", false, nil},      // app.orders is not replicated to app.orders
		{"west", "app", "customers", false, nil},
		{"west", "stock", "Items", true, dml},
		{"west", "legacy", "items", false, nil},
		{"west", "Sales_EU", "x", true, dml},
		{"west", "Sales", "x", false, nil},
		{"west", "public", "x", true, dml},
		{"west", "inventory", "parts", true, dml},
		{"west", "east_data", "t", true, dml}, // from west_data
		{"west", "west_data", "t", true, dml}, // from east_data
		{"west", "other", "t", false, nil},
		{"north", "public", "x", false, nil},
	} {
		ops, ok := cfg.SelectedOn(tc.node, tc.s, tc.t)
		if ok != tc.ok || !slices.Equal(ops, tc.ops) {
			t.Errorf("SelectedOn(%q, %q, %q) = %v, %v; want %v, %v", tc.node, tc.s, tc.t, ops, ok, tc.ops, tc.ok)
		}
	}

	for _, tc := range []struct {
		node, s string
		want    bool
	}{
		{"east", "app", true}, {"east", "legacy", true}, {"east", "inventory", true}, {"east", "Sales", true},
		{"east", "app_copy", false}, {"east", "stock", false}, {"east", "sales", false},
		{"west", "app_copy", true}, {"west", "stock", true}, {"west", "sales", true}, {"west", "inventory", true},
		{"west", "Sales_EU", true}, {"west", "app", false}, {"west", "legacy", false}, {"west", "Sales", false},
		{"north", "app", false},
	} {
		if got := cfg.SchemaSelectedOn(tc.node, tc.s); got != tc.want {
			t.Errorf("SchemaSelectedOn(%q, %q) = %v, want %v", tc.node, tc.s, got, tc.want)
		}
	}

	if got, want := cfg.PublicationSchemasOn("east"), cfg.PublicationSchemas(); !slices.Equal(got, want) {
		t.Errorf("PublicationSchemasOn(east) = %q, want %q", got, want)
	}
	if got, want := cfg.PublicationTablesOn("east"), cfg.PublicationTables(); !slices.Equal(got, want) {
		t.Errorf("PublicationTablesOn(east) = %q, want %q", got, want)
	}
	if got, want := cfg.PublicationSchemasOn("west"), []string{"Sales_EU", "app_copy", "east_data", "public", "west_data"}; !slices.Equal(got, want) {
		t.Errorf("PublicationSchemasOn(west) = %q, want %q", got, want)
	}
	// app_copy.customers and app_copy.tmp_keep are covered by schema app_copy.
	if got, want := cfg.PublicationTablesOn("west"), [][2]string{{"inventory", "parts"}, {"sales", "orders2"}, {"stock", "Items"}}; !slices.Equal(got, want) {
		t.Errorf("PublicationTablesOn(west) = %q, want %q", got, want)
	}
	if got, want := cfg.PublicationTables(), [][2]string{{"inventory", "parts"}, {"legacy", "items"}}; !slices.Equal(got, want) {
		t.Errorf("PublicationTables = %q, want %q", got, want)
	}
	if cfg.PublicationSchemasOn("north") != nil || cfg.PublicationTablesOn("north") != nil {
		t.Error("an unknown node has a publication")
	}
}

// The ddl_source may be the second node: roles follow ddl_source, not order.
func TestMappingFollowsDDLSource(t *testing.T) {
	src := strings.Replace(baseNodes, `ddl_source = "east"`, `ddl_source = "west"`, 1) + `
schema "app" { target = "app_copy" }
`
	cfg := mustParse(t, "west.hcl", src)
	if got := cfg.MapSchema("west", "app"); got != "app_copy" {
		t.Errorf("MapSchema(west, app) = %q", got)
	}
	if got := cfg.MapSchema("east", "app_copy"); got != "app" {
		t.Errorf("MapSchema(east, app_copy) = %q", got)
	}
	if _, ok := cfg.SelectedOn("east", "app_copy", "t"); !ok {
		t.Error("SelectedOn(east, app_copy, t) = false")
	}
	if _, ok := cfg.SelectedOn("east", "app", "t"); ok {
		t.Error("SelectedOn(east, app, t) = true")
	}
}

// TestMappingCollisions checks the collision rules exhaustively on random
// configs over a small universe (schemas a-d, tables x and y): a config is
// valid exactly when no two schema blocks share a target schema and the
// forward mapping is one-to-one on every table of a schema with a schema
// block and every table of a table block; on a valid config, MapTable both
// ways and SelectedOn for the other node agree with the forward mapping.
func TestMappingCollisions(t *testing.T) {
	schemas := []string{"a", "b", "c", "d"}
	names := []string{"x", "y"}
	rng := rand.New(rand.NewSource(1))
	type schemaBlock struct {
		target   string // "" = none
		onlyX    bool   // tables = ["x"]
		excludeY bool
	}
	type tableBlock struct{ target [2]string } // zero = none
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	var valid, invalid int
	for it := 0; it < iterations; it++ {
		sb := map[string]schemaBlock{}
		tb := map[[2]string]tableBlock{}
		var b strings.Builder
		for _, s := range schemas {
			if rng.Intn(2) == 0 {
				continue
			}
			blk := schemaBlock{onlyX: rng.Intn(4) == 0, excludeY: rng.Intn(4) == 0}
			if rng.Intn(2) == 0 {
				blk.target = schemas[rng.Intn(len(schemas))]
			}
			sb[s] = blk
			fmt.Fprintf(&b, "schema %q {\n", s)
			if blk.target != "" {
				fmt.Fprintf(&b, "  target = %q\n", blk.target)
			}
			if blk.onlyX {
				b.WriteString("  tables = [\"x\"]\n")
			}
			if blk.excludeY {
				b.WriteString("  exclude = [\"y\"]\n")
			}
			b.WriteString("}\n")
		}
		for _, s := range schemas {
			for _, n := range names {
				if rng.Intn(10) >= 3 {
					continue
				}
				blk := tableBlock{}
				if rng.Intn(2) == 0 {
					blk.target = [2]string{schemas[rng.Intn(len(schemas))], names[rng.Intn(len(names))]}
				}
				tb[[2]string{s, n}] = blk
				fmt.Fprintf(&b, "table %q {\n", s+"."+n)
				if blk.target != [2]string{} {
					fmt.Fprintf(&b, "  target = %q\n", blk.target[0]+"."+blk.target[1])
				}
				b.WriteString("}\n")
			}
		}

		schemaTarget := func(s string) string {
			if blk, ok := sb[s]; ok && blk.target != "" {
				return blk.target
			}
			return s
		}
		forward := func(p [2]string) [2]string {
			if blk, ok := tb[p]; ok && blk.target != [2]string{} {
				return blk.target
			}
			return [2]string{schemaTarget(p[0]), p[1]}
		}
		selected := func(p [2]string) bool {
			if _, ok := tb[p]; ok {
				return true
			}
			blk, ok := sb[p[0]]
			return ok && (!blk.onlyX || p[1] == "x") && !(blk.excludeY && p[1] == "y")
		}
		// A table block that renames a table within its own mapped schema
		// shadows the schema's table of the new name (allowed: such a table
		// must not exist, which the DBA owns, as with any rename).
		shadowed := map[[2]string]bool{}
		for p, blk := range tb {
			if blk.target != [2]string{} && hasKey(sb, p[0]) && schemaTarget(p[0]) == blk.target[0] {
				shadowed[[2]string{p[0], blk.target[1]}] = true
			}
		}
		// The domain the mapping must be one-to-one on.
		var domain [][2]string
		for _, s := range schemas {
			for _, n := range names {
				p := [2]string{s, n}
				if hasKey(tb, p) || hasKey(sb, s) && !shadowed[p] {
					domain = append(domain, p)
				}
			}
		}
		wantValid := true
		seenSchema := map[string]bool{}
		for _, s := range schemas {
			if _, ok := sb[s]; ok {
				if seenSchema[schemaTarget(s)] {
					wantValid = false
				}
				seenSchema[schemaTarget(s)] = true
			}
		}
		image := map[[2]string][2]string{}
		for _, p := range domain {
			q := forward(p)
			if _, dup := image[q]; dup {
				wantValid = false
			}
			image[q] = p
		}

		src := b.String()
		cfg, diags := Parse("rand.hcl", []byte(baseNodes+src))
		for _, d := range diags {
			if d.Summary != "Colliding name mapping" {
				t.Fatalf("unexpected diagnostic %s\n%s", FormatDiagnostics(hcl.Diagnostics{d}), src)
			}
		}
		if (cfg != nil) != wantValid {
			t.Fatalf("valid = %v, want %v\n%s\n%s", cfg != nil, wantValid, FormatDiagnostics(diags), src)
		}
		if cfg == nil {
			invalid++
			continue
		}
		valid++
		for _, p := range domain {
			q := forward(p)
			if s, n := cfg.MapTable("east", p[0], p[1]); [2]string{s, n} != q {
				t.Fatalf("MapTable(east, %v) = %v, want %v\n%s", p, [2]string{s, n}, q, src)
			}
			if s, n := cfg.MapTable("west", q[0], q[1]); [2]string{s, n} != p {
				t.Fatalf("MapTable(west, %v) = %v, want %v\n%s", q, [2]string{s, n}, p, src)
			}
		}
		for _, s := range schemas {
			for _, n := range names {
				q := [2]string{s, n}
				p, isImage := image[q]
				wantOK := isImage && selected(p)
				if _, ok := cfg.SelectedOn("west", s, n); ok != wantOK {
					t.Fatalf("SelectedOn(west, %v) = %v, want %v\n%s", q, ok, wantOK, src)
				}
				if _, ok := cfg.SelectedOn("east", s, n); ok != selected(q) {
					t.Fatalf("SelectedOn(east, %v) = %v, want %v\n%s", q, ok, selected(q), src)
				}
			}
		}
	}
	if valid < iterations/10 || invalid < iterations/10 {
		t.Errorf("unbalanced sample: %d valid, %d invalid configs", valid, invalid)
	}
}

func hasKey[K comparable, V any](m map[K]V, k K) bool { _, ok := m[k]; return ok }
