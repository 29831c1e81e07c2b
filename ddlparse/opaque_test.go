package ddlparse

import (
	"errors"
	"strings"
	"testing"
)

func TestMentions(t *testing.T) {
	names := []string{"app", "my schema", "orders"}
	tests := []struct {
		text, want string
	}{
		{"SELECT 1 FROM app.t", "app"},
		{`SELECT 1 FROM "app"."t"`, "app"},
		{"EXECUTE format('SELECT 1 FROM %I.%I', 'app', t)", "app"},
		{"SELECT 1 FROM APP.t", "app"},
		{"-- see app\nSELECT 1", "app"},
		{`SELECT 1 FROM "My Schema".t`, "my schema"},
		{"SELECT * FROM orders", "orders"},
		{"SELECT 'apple', my_app, app_2, $app, app$1 FROM t", ""},
		{"SELECT \"Orders\" FROM t", "orders"},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := mentions(tt.text, names)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("mentions(%q) = %q, %v; want %q", tt.text, got, ok, tt.want)
		}
	}
	if _, ok := mentions("SELECT app.x", nil); ok {
		t.Error("no names, but a mention")
	}
}

func TestRenamedNames(t *testing.T) {
	m := Mapping{
		Schemas: map[string]string{"app": "app_copy", "same": "same", "pg_catalog": "x"},
		Tables: map[QName]QName{
			{Schema: "other", Name: "orders"}:  {Schema: "other", Name: "orders2"},
			{Schema: "other", Name: "moved"}:   {Schema: "elsewhere", Name: "moved"},
			{Schema: "other", Name: "kept"}:    {Schema: "other", Name: "kept"},
			{Schema: "pg_catalog", Name: "pg"}: {Schema: "x", Name: "pg"},
		},
		Columns: map[Column]string{{Schema: "other", Table: "t", Name: "note"}: "memo", {Schema: "other", Table: "t", Name: "id"}: "id"},
	}
	if got := strings.Join(renamedNames(&m), " "); got != "app moved note orders" {
		t.Errorf("renamedNames = %q", got)
	}
}

// String bodies are checked against every name the mapping changes, not
// only schemas; C and internal functions have a link symbol there, not code.
func TestStringBodiesUnderMapping(t *testing.T) {
	tests := []struct {
		sql     string
		m       Mapping
		refused string // the name the error must mention; "" if Rewrite must succeed
	}{
		{`CREATE FUNCTION other.f() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders'`, appMapping, "orders"},
		{`CREATE FUNCTION other.f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT note FROM x); END $$`, appMapping, "note"},
		{`CREATE FUNCTION other.f() RETURNS int LANGUAGE plpython3u AS $$ return plpy.execute("SELECT 1 FROM app.t")[0] $$`, appMapping, "app"},
		{`CREATE FUNCTION other.f() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM other.t'`, appMapping, ""},
		{`CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM app.t'`, Mapping{}, ""},
		{`CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM app.t'`, Mapping{Schemas: map[string]string{"app": "app"}}, ""},
		{`CREATE FUNCTION other.f(int) RETURNS int LANGUAGE c AS 'app', 'app_orders'`, appMapping, ""},
		{`CREATE FUNCTION other.f(int) RETURNS int LANGUAGE internal AS 'app'`, appMapping, ""},
		{`CREATE FUNCTION app.f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM app.orders; END`, appMapping, ""},
	}
	for _, tt := range tests {
		stmts, err := Split(tt.sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Rewrite(stmts[0], tt.m, Options{})
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("%s: %v", tt.sql, err)
		case tt.refused != "" && err == nil:
			t.Errorf("%s: rewritten to %s; want it refused", tt.sql, out)
		case tt.refused != "" && (!errors.Is(err, ErrUnsupported) || ReasonOf(err) != ReasonMapping ||
			!strings.Contains(err.Error(), "mentions "+tt.refused+",")):
			t.Errorf("%s: %v; want a %s error mentioning %s", tt.sql, err, ReasonMapping, tt.refused)
		}
	}
}
