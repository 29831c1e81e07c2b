package agent_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/change"
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
	// West fails its first spilled transaction after the commit, before the
	// ack, as a crash would: the stream ends, and east resumes from west's
	// origin progress, which the commit moved past that transaction: nothing
	// is applied twice, nothing is lost.
	var failed atomic.Bool
	westKnobs := knobs
	westKnobs.AfterApplyCommit = func(tx *change.Tx) error {
		if tx.Spill != nil && failed.CompareAndSwap(false, true) {
			return errors.New("test: lost the ack of a spilled transaction")
		}
		return nil
	}
	p.start("west", westKnobs)
	p.waitState(ctx, "east", "send", agent.StateRunning)
	p.waitState(ctx, "west", "send", agent.StateRunning)

	const n = 30000 // about 5 MB of changes: 40 times the threshold
	p.exec(ctx, "east", `INSERT INTO big SELECT g, 'east', repeat(md5(g::text), 3) FROM generate_series(1, 30000) g`)
	p.barrier(ctx, "east")
	if !failed.Load() {
		t.Fatal("west's first spilled transaction was not failed after its commit")
	}
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
	// Counts are per session: east's second one sent three (the DDL one,
	// part's insert and update) and west two (the updates, the deletes),
	// every one spilled on both sides; west's applier applied the DDL one
	// from memory, so it counts two.
	spilled := map[string]int64{"east east→west": 3, "west east→west": 2, "west west→east": 2, "east west→east": 2}
	if got := p.query(ctx, "west", `SELECT count(*) FROM pgduet.conflicts`); got != "0" {
		t.Errorf("west recorded %s conflicts: a spilled transaction applied twice?", got)
	}
	for _, node := range pairNames {
		for _, d := range p.agent(node).Status().Directions {
			if k := node + " " + d.Direction; d.Spilled != spilled[k] {
				t.Errorf("%s: %d spilled transactions, want %d", k, d.Spilled, spilled[k])
			}
		}
	}
}
