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
