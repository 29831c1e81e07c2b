package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
)

// TestSpilledTransactions: transactions bigger than the spill threshold go
// through spill files on both sides, both ways, and arrive whole: inserts,
// updates, deletes, and one that also carries DDL (read back into memory on
// the receiving side, where DDL is planned over the whole transaction).
func TestSpilledTransactions(t *testing.T) {
	p := newPair(t, pairOpts{
		schema: `CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL, pad text);
			CREATE TABLE part (id int PRIMARY KEY, region text NOT NULL, pad text);
			ALTER TABLE part REPLICA IDENTITY FULL;`,
		selection: "table \"public.barrier\" {}\ntable \"public.big\" {}\ntable \"public.part\" {\n  where = \"region = 'eu'\"\n}",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	knobs := agent.Knobs{SpillBytes: 128 << 10}
	p.start("east", knobs)
	p.start("west", knobs)
	p.waitState(ctx, "east", "send", agent.StateRunning)
	p.waitState(ctx, "west", "send", agent.StateRunning)

	const n = 30000 // about 5 MB of changes: 40 times the threshold
	p.exec(ctx, "east", `INSERT INTO big SELECT g, 'east', repeat(md5(g::text), 3) FROM generate_series(1, 30000) g`)
	p.barrier(ctx, "east")
	p.exec(ctx, "west", `UPDATE big SET v = 'west' WHERE id % 3 <> 0`)
	p.exec(ctx, "west", `DELETE FROM big WHERE id % 7 = 0`)
	p.converge(ctx)
	p.exec(ctx, "east", `BEGIN;
		UPDATE big SET pad = NULL WHERE id % 2 = 0;
		ALTER TABLE big ADD COLUMN extra int;
		UPDATE big SET extra = id;
		COMMIT`)
	p.converge(ctx)

	// Row filters are decided before each part of a transaction goes to
	// the spill file: rows entering the filter arrive whole, rows leaving it
	// are deleted.
	p.exec(ctx, "east", `INSERT INTO part SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, repeat(md5(g::text), 3) FROM generate_series(1, 20000) g`)
	p.barrier(ctx, "east")
	if got := p.query(ctx, "west", `SELECT count(*) FILTER (WHERE region = 'eu' AND pad IS NOT NULL) || '/' || count(*) FROM part`); got != "10000/10000" {
		t.Fatalf("west part after the filtered insert: %s eu rows with pad / rows, want 10000/10000", got)
	}
	p.exec(ctx, "east", `UPDATE part SET region = CASE region WHEN 'eu' THEN 'us' ELSE 'eu' END WHERE id <= 12000`)
	p.barrier(ctx, "east")
	want := p.query(ctx, "east", `SELECT count(*) || ':' || sum(id) FROM part WHERE region = 'eu'`)
	if got := p.query(ctx, "west", `SELECT count(*) || ':' || sum(id) FROM part WHERE region = 'eu' AND pad IS NOT NULL`); got != want {
		t.Fatalf("west part after the filtered update: %s eu rows, want %s (east)", got, want)
	}
	if got := p.query(ctx, "west", `SELECT count(*) FROM part WHERE region <> 'eu'`); got != "0" {
		t.Fatalf("west part holds %s rows outside the filter", got)
	}

	var rows, wests, extras int
	if err := p.conn["west"].QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE v = 'west'), count(extra) FROM big`).Scan(&rows, &wests, &extras); err != nil {
		t.Fatal(err)
	}
	if left := n - n/7; rows != left || extras != left || wests != 17143 {
		t.Fatalf("west: %d rows, %d updated by west, %d with extra; want %d, 17143, %d", rows, wests, extras, left, left)
	}
	// east sent four (the inserts, the DDL one, part's insert and update)
	// and west two (the updates, the deletes), every one spilled on both
	// sides; west applied the DDL one from memory, so its applier does not
	// count that one as spilled.
	spilled := map[string]int64{"east east→west": 4, "west east→west": 3, "west west→east": 2, "east west→east": 2}
	for _, node := range pairNames {
		for _, d := range p.agent(node).Status().Directions {
			if k := node + " " + d.Direction; d.Spilled != spilled[k] {
				t.Errorf("%s: %d spilled transactions, want %d", k, d.Spilled, spilled[k])
			}
		}
	}
}
