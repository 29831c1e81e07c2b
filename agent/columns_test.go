package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
)

// TestColumnsAndMapping: a table block with a column subset, a renamed
// column, a schema and table mapping and an operations filter (no deletes):
// each node receives exactly that, in both directions. A column left out
// keeps each node's own value; a delete stays on its node.
func TestColumnsAndMapping(t *testing.T) {
	p := newPair(t, pairOpts{
		selection: `table "public.barrier" {}
table "public.orders" {
  target     = "sales.orders"
  columns    = ["id", "customer_id", "total"]
  operations = ["insert", "update"]
  column "total" {
    target = "amount"
  }
}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.exec(ctx, "east", `CREATE TABLE public.orders (id int PRIMARY KEY, customer_id int, total numeric, secret text)`)
	p.exec(ctx, "west", `CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int, amount numeric, secret text DEFAULT 'west default')`)
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", `INSERT INTO public.orders VALUES (1, 7, 10.50, 'east only'), (2, 8, 3, 'east only')`)
	p.barrier(ctx, "east")
	if got := p.query(ctx, "west", `SELECT id, customer_id, amount::text, secret FROM sales.orders ORDER BY id`); got != "1|7|10.50|west default\n2|8|3|west default" {
		t.Errorf("west after east's inserts:\n%s", got)
	}

	p.exec(ctx, "west", `UPDATE sales.orders SET amount = 20, secret = 'west only' WHERE id = 1; INSERT INTO sales.orders VALUES (3, 9, 1.25, 'west only')`)
	p.barrier(ctx, "west")
	if got := p.query(ctx, "east", `SELECT id, customer_id, total::text, coalesce(secret, '-') FROM public.orders ORDER BY id`); got != "1|7|20|east only\n2|8|3|east only\n3|9|1.25|-" {
		t.Errorf("east after west's update and insert:\n%s", got)
	}

	// Deletes are not replicated, either way.
	p.exec(ctx, "east", `DELETE FROM public.orders WHERE id = 2`)
	p.exec(ctx, "west", `DELETE FROM sales.orders WHERE id = 3`)
	p.barrier(ctx, "east")
	p.barrier(ctx, "west")
	if e, w := p.query(ctx, "east", `SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders`),
		p.query(ctx, "west", `SELECT string_agg(id::text, ',' ORDER BY id) FROM sales.orders`); e != "1,3" || w != "1,2" {
		t.Errorf("after the deletes: east %s, west %s; want 1,3 and 1,2", e, w)
	}

	// The plan shows the selection in each node's names.
	code, out, _ := pgduetCmd(t, "plan", "--config", p.cfgPath, "--offline")
	if code != 0 || !strings.Contains(out, "table sales.orders → public.orders on east") || !strings.Contains(out, "amount → total") {
		t.Errorf("plan: exit %d\n%s", code, out)
	}
}

// TestRowFilter: a table block's where, evaluated on the sending side, in
// both directions: rows outside it stay on their node; an UPDATE that moves
// a row out of it is a DELETE on the peer, into it an INSERT of the whole
// row.
func TestRowFilter(t *testing.T) {
	const schema = `CREATE TABLE public.customers (id int PRIMARY KEY, region text NOT NULL, name text, notes text);
ALTER TABLE public.customers REPLICA IDENTITY FULL;
CREATE TABLE public.parts (id int PRIMARY KEY, name text);`
	p := newPair(t, pairOpts{
		schema: schema,
		selection: "table \"public.barrier\" {}\ntable \"public.customers\" {\n  where = \"region IN ('eu', 'uk') AND name IS NOT NULL\"\n}\n" +
			"table \"public.parts\" {\n  where = \"id % 2 = 0\"\n}",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	rows := func(node string) string {
		return p.query(ctx, node, `SELECT coalesce(string_agg(id || ':' || region || ':' || name || ':' || length(coalesce(notes, '')), ' ' ORDER BY id), '') FROM public.customers`)
	}
	step := func(from, sql, wantPeer string) {
		t.Helper()
		p.exec(ctx, from, sql)
		p.barrier(ctx, from)
		if got := rows(peerOf(from)); got != wantPeer {
			t.Fatalf("after %s on %s: %s has %q, want %q", sql, from, peerOf(from), got, wantPeer)
		}
	}
	big := strings.Repeat("n", 5000) // TOASTed: an UPDATE of another column does not repeat it
	step("east", `INSERT INTO public.customers VALUES (1, 'eu', 'ann', ''), (2, 'us', 'bob', '`+big+`'), (3, 'uk', NULL, '')`, "1:eu:ann:0")
	step("east", `UPDATE public.customers SET region = 'us' WHERE id = 1`, "")                       // leaves: a DELETE there
	step("east", `UPDATE public.customers SET region = 'eu' WHERE id = 2`, "2:eu:bob:5000")          // enters: the whole row, its notes too
	step("east", `UPDATE public.customers SET name = 'bob2' WHERE id = 2`, "2:eu:bob2:5000")         // stays in
	step("east", `UPDATE public.customers SET name = 'cy' WHERE id = 3`, "2:eu:bob2:5000 3:uk:cy:0") // NULL was not in, now is
	step("east", `DELETE FROM public.customers WHERE id = 2`, "3:uk:cy:0")
	step("west", `INSERT INTO public.customers VALUES (10, 'uk', 'wes', ''), (11, 'us', 'wyn', '')`, "1:us:ann:0 3:uk:cy:0 10:uk:wes:0")
	if got := rows("west"); got != "3:uk:cy:0 10:uk:wes:0 11:us:wyn:0" {
		t.Errorf("west: %q", got)
	}

	// A filter on the key of a table with the default replica identity: an
	// UPDATE of another column carries no old row and stays an UPDATE; a
	// table altered inside the transaction has rows of both shapes.
	parts := func(node string) string {
		return p.query(ctx, node, `SELECT coalesce(string_agg(to_jsonb(t)::text, ' ' ORDER BY id), '') FROM public.parts t`)
	}
	p.exec(ctx, "east", `INSERT INTO public.parts VALUES (1, 'a'), (2, 'b')`)
	p.exec(ctx, "east", `UPDATE public.parts SET name = 'b2' WHERE id = 2`)
	p.exec(ctx, "east", `BEGIN; INSERT INTO public.parts VALUES (4, 'd'); ALTER TABLE public.parts ADD COLUMN qty int; INSERT INTO public.parts VALUES (6, 'f', 3), (7, 'g', 1); COMMIT`)
	p.barrier(ctx, "east")
	if got := parts("west"); got != `{"id": 2, "qty": null, "name": "b2"} {"id": 4, "qty": null, "name": "d"} {"id": 6, "qty": 3, "name": "f"}` {
		t.Errorf("west public.parts: %s", got)
	}
}
