package policies

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestColumnsFixtureValues(t *testing.T) {
	cfg, diags := Load("testdata/valid/columns.hcl")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(diags))
	}
	for _, tc := range []struct {
		table   string
		cols    []string
		targets map[string]string
	}{
		// Unquoted names fold, quoted ones keep their case; a column block
		// onto the column's own name is dropped.
		{"orders", []string{"id", "customer_id", "total", "Status"}, map[string]string{"total": "amount", "Status": "State"}},
		{"customers", nil, map[string]string{"email": "mail", "first_name": "last_name", "last_name": "first_name"}},
		{"events", []string{"id", "kind", "at"}, nil},
	} {
		i := slices.IndexFunc(cfg.Tables, func(tb *TableSel) bool { return tb.Name == tc.table })
		if i < 0 {
			t.Fatalf("no table block for %s", tc.table)
		}
		tb := cfg.Tables[i]
		if !slices.Equal(tb.Columns, tc.cols) || (tb.Columns == nil) != (tc.cols == nil) {
			t.Errorf("%s: Columns = %#v, want %#v", tc.table, tb.Columns, tc.cols)
		}
		if !maps.Equal(tb.ColumnTargets, tc.targets) || (tb.ColumnTargets == nil) != (tc.targets == nil) {
			t.Errorf("%s: ColumnTargets = %#v, want %#v", tc.table, tb.ColumnTargets, tc.targets)
		}
	}
}

// columnsSel exercises ColumnsOn: table targets, a schema target, subsets
// with and without renames, renames without a subset.
const columnsSel = `
schema "app" {
  target = "app_copy"
}

table "app.orders" {
  target  = "sales.orders2"
  columns = ["id", "total", "note"]
  column "total" {
    target = "amount"
  }
}

table "app.items" {
  columns = ["sku", "price"]
}

table "app.customers" {
  column "email" {
    target = "mail"
  }
  column "name" {
    target = "\"Name\""
  }
}

table "app.plain" {}

table "legacy.parts" {
  target  = "stock.\"Parts\""
  columns = ["\"PartNo\"", "qty"]
  column "qty" {
    target = "\"Quantity\""
  }
}
`

func TestColumnsOn(t *testing.T) {
	for _, source := range []string{"east", "west"} {
		t.Run("ddl_source="+source, func(t *testing.T) {
			other := "west"
			if source == "west" {
				other = "east"
			}
			src := strings.Replace(baseNodes, `ddl_source = "east"`, `ddl_source = "`+source+`"`, 1) + columnsSel
			cfg := mustParse(t, "columns.hcl", src)
			for _, tc := range []struct {
				node, s, t string
				ok         bool
				subset     bool
				names      map[string]string
			}{
				// Subset with a rename, table target.
				{source, "app", "orders", true, true, map[string]string{"id": "id", "total": "amount", "note": "note"}},
				{other, "sales", "orders2", true, true, map[string]string{"id": "id", "amount": "total", "note": "note"}},
				// Subset without renames, under its schema block's target.
				{source, "app", "items", true, true, map[string]string{"sku": "sku", "price": "price"}},
				{other, "app_copy", "items", true, true, map[string]string{"sku": "sku", "price": "price"}},
				// Renames without a subset: only the renamed columns.
				{source, "app", "customers", true, false, map[string]string{"email": "mail", "name": "Name"}},
				{other, "app_copy", "customers", true, false, map[string]string{"mail": "email", "Name": "name"}},
				// Quoted names in the target table and columns.
				{source, "legacy", "parts", true, true, map[string]string{"PartNo": "PartNo", "qty": "Quantity"}},
				{other, "stock", "Parts", true, true, map[string]string{"PartNo": "PartNo", "Quantity": "qty"}},
				// Every column, same names.
				{source, "app", "plain", false, false, nil},     // table block without columns
				{other, "app_copy", "plain", false, false, nil}, // its image
				{source, "app", "anything", false, false, nil},  // schema block only
				{other, "app_copy", "anything", false, false, nil},
				{other, "app_copy", "orders", false, false, nil}, // not an image: app.orders goes to sales.orders2
				{other, "app", "orders", false, false, nil},      // source names on the other node
				{source, "sales", "orders2", false, false, nil},  // target names on the source
				{other, "stock", "parts", false, false, nil},     // case-sensitive
				{source, "legacy", "other", false, false, nil},   // not selected
				{"north", "app", "orders", false, false, nil},    // unknown node
				{"", "app", "orders", false, false, nil},
			} {
				m, ok := cfg.ColumnsOn(tc.node, tc.s, tc.t)
				if ok != tc.ok || m.Subset != tc.subset || !maps.Equal(m.Names, tc.names) || ok && m.Names == nil {
					t.Errorf("ColumnsOn(%q, %q, %q) = %+v, %v; want Subset %v, Names %v, %v", tc.node, tc.s, tc.t, m, ok, tc.subset, tc.names, tc.ok)
				}
				if !ok && (m.Names != nil || m.Subset) {
					t.Errorf("ColumnsOn(%q, %q, %q) = %+v with ok false; want the zero ColumnMap", tc.node, tc.s, tc.t, m)
				}
			}
			// A fresh map each call.
			m, _ := cfg.ColumnsOn(source, "app", "orders")
			m.Names["total"] = "x"
			if m2, _ := cfg.ColumnsOn(source, "app", "orders"); m2.Names["total"] != "amount" {
				t.Error("ColumnsOn shares its map with the config")
			}
		})
	}
}

