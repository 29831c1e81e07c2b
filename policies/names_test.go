package policies

import (
	"maps"
	"strings"
	"testing"
)

func TestNamesFold(t *testing.T) {
	for _, tc := range []struct{ c, in, want string }{
		{NamesSource, `Orders`, `Orders`},
		{NamesLower, `Orders_2024`, `orders_2024`},
		{NamesUpper, `orders_2024`, `ORDERS_2024`},
		{NamesLower, `ÄBC`, `Äbc`}, // beyond ASCII: kept, as PostgreSQL folds identifiers in UTF-8
		{NamesUpper, `straße`, `STRAßE`},
		{NamesLower, `plain`, `plain`},
	} {
		if got := (Names{Case: tc.c}).Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%s, %q) = %q, want %q", tc.c, tc.in, got, tc.want)
		}
	}
	cfg := mustParse(t, "none.hcl", baseNodes)
	if cfg.Names.Case != NamesSource || cfg.Names.Folds() {
		t.Errorf("without a names block: %+v", cfg.Names)
	}
}

// names.case maps every name the config does not spell out: schema and
// table blocks without target, the listed columns without column block, and
// (on the DDL source) the tables of a schema block and their columns. An
// explicit target is taken as written.
func TestNamesMapping(t *testing.T) {
	cfg := mustParse(t, "names.hcl", baseNodes+`
names {
  case = "lower"
}
schema "\"App\"" {
  tables  = ["Ord*", "items"]
  exclude = ["OrdersOld"]
}
schema "\"Kept\"" {
  target = "\"Kept\""
}
table "\"Misc\".\"Keep\"" {
  columns = ["\"Id\"", "\"Total\"", "note"]
  column "\"Total\"" {
    target = "\"Amount\""
  }
}
`)
	if got := cfg.SchemaTargets(); !maps.Equal(got, map[string]string{"App": "app", "Kept": "Kept"}) {
		t.Errorf("SchemaTargets = %v", got)
	}
	if got := cfg.TableTargets(); !maps.Equal(got, map[[2]string][2]string{{"Misc", "Keep"}: {"misc", "keep"}}) {
		t.Errorf("TableTargets = %v", got)
	}
	for _, tc := range []struct{ node, schema, table, ws, wt string }{
		{"east", "App", "Orders", "app", "orders"},
		{"east", "Kept", "Orders", "Kept", "orders"}, // the schema's explicit target; the table still folds
		{"east", "Misc", "Keep", "misc", "keep"},
		{"east", "Other", "T", "Other", "T"}, // not selected: unchanged
		{"west", "app", "orders", "App", "orders"},
		{"west", "misc", "keep", "Misc", "Keep"},
	} {
		if s, n := cfg.MapTable(tc.node, tc.schema, tc.table); s != tc.ws || n != tc.wt {
			t.Errorf("MapTable(%s, %s.%s) = %s.%s, want %s.%s", tc.node, tc.schema, tc.table, s, n, tc.ws, tc.wt)
		}
	}
	// The other node matches the globs folded: it does not know the source's spelling.
	for table, want := range map[string]bool{"orders": true, "ordersold": false, "items": true, "other": false} {
		if _, ok := cfg.SelectedOn("west", "app", table); ok != want {
			t.Errorf("SelectedOn(west, app.%s) = %v, want %v", table, ok, want)
		}
	}

	// A schema block's table: every column folds on the DDL source; the
	// other node sends its own names (the source resolves them).
	m, ok := cfg.ColumnsOn("east", "App", "Orders")
	if !ok || m.Reshapes() {
		t.Fatalf("ColumnsOn(east, App.Orders) = %+v, %v", m, ok)
	}
	for col, want := range map[string]string{"Id": "id", "Total": "total", "note": "note"} {
		if got, ok := m.Map(col); !ok || got != want {
			t.Errorf("Map(%s) = %q, %v; want %q", col, got, ok, want)
		}
	}
	if err := m.Check([]string{"Id", "Total", "total"}); err == nil || !strings.Contains(err.Error(), `columns "Total" and total both become total by names.case`) {
		t.Errorf("Check with a fold collision: %v", err)
	}
	if _, ok := cfg.ColumnsOn("west", "app", "orders"); ok {
		t.Errorf("ColumnsOn(west, app.orders): want every column as it is")
	}

	// A table block's listed columns fold unless renamed.
	m, ok = cfg.ColumnsOn("east", "Misc", "Keep")
	if !ok || !m.Subset || !maps.Equal(m.Names, map[string]string{"Id": "id", "Total": "Amount", "note": "note"}) {
		t.Errorf("ColumnsOn(east, Misc.Keep) = %+v, %v", m, ok)
	}
	m, ok = cfg.ColumnsOn("west", "misc", "keep")
	if !ok || !maps.Equal(m.Names, map[string]string{"id": "Id", "Amount": "Total", "note": "note"}) {
		t.Errorf("ColumnsOn(west, misc.keep) = %+v, %v", m, ok)
	}

	// The digest tells the case apart.
	src := mustParse(t, "source.hcl", baseNodes+"names {\n  case = \"source\"\n}\n")
	none := mustParse(t, "none.hcl", baseNodes)
	upper := mustParse(t, "upper.hcl", baseNodes+"names {\n  case = \"upper\"\n}\n")
	if src.Digest() != none.Digest() || src.Digest() == upper.Digest() {
		t.Errorf("digests: source %s, none %s, upper %s", src.Digest(), none.Digest(), upper.Digest())
	}
}

func TestNamesErrors(t *testing.T) {
	out := parseErrors(t, baseNodes+`
names {
  case = "lower"
}
schema "\"App\"" {}
schema "app" {}
table "public.t" {
  columns = ["\"Id\"", "id"]
}
`)
	for _, want := range []string{
		`both map onto schema app of the other node`,
		`replicates columns "Id" and id, which names.case = "lower"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
