package ddlparse

import (
	"errors"
	"strings"
	"testing"
)

// The mapping of SPEC §4: app -> app_copy, app.orders -> app_copy.orders2,
// app.orders.note -> memo.
var appMapping = Mapping{
	Schemas: map[string]string{"app": "app_copy"},
	Tables:  map[QName]QName{{Schema: "app", Name: "orders"}: {Schema: "app_copy", Name: "orders2"}},
	Columns: map[Column]string{{Schema: "app", Table: "orders", Name: "note"}: "memo"},
}

func rewriteOne(t *testing.T, sql string, m Mapping, o Options) string {
	t.Helper()
	stmts, err := Split(sql)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 1 {
		t.Fatalf("%d statements", len(stmts))
	}
	out, err := Rewrite(stmts[0], m, o)
	if err != nil {
		t.Fatalf("Rewrite(%s): %v", sql, err)
	}
	return out
}

func TestMappingEverywhere(t *testing.T) {
	tests := []struct{ name, sql, want string }{
		{"create index", `CREATE INDEX orders_note_idx ON app.orders (note, lower(note)) WHERE note <> ''`,
			`CREATE INDEX orders_note_idx ON app_copy.orders2 USING btree (memo, lower(memo)) WHERE memo <> ''`},
		{"references", `CREATE TABLE app.lines (order_id int REFERENCES app.orders (id), note text)`,
			`CREATE TABLE app_copy.lines (order_id int REFERENCES app_copy.orders2 (id), note text)`},
		{"table foreign key", `ALTER TABLE other.x ADD FOREIGN KEY (a, b) REFERENCES app.orders (id, note)`,
			`ALTER TABLE other.x ADD FOREIGN KEY (a, b) REFERENCES app_copy.orders2 (id, memo)`},
		{"view body", `CREATE VIEW app.v AS SELECT o.note, count(*) FROM app.orders o JOIN other.t ON t.id = o.id GROUP BY o.note`,
			`CREATE VIEW app_copy.v AS SELECT o.memo AS note, count(*) FROM app_copy.orders2 o JOIN other.t ON t.id = o.id GROUP BY o.memo`},
		{"view body without alias", `CREATE VIEW other.v AS SELECT orders.id, note FROM app.orders WHERE app.orders.note IS NOT NULL`,
			`CREATE VIEW other.v AS SELECT orders.id, memo AS note FROM app_copy.orders2 orders WHERE orders.memo IS NOT NULL`},
		{"subquery and CTE", `CREATE VIEW app.w AS WITH n AS (SELECT note FROM app.orders) SELECT note FROM n WHERE EXISTS (SELECT 1 FROM app.orders x WHERE x.note = n.note)`,
			`CREATE VIEW app_copy.w AS WITH n AS (SELECT memo AS note FROM app_copy.orders2 orders) SELECT note FROM n WHERE EXISTS (SELECT 1 FROM app_copy.orders2 x WHERE x.memo = n.note)`},
		{"drop list", `DROP TABLE app.orders, other.t, app.items CASCADE`,
			`DROP TABLE app_copy.orders2, other.t, app_copy.items CASCADE`},
		{"comment on column", `COMMENT ON COLUMN app.orders.note IS 'free text'`,
			`COMMENT ON COLUMN app_copy.orders2.memo IS 'free text'`},
		{"comment outside the mapping", `COMMENT ON COLUMN other.orders.note IS 'x'`,
			`COMMENT ON COLUMN other.orders.note IS 'x'`},
		{"grant on table", `GRANT SELECT (id, note), UPDATE ON TABLE app.orders, public.t TO bob`,
			`GRANT select (id, memo), update ON app_copy.orders2, public.t TO bob`},
		{"rename column", `ALTER TABLE app.orders RENAME COLUMN note TO remark`,
			`ALTER TABLE app_copy.orders2 RENAME COLUMN memo TO remark`},
		{"rename table", `ALTER TABLE app.orders RENAME TO orders_2024`,
			`ALTER TABLE app_copy.orders2 RENAME TO orders_2024`},
		{"alter column", `ALTER TABLE app.orders ALTER COLUMN note SET DEFAULT '', ADD CONSTRAINT c CHECK (length(note) < 100)`,
			`ALTER TABLE app_copy.orders2 ALTER COLUMN memo SET DEFAULT '', ADD CONSTRAINT c CHECK (length(memo) < 100)`},
		{"set schema", `ALTER TABLE other.t SET SCHEMA app`,
			`ALTER TABLE other.t SET SCHEMA app_copy`},
		{"create schema", `CREATE SCHEMA IF NOT EXISTS app`, `CREATE SCHEMA IF NOT EXISTS app_copy`},
		{"qualified type and function", `CREATE TABLE app.t (m app.mood DEFAULT app.default_mood(), n other.kind)`,
			`CREATE TABLE app_copy.t (m app_copy.mood DEFAULT app_copy.default_mood(), n other.kind)`},
		{"sequence named by a literal", `CREATE TABLE app.t (id bigint DEFAULT nextval('app.t_seq'), x int DEFAULT nextval('other.s'::regclass))`,
			`CREATE TABLE app_copy.t (id bigint DEFAULT nextval('app_copy.t_seq'), x int DEFAULT nextval('other.s'::regclass))`},
		{"truncate", `TRUNCATE app.orders, other.t`, ""},
		{"trigger", `CREATE TRIGGER trg AFTER UPDATE OF note ON app.orders FOR EACH ROW WHEN (new.note IS NULL) EXECUTE FUNCTION app.audit()`,
			`CREATE TRIGGER trg AFTER UPDATE OF memo ON app_copy.orders2 FOR EACH ROW WHEN (new.memo IS NULL) EXECUTE FUNCTION app_copy.audit()`},
		{"drop trigger", `DROP TRIGGER trg ON app.orders`, `DROP TRIGGER trg ON app_copy.orders2`},
		{"system schemas are never mapped", `CREATE TABLE app.t (a pg_catalog.int4, b information_schema.cardinal_number)`,
			`CREATE TABLE app_copy.t (a int, b information_schema.cardinal_number)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := Split(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Rewrite(stmts[0], appMapping, Options{})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("rewrote %s to %s; want an error (not DDL)", tt.sql, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("\n got  %s\n want %s", got, tt.want)
			}
		})
	}
}

// Unqualified names: the mapping's own entries decide which schema of the
// search_path a name is in; other unqualified names stay unqualified and
// the peer resolves them with the mapped search_path.
func TestMappingSearchPath(t *testing.T) {
	o := Options{SearchPath: `"$user", app, public`}
	tests := []struct{ sql, want string }{
		{`CREATE INDEX ON orders (note)`, `CREATE INDEX ON app_copy.orders2 USING btree (memo)`},
		{`ALTER TABLE orders ADD COLUMN x int`, `ALTER TABLE app_copy.orders2 ADD COLUMN x int`},
		{`CREATE TABLE items (id int REFERENCES orders)`, `CREATE TABLE items (id int REFERENCES app_copy.orders2)`},
		{`CREATE VIEW v AS SELECT note FROM orders JOIN customers USING (id)`, `CREATE VIEW v AS SELECT memo AS note FROM app_copy.orders2 orders JOIN customers USING (id)`},
		{`DROP TABLE orders, customers`, `DROP TABLE app_copy.orders2, customers`},
		{`COMMENT ON COLUMN orders.note IS NULL`, `COMMENT ON COLUMN app_copy.orders2.memo IS NULL`},
	}
	for _, tt := range tests {
		if got := rewriteOne(t, tt.sql, appMapping, o); got != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.sql, got, tt.want)
		}
	}
	// Not on the search_path: untouched.
	if got, want := rewriteOne(t, `CREATE INDEX ON orders (note)`, appMapping, Options{SearchPath: "public"}), `CREATE INDEX ON orders USING btree (note)`; got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}

	for in, want := range map[string]string{
		`"$user", app, public`: `"$user", app_copy, public`,
		`app`:                  `app_copy`,
		`"App", APP, public`:   `"App", app_copy, public`,
		``:                     ``,
	} {
		if got := appMapping.SearchPath(in); got != want {
			t.Errorf("SearchPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMappingRelation(t *testing.T) {
	for in, want := range map[QName]QName{
		{Schema: "app", Name: "orders"}:          {Schema: "app_copy", Name: "orders2"},
		{Schema: "app", Name: "customers"}:       {Schema: "app_copy", Name: "customers"},
		{Schema: "other", Name: "orders"}:        {Schema: "other", Name: "orders"},
		{Schema: "pg_catalog", Name: "pg_class"}: {Schema: "pg_catalog", Name: "pg_class"},
	} {
		if got := appMapping.Relation(in); got != want {
			t.Errorf("Relation(%v) = %v, want %v", in, got, want)
		}
	}
	if got := appMapping.Schema("app"); got != "app_copy" {
		t.Errorf("Schema(app) = %s", got)
	}
}

func TestMappingQuotedNames(t *testing.T) {
	m := Mapping{
		Schemas: map[string]string{"Sales": "EU Sales"},
		Tables:  map[QName]QName{{Schema: "Sales", Name: "Orders"}: {Schema: "EU Sales", Name: "Order Lines"}},
		Columns: map[Column]string{{Schema: "Sales", Table: "Orders", Name: "Total"}: "grand_total"},
	}
	got := rewriteOne(t, `CREATE INDEX "Idx" ON "Sales"."Orders" ("Total") WHERE "Total" > 0`, m, Options{})
	want := `CREATE INDEX "Idx" ON "EU Sales"."Order Lines" USING btree (grand_total) WHERE grand_total > 0`
	if got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	// Unquoted Sales is sales, which the mapping does not name.
	if got := rewriteOne(t, `DROP TABLE Sales.Orders`, m, Options{}); got != `DROP TABLE sales.orders` {
		t.Errorf("got %s", got)
	}
}

// What a mapping cannot express is an error, never a silent change of
// meaning.
func TestMappingErrors(t *testing.T) {
	m := Mapping{
		Schemas: map[string]string{"app": "app_copy"},
		Tables: map[QName]QName{
			{Schema: "app", Name: "new_orders"}: {Schema: "archive", Name: "orders"},
			{Schema: "rep", Name: "t"}:          {Schema: "elsewhere", Name: "t"},
		},
		Columns: map[Column]string{{Schema: "app", Table: "orders", Name: "note"}: "memo"},
	}
	for _, sql := range []string{
		`ALTER TABLE app.orders RENAME TO new_orders`,                           // RENAME cannot move schemas
		`CREATE SCHEMA rep CREATE TABLE t (id int)`,                             // element mapped out of its schema
		`CREATE VIEW app.v AS SELECT * FROM app.orders`,                         // * would rename the view's columns
		`CREATE VIEW app.v AS SELECT o.* FROM app.orders o`,                     // likewise
		`CREATE TABLE app.c AS SELECT * FROM app.orders`,                        // likewise for a new table
		`CREATE VIEW app.v AS SELECT 1 FROM app.orders JOIN app.x USING (note)`, // USING a renamed column
		`CREATE VIEW app.v AS SELECT 1 FROM app.orders NATURAL JOIN app.x`,      // NATURAL over renamed columns
	} {
		stmts, err := Split(sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Rewrite(stmts[0], m, Options{})
		var u *UnsupportedError
		if !errors.As(err, &u) || u.Reason != ReasonMapping {
			t.Errorf("%s: got %q, %v; want a mapping error", sql, out, err)
		}
	}
	// SELECT * inside EXISTS does not name columns: fine.
	if got := rewriteOne(t, `CREATE VIEW app.v AS SELECT id FROM other.t WHERE EXISTS (SELECT * FROM app.orders)`, m, Options{}); !strings.Contains(got, "EXISTS (SELECT * FROM app_copy.orders)") {
		t.Errorf("got %s", got)
	}
}

// Rewrite works on a copy: the statement can be rewritten again, with
// another mapping.
func TestRewriteDoesNotChangeTheStatement(t *testing.T) {
	stmts, err := Split(`CREATE INDEX i ON app.orders (note)`)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Rewrite(stmts[0], appMapping, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Rewrite(stmts[0], Mapping{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a == b || b != `CREATE INDEX i ON app.orders USING btree (note)` {
		t.Errorf("second rewrite saw the first: %s / %s", a, b)
	}
	if stmts[0].Text != `CREATE INDEX i ON app.orders (note)` {
		t.Errorf("Text changed: %s", stmts[0].Text)
	}
}

// CREATE TABLE AS and SELECT INTO replay as structure only.
func TestStructureOnly(t *testing.T) {
	tests := []struct{ sql, want string }{
		{`CREATE TABLE t AS SELECT * FROM s`, `CREATE TABLE t AS SELECT * FROM s WITH NO DATA`},
		{`CREATE TABLE IF NOT EXISTS t (a) AS SELECT 1 WITH DATA`, `CREATE TABLE IF NOT EXISTS t(a) AS SELECT 1 WITH NO DATA`},
		{`CREATE TABLE t AS TABLE s`, `CREATE TABLE t AS SELECT * FROM s WITH NO DATA`},
		{`CREATE TABLE t AS VALUES (1, 'a')`, `CREATE TABLE t AS VALUES (1, 'a') WITH NO DATA`},
		{`SELECT a, b INTO t FROM s WHERE a > 1`, `CREATE TABLE t AS SELECT a, b FROM s WHERE a > 1 WITH NO DATA`},
		{`SELECT a INTO UNLOGGED TABLE t FROM s UNION SELECT 2`, `CREATE UNLOGGED TABLE t AS SELECT a FROM s UNION SELECT 2 WITH NO DATA`},
		{`WITH x AS (SELECT 1 AS a) SELECT a INTO t FROM x`, `CREATE TABLE t AS WITH x AS (SELECT 1 AS a) SELECT a FROM x WITH NO DATA`},
		// Materialized views keep their data: it is computed on the peer.
		{`CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a`, `CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a`},
	}
	for _, tt := range tests {
		if got := rewriteOne(t, tt.sql, Mapping{}, Options{}); got != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.sql, got, tt.want)
		}
	}
}
