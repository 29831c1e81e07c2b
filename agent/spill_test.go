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
	p := newPair(t, pairOpts{schema: `CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL, pad text);`})
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

	var rows, wests, extras int
	if err := p.conn["west"].QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE v = 'west'), count(extra) FROM big`).Scan(&rows, &wests, &extras); err != nil {
		t.Fatal(err)
	}
	if left := n - n/7; rows != left || extras != left || wests != 17143 {
		t.Fatalf("west: %d rows, %d updated by west, %d with extra; want %d, 17143, %d", rows, wests, extras, left, left)
	}
	// east sent two (the inserts, the DDL one) and west two (the updates,
	// the deletes), every one spilled on both sides; west applied the DDL
	// one from memory, so its applier counts only the inserts as spilled.
	want := map[string]int64{"east east→west": 2, "west east→west": 1, "west west→east": 2, "east west→east": 2}
	for _, node := range pairNames {
		for _, d := range p.agent(node).Status().Directions {
			if k := node + " " + d.Direction; d.Spilled != want[k] {
				t.Errorf("%s: %d spilled transactions, want %d", k, d.Spilled, want[k])
			}
		}
	}
}