func TestColumnMapMapAndCheck(t *testing.T) {
	cfg := mustParse(t, "columns.hcl", baseNodes+`
table "public.a" {
  columns = ["id", "total"]
  column "total" {
    target = "amount"
  }
}
table "public.b" {
  column "total" {
    target = "amount"
  }
  column "x" {
    target = "y"
  }
  column "y" {
    target = "x"
  }
}
`)
	type mapCase struct {
		col, peer string
		ok        bool
	}
	for _, tc := range []struct {
		node, table string
		maps        []mapCase
		good        [][]string          // columns Check accepts
		bad         map[string][]string // Check's error must contain the key
	}{
		{"east", "a",
			[]mapCase{{"id", "id", true}, {"total", "amount", true}, {"amount", "", false}, {"note", "", false}},
			[][]string{{"id", "total"}, {"total", "note", "id"}},
			map[string][]string{
				"name column(s) id, which the table does not have":          {"total", "amount"},
				"name column(s) id, total, which the table does not have":   {"amount"},
				"name column(s) total, which the table does not have":       {"id", "Total"},
				"columns list or column blocks name column(s) total, which": {"id"},
			}},
		{"west", "a",
			[]mapCase{{"id", "id", true}, {"amount", "total", true}, {"total", "", false}},
			[][]string{{"id", "amount"}, {"amount", "id", "total", "extra"}},
			map[string][]string{
				"expects column(s) amount, which the table does not have": {"id", "total"},
			}},
		{"east", "b",
			[]mapCase{{"total", "amount", true}, {"x", "y", true}, {"y", "x", true}, {"id", "id", true},
				{"amount", "", false}}, // would collide with total on west: Check says so
			[][]string{{"id", "total", "x", "y", "other"}},
			map[string][]string{
				`column amount keeps its name, but column total is renamed to amount`: {"id", "total", "x", "y", "amount"},
				`name column(s) x, which the table does not have`:                     {"total", "y"},
			}},
		{"west", "b",
			[]mapCase{{"amount", "total", true}, {"x", "y", true}, {"y", "x", true}, {"id", "id", true},
				{"total", "", false}}, // east's total is west's amount: west's total is not replicated
			[][]string{{"id", "amount", "x", "y"}, {"id", "amount", "x", "y", "total"}},
			map[string][]string{
				`expects column(s) amount, which the table does not have`: {"total", "x", "y"},
			}},
	} {
		m, ok := cfg.ColumnsOn(tc.node, "public", tc.table)
		if !ok {
			t.Fatalf("ColumnsOn(%s, public.%s): not ok", tc.node, tc.table)
		}
		for _, mc := range tc.maps {
			if peer, ok := m.Map(mc.col); peer != mc.peer || ok != mc.ok {
				t.Errorf("%s public.%s: Map(%q) = %q, %v; want %q, %v", tc.node, tc.table, mc.col, peer, ok, mc.peer, mc.ok)
			}
		}
		for _, cols := range tc.good {
			if err := m.Check(cols); err != nil {
				t.Errorf("%s public.%s: Check(%q) = %v, want nil", tc.node, tc.table, cols, err)
			}
		}
		for want, cols := range tc.bad {
			if err := m.Check(cols); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s public.%s: Check(%q) = %v, want an error containing %q", tc.node, tc.table, cols, err, want)
			}
		}
	}

	// The zero ColumnMap: every column, same names.
	var zero ColumnMap
	if peer, ok := zero.Map("anything"); peer != "anything" || !ok {
		t.Errorf("zero ColumnMap: Map = %q, %v", peer, ok)
	}
	if err := zero.Check([]string{"a", "b"}); err != nil {
		t.Errorf("zero ColumnMap: Check = %v", err)
	}
}

