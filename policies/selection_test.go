package policies

import (
	"slices"
	"testing"
)

func TestSelected(t *testing.T) {
	const sel = `
schema "public" {
  tables  = ["*"]
  exclude = ["tmp_*", "scratch?", "log_[0-9][0-9]"]
}

schema "sales" {
  tables     = ["order*", "invoice?", "x/*"]
  operations = ["insert", "update", "delete", "truncate"]
}

table "public.tmp_keep" {
  operations = ["insert"]
}

table "sales.orders" {
  operations = ["insert", "update"]
}

table "sales.order_lines" {}

table "\"Sales\".\"Orders\"" {
  operations = ["delete", "insert"]
}

table "Inventory.Items" {}

schema "\"CamelCase\"" {
  tables = ["Big*"]
}
`
	cfg := mustParse(t, "sel.hcl", baseNodes+sel)
	dml := []Op{OpInsert, OpUpdate, OpDelete}
	all := []Op{OpInsert, OpUpdate, OpDelete, OpTruncate}
	for _, tc := range []struct {
		schema, table string
		ok            bool
		ops           []Op
	}{
		{"public", "customers", true, dml},
		{"public", "tmp_sessions", false, nil},              // excluded
		{"public", "tmp_keep", true, []Op{OpInsert}},        // table block beats the exclude
		{"public", "scratch1", false, nil},                  // ? excludes one character
		{"public", "scratch12", true, dml},                  // ... not two
		{"public", "log_42", false, nil},                    // class
		{"public", "log_4x", true, dml},                     //
		{"sales", "orders", true, []Op{OpInsert, OpUpdate}}, // table ops override the schema's
		{"sales", "order_lines", true, all},                 // table block without ops: its schema block's
		{"sales", "orderbook", true, all},                   // glob
		{"sales", "invoice1", true, all},                    //
		{"sales", "invoice12", false, nil},                  //
		{"sales", "x/y", true, all},                         // "/" is an ordinary character
		{"sales", "customers", false, nil},                  // matches no glob
		{"Sales", "Orders", true, []Op{OpInsert, OpDelete}}, // quoted label keeps case
		{"Sales", "orders", false, nil},                     //
		{"inventory", "items", true, dml},                   // unquoted label folds to lower case
		{"Inventory", "Items", false, nil},                  //
		{"CamelCase", "BigTable", true, dml},                // globs are case-sensitive
		{"CamelCase", "bigtable", false, nil},               //
		{"camelcase", "BigTable", false, nil},               //
		{"other", "orders", false, nil},                     // schema not selected
	} {
		ops, ok := cfg.Selected(tc.schema, tc.table)
		if ok != tc.ok || !slices.Equal(ops, tc.ops) {
			t.Errorf("Selected(%q, %q) = %v, %v; want %v, %v", tc.schema, tc.table, ops, ok, tc.ops, tc.ok)
		}
	}

	if got, want := cfg.PublicationSchemas(), []string{"CamelCase", "public", "sales"}; !slices.Equal(got, want) {
		t.Errorf("PublicationSchemas = %q, want %q", got, want)
	}
	if got, want := cfg.PublicationTables(), [][2]string{{"Sales", "Orders"}, {"inventory", "items"}}; !slices.Equal(got, want) {
		t.Errorf("PublicationTables = %q, want %q", got, want)
	}
}

func TestSelectedNothingByDefault(t *testing.T) {
	cfg := mustParse(t, "none.hcl", baseNodes)
	if ops, ok := cfg.Selected("public", "orders"); ok {
		t.Errorf("nothing selected, yet Selected = %v, true", ops)
	}
	if len(cfg.PublicationSchemas()) != 0 || len(cfg.PublicationTables()) != 0 {
		t.Error("publication not empty")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"?", "é", true},
		{"??", "é", false},
		{"[abc]x", "bx", true},
		{"[!abc]x", "bx", false},
		{"[^abc]x", "dx", true},
		{"[a-c-]", "-", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`[\]]`, "]", true},
		{"order", "orders", false},
		{"*s", "orders", true},
		{"**x", "x", true},
	} {
		if _, err := compileGlob(tc.pattern); err != nil {
			t.Errorf("compileGlob(%q): %v", tc.pattern, err)
		}
		if got := globMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"[", "[]", "a[b", `x\`, "[z-a]", `[a\`} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("compileGlob(%q): want an error", bad)
		}
		if globMatch(bad, bad) {
			t.Errorf("malformed pattern %q matched", bad)
		}
	}
}

func TestParseQualifiedName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"public.orders", []string{"public", "orders"}},
		{"Public.Orders", []string{"public", "orders"}},
		{`"Sales"."Orders"`, []string{"Sales", "Orders"}},
		{`"my schema"."a.b"`, []string{"my schema", "a.b"}},
		{`"say ""hi"""`, []string{`say "hi"`}},
		{"_x$1.été", []string{"_x$1", "été"}},
		{`sales."Orders"`, []string{"sales", "Orders"}},
	} {
		got, err := parseQualifiedName(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseQualifiedName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a..b", `""`, `"a`, `"a"b`, "1abc", "a-b", "a b", "$a"} {
		if got, err := parseQualifiedName(bad); err == nil {
			t.Errorf("parseQualifiedName(%q) = %q, want an error", bad, got)
		}
	}
	long := "a123456789012345678901234567890123456789012345678901234567890123"
	if _, err := parseQualifiedName(long); err == nil {
		t.Errorf("a %d-byte name must be refused", len(long))
	}
}

func TestNodeAndPeer(t *testing.T) {
	cfg := mustParse(t, "n.hcl", baseNodes)
	n, err := cfg.Node("west")
	if err != nil || n.Name != "west" {
		t.Fatalf("Node(west) = %v, %v", n, err)
	}
	if _, err := cfg.Node("north"); err == nil || err.Error() != `unknown node "north": the config defines "east" and "west"` {
		t.Errorf("Node(north) error = %v", err)
	}
	if p := cfg.Peer("east"); p == nil || p.Name != "west" {
		t.Errorf("Peer(east) = %v", p)
	}
	if p := cfg.Peer("west"); p == nil || p.Name != "east" {
		t.Errorf("Peer(west) = %v", p)
	}
	if p := cfg.Peer("north"); p != nil {
		t.Errorf("Peer(north) = %v, want nil", p)
	}
}
