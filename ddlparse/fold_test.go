package ddlparse

import (
	"strings"
	"testing"
)

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// names.case = lower over schema "App" (mapped to app) and the table block
// "Misc"."Keep" -> misc.keep: relations, columns, indexes and constraints
// of the fold scope are spelled in lower case on the peer; everything else
// keeps its name.
var foldMapping = Mapping{
	Schemas:     map[string]string{"App": "app"},
	Tables:      map[QName]QName{{Schema: "Misc", Name: "Keep"}: {Schema: "misc", Name: "keep"}},
	Columns:     map[Column]string{{Schema: "App", Table: "Orders", Name: "Note"}: "memo"},
	Fold:        lowerASCII,
	FoldSchemas: map[string]bool{"App": true},
}

func TestMappingFold(t *testing.T) {
	tests := []struct{ name, sql, want string }{
		{"create table", `CREATE TABLE "App"."Orders" ("Id" int CONSTRAINT "Orders_PK" PRIMARY KEY, "Total" numeric CHECK ("Total" > 0), "Note" text)`,
			`CREATE TABLE app.orders (id int CONSTRAINT orders_pk PRIMARY KEY, total numeric CHECK (total > 0), memo text)`},
		{"explicit column mapping wins", `ALTER TABLE "App"."Orders" ALTER COLUMN "Note" SET DEFAULT ''`,
			`ALTER TABLE app.orders ALTER COLUMN memo SET DEFAULT ''`},
		{"index", `CREATE INDEX "Orders_Total" ON "App"."Orders" ("Total") WHERE "Id" > 0`,
			`CREATE INDEX orders_total ON app.orders USING btree (total) WHERE id > 0`},
		{"constraints", `ALTER TABLE "App"."Orders" ADD CONSTRAINT "Pos" CHECK ("Total" >= 0), DROP CONSTRAINT "Old", VALIDATE CONSTRAINT "Pos"`,
			`ALTER TABLE app.orders ADD CONSTRAINT pos CHECK (total >= 0), DROP CONSTRAINT old, VALIDATE CONSTRAINT pos`},
		{"rename constraint", `ALTER TABLE "App"."Orders" RENAME CONSTRAINT "Pos" TO "Positive"`,
			`ALTER TABLE app.orders RENAME CONSTRAINT pos TO positive`},
		{"rename column", `ALTER TABLE "App"."Orders" RENAME COLUMN "Total" TO "Amount"`,
			`ALTER TABLE app.orders RENAME COLUMN total TO amount`},
		{"rename table", `ALTER TABLE "App"."Orders" RENAME TO "Orders2"`,
			`ALTER TABLE app.orders RENAME TO orders2`},
		{"drop index", `DROP INDEX "App"."Orders_Total"`, `DROP INDEX app.orders_total`},
		{"view over two folded tables", `CREATE VIEW "App"."V" AS SELECT "Total", c."Name" FROM "App"."Orders" o JOIN "App"."Customers" c ON c."Id" = o."Id"`,
			`CREATE VIEW app.v AS SELECT total, c.name FROM app.orders o JOIN app.customers c ON c.id = o.id`},
		{"view keeps no source output names", `CREATE VIEW "App"."W" AS SELECT "Orders"."Total" FROM "App"."Orders"`,
			`CREATE VIEW app.w AS SELECT "Orders".total FROM app.orders "Orders"`},
		{"table block", `ALTER TABLE "Misc"."Keep" ADD COLUMN "Extra" int`,
			`ALTER TABLE misc.keep ADD COLUMN extra int`},
		{"outside the scope", `CREATE TABLE "Misc"."Other" ("Id" int, CONSTRAINT "K" UNIQUE ("Id"))`,
			`CREATE TABLE "Misc"."Other" ("Id" int, CONSTRAINT "K" UNIQUE ("Id"))`},
		{"references into the scope", `ALTER TABLE "Misc"."Other" ADD FOREIGN KEY ("Id") REFERENCES "App"."Orders" ("Id")`,
			`ALTER TABLE "Misc"."Other" ADD FOREIGN KEY ("Id") REFERENCES app.orders (id)`},
		{"system catalogs", `CREATE VIEW "App"."Rels" AS SELECT relname FROM pg_catalog.pg_class`,
			`CREATE VIEW app.rels AS SELECT relname FROM pg_catalog.pg_class`},
		{"function body without quoted names", `CREATE FUNCTION "App".f() RETURNS int LANGUAGE sql AS $$SELECT count(*)::int FROM app.orders$$`,
			`CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$SELECT count(*)::int FROM app.orders$$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rewriteOne(t, tc.sql, foldMapping, Options{}); got != tc.want {
				t.Errorf("\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

// An unqualified name the fold changes is resolved to the first schema on
// the search path when that schema is folded.
func TestMappingFoldSearchPath(t *testing.T) {
	o := Options{SearchPath: `"App", public`}
	for in, want := range map[string]string{
		`CREATE TABLE "Items" ("Sku" text PRIMARY KEY)`:   `CREATE TABLE app.items (sku text PRIMARY KEY)`,
		`CREATE TABLE items (sku text)`:                   `CREATE TABLE items (sku text)`,
		`CREATE VIEW "V" AS SELECT relname FROM pg_class`: `CREATE VIEW app.v AS SELECT relname FROM pg_class`,
	} {
		if got := rewriteOne(t, in, foldMapping, o); got != want {
			t.Errorf("%s\n got  %s\n want %s", in, got, want)
		}
	}
}

func TestMappingFoldOpaque(t *testing.T) {
	stmts, err := Split(`CREATE FUNCTION app.g() RETURNS int LANGUAGE sql AS $$SELECT count(*)::int FROM "App"."Orders"$$`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Rewrite(stmts[0], foldMapping, Options{})
	if err == nil || !strings.Contains(err.Error(), `quotes "App", which names.case spells app on the peer`) {
		t.Errorf("quoted name in a string body: %v", err)
	}
	upper := foldMapping
	upper.Fold = strings.ToUpper
	stmts, err = Split(`CREATE FUNCTION other.h() RETURNS int LANGUAGE sql AS $$SELECT 1$$`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrite(stmts[0], upper, Options{}); err == nil || !strings.Contains(err.Error(), "names.case upper-cases") {
		t.Errorf("string body under upper: %v", err)
	}
}