// Renaming the columns of a table whose columns the config does not list:
// only what the config can see is checked at load.
func TestColumnRenamesWithoutSubset(t *testing.T) {
	// A swap and a chain are fine: the renamed names are distinct.
	mustParse(t, "ok.hcl", baseNodes+`
table "public.t" {
  column "a" {
    target = "b"
  }
  column "b" {
    target = "c"
  }
  column "c" {
    target = "a"
  }
}
`)
	out := parseErrors(t, baseNodes+`
table "public.t" {
  column "a" {
    target = "x"
  }
  column "b" {
    target = "X"
  }
}
`)
	n := countLines(baseNodes)
	want := fmt.Sprintf(`test.hcl:%d:14: error: Colliding column mapping: The column "a" block (at test.hcl:%d:3) and the column "b" block both rename onto column x of the other node; changes from there could not be mapped back. Give each column its own target.`, n+7, n+3)
	if !strings.Contains(out, want) || countLines(out) != 1 {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// Every problem of the column settings in one run, each once.
func TestColumnErrorsInOneRun(t *testing.T) {
	out := parseErrors(t, baseNodes+`
table "public.t" {
  columns = ["a", "a", "b.c"]
  column "d" {
    target = "e"
  }
  column "f" {}
  column "g" {
    target = "h"
  }
  column "g" {
    target = "i"
  }
  where = "x > 1"
}
table "public.u" {
  columns = ["a", "b"]
  column "a" {
    target = "b"
  }
  column "z" {
    target = "y"
  }
}
`)
	for _, want := range []string{
		"Duplicate column:", "Invalid column name:", "Missing required argument: The column \"f\" block needs target",
		"Duplicate column block:", "Row filter with renamed columns:", "Colliding column mapping:", "Column not replicated: The column \"z\" block",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not contain %q:\n%s", want, out)
		}
	}
	// The list of public.t has a mistake: its column blocks are not checked
	// against it (no "Column not replicated" for d or g).
	if countLines(out) != 7 {
		t.Errorf("want 7 errors:\n%s", out)
	}
}

func TestPlanColumns(t *testing.T) {
	cfg := mustParse(t, "columns.hcl", baseNodes+columnsSel)
	p := cfg.Plan()
	find := func(node, name string) PlanSelection {
		t.Helper()
		for _, n := range p.Nodes {
			if n.Name != node {
				continue
			}
			for _, s := range n.Selections {
				if s.Kind == "table" && s.Name == name {
					return s
				}
			}
		}
		t.Fatalf("no table selection %s on %s", name, node)
		return PlanSelection{}
	}
	for _, tc := range []struct {
		node, name string
		cols       []string
		targets    map[string]string
	}{
		{"east", "app.orders", []string{"id", "total", "note"}, map[string]string{"total": "amount"}},
		{"west", "sales.orders2", []string{"id", "amount", "note"}, map[string]string{"amount": "total"}},
		{"east", "app.items", []string{"sku", "price"}, nil},
		{"west", "app_copy.items", []string{"sku", "price"}, nil},
		{"east", "app.customers", nil, map[string]string{"email": "mail", "name": "Name"}},
		{"west", "app_copy.customers", nil, map[string]string{"mail": "email", "Name": "name"}},
		{"east", "legacy.parts", []string{"PartNo", "qty"}, map[string]string{"qty": "Quantity"}},
		{"west", "stock.Parts", []string{"PartNo", "Quantity"}, map[string]string{"Quantity": "qty"}},
		{"east", "app.plain", nil, nil},
	} {
		s := find(tc.node, tc.name)
		if !slices.Equal(s.Columns, tc.cols) || !maps.Equal(s.ColumnTargets, tc.targets) ||
			(s.ColumnTargets == nil) != (tc.targets == nil) {
			t.Errorf("%s %s: columns %q, targets %v; want %q, %v", tc.node, tc.name, s.Columns, s.ColumnTargets, tc.cols, tc.targets)
		}
	}
	// JSON: absent when the block has neither.
	b, err := json.Marshal(find("east", "app.plain"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "column") {
		t.Errorf("app.plain: %s", b)
	}
	b, _ = json.Marshal(find("west", "sales.orders2"))
	if want := `"columns":["id","amount","note"],"column_targets":{"amount":"total"}`; !strings.Contains(string(b), want) {
		t.Errorf("sales.orders2: %s, want it to contain %s", b, want)
	}
	// The plan holds copies.
	find("east", "app.orders").Columns[0] = "x"
	find("east", "app.orders").ColumnTargets["total"] = "x"
	if m, _ := cfg.ColumnsOn("east", "app", "orders"); m.Names["id"] != "id" || m.Names["total"] != "amount" {
		t.Error("the plan shares the table block's columns")
	}
}

func TestColumnsInSplitConfig(t *testing.T) {
	for _, p := range []string{"testdata/valid/split", "testdata/valid/split_in_one_file.hcl"} {
		cfg, diags := Load(p)
		if diags.HasErrors() {
			t.Fatal(FormatDiagnostics(diags))
		}
		m, ok := cfg.ColumnsOn("west", "inventory", "items")
		if want := map[string]string{"id": "id", "sku": "sku", "quantity": "qty"}; !ok || !m.Subset || !maps.Equal(m.Names, want) {
			t.Errorf("%s: ColumnsOn(west, inventory.items) = %+v, %v; want %v", filepath.Base(p), m, ok, want)
		}
	}
}
