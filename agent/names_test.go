package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
)

// TestNamesCase: names { case = "lower" } with a schema of quoted,
// mixed-case names on the DDL source. The initial sync creates the schema
// on the other node in lower case (tables, columns, indexes, constraints,
// sequences) and copies the rows; row changes then flow both ways, the
// other node's folded names resolved back to the source's; and DDL on the
// source (a new column, a new table) arrives folded and carries changes
// both ways too.
func TestNamesCase(t *testing.T) {
	p := newPair(t, pairOpts{
		schema: `CREATE SCHEMA "App";
CREATE TABLE "App"."Orders" ("Id" int CONSTRAINT "Orders_PK" PRIMARY KEY, "Total" numeric NOT NULL CONSTRAINT "Positive" CHECK ("Total" >= 0), "Note" text);
CREATE INDEX "Orders_Total" ON "App"."Orders" ("Total");
CREATE TABLE "App"."Customers" ("Id" serial PRIMARY KEY, "Name" text);
CREATE VIEW "App"."Big" AS SELECT "Id", "Total" FROM "App"."Orders" WHERE "Total" > 100;`,
		westEmpty: true,
		sync:      "sync {\n  parallelism = 2\n}",
		selection: "names {\n  case = \"lower\"\n}\nschema \"public\" {}\nschema \"\\\"App\\\"\" {}",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p.exec(ctx, "east", `INSERT INTO "App"."Orders" SELECT g, g * 10, 'row ' || g FROM generate_series(1, 50) g;
INSERT INTO "App"."Customers" ("Name") SELECT 'c' || g FROM generate_series(1, 5) g`)
	// The publication needs its schemas (a schema block's target) on
	// both nodes before the agents start; the initial sync fills them.
	p.exec(ctx, "west", `CREATE SCHEMA app`)
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	p.waitInitialSync(ctx, "west", "done")

	for q, want := range map[string]string{
		`SELECT count(*), sum(total)::text FROM app.orders`: "50|12750",
		`SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'orders'`: "id,total,note",
		`SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'app.orders'::regclass`:                                        "orders_pk,positive",
		`SELECT to_regclass('app.orders_total') IS NOT NULL, to_regclass('app.big') IS NOT NULL`:                                                             "true|true",
		`SELECT count(*) FROM app.big`:                                "40",
		`SELECT last_value FROM app.customers_id_seq`:                 "5",
		`SELECT string_agg(name, ',' ORDER BY id) FROM app.customers`: "c1,c2,c3,c4,c5",
	} {
		if got := p.query(ctx, "west", q); got != want {
			t.Errorf("west after the initial sync: %s\n got  %s\n want %s", q, got, want)
		}
	}

	// Row changes both ways.
	p.exec(ctx, "east", `INSERT INTO "App"."Orders" VALUES (100, 5, 'east')`)
	p.barrier(ctx, "east")
	if got := p.query(ctx, "west", `SELECT total::text, note FROM app.orders WHERE id = 100`); got != "5|east" {
		t.Errorf("west after east's insert: %q", got)
	}
	p.exec(ctx, "west", `UPDATE app.orders SET total = 7, note = 'west' WHERE id = 100; DELETE FROM app.orders WHERE id = 1; INSERT INTO app.customers VALUES (1000, 'west')`)
	p.barrier(ctx, "west")
	for q, want := range map[string]string{
		`SELECT "Total"::text, "Note" FROM "App"."Orders" WHERE "Id" = 100`: "7|west",
		`SELECT count(*) FROM "App"."Orders" WHERE "Id" = 1`:                "0",
		`SELECT "Name" FROM "App"."Customers" WHERE "Id" = 1000`:            "west",
	} {
		if got := p.query(ctx, "east", q); got != want {
			t.Errorf("east after west's changes: %s\n got  %s\n want %s", q, got, want)
		}
	}

	// DDL on the source arrives folded; the new table and column carry
	// changes both ways.
	p.exec(ctx, "east", `ALTER TABLE "App"."Orders" ADD COLUMN "Extra" int;
CREATE TABLE "App"."Items" ("Sku" text CONSTRAINT "Items_PK" PRIMARY KEY, "Qty" int NOT NULL);
INSERT INTO "App"."Items" VALUES ('a', 1);
UPDATE "App"."Orders" SET "Extra" = 1 WHERE "Id" = 2`)
	p.barrier(ctx, "east")
	for q, want := range map[string]string{
		`SELECT sku, qty FROM app.items`:                                           "a|1",
		`SELECT extra FROM app.orders WHERE id = 2`:                                "1",
		`SELECT conname FROM pg_constraint WHERE conrelid = 'app.items'::regclass`: "items_pk",
	} {
		if got := p.query(ctx, "west", q); got != want {
			t.Errorf("west after east's DDL: %s\n got  %s\n want %s", q, got, want)
		}
	}
	p.exec(ctx, "west", `INSERT INTO app.items VALUES ('b', 2); UPDATE app.orders SET extra = 9 WHERE id = 100`)
	p.barrier(ctx, "west")
	for q, want := range map[string]string{
		`SELECT string_agg("Sku" || '=' || "Qty", ',' ORDER BY "Sku") FROM "App"."Items"`: "a=1,b=2",
		`SELECT "Extra" FROM "App"."Orders" WHERE "Id" = 100`:                             "9",
	} {
		if got := p.query(ctx, "east", q); got != want {
			t.Errorf("east after west's changes to the new table and column: %s\n got  %s\n want %s", q, got, want)
		}
	}
}
