package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
)

// BenchmarkCatchUp measures how fast one direction applies a backlog: east
// commits 1,000 transactions of 100 rows (inserts, then the same rows updated,
// then deleted) while no agent runs; then both agents start and the clock runs
// until west has applied all of it. It reports row changes per second. The
// backlog has no conflicts: the "overwrite" runs show what a policy that
// survives conflicts costs on the conflict-free path (ON CONFLICT DO NOTHING,
// one savepoint per transaction), and the "last_write_wins" runs what the
// version comparison and the tombstone check add to that.
//
//	make bench   (go test -run '^$' -bench CatchUp -benchtime 3x ./agent/)
func BenchmarkCatchUp(b *testing.B) {
	const txs, rowsPerTx = 1000, 100
	for _, policy := range []string{"fail", "overwrite", "last_write_wins"} {
		for _, phase := range []string{"insert", "update", "delete"} {
			b.Run(policy+"/"+phase, func(b *testing.B) { benchCatchUp(b, policy, phase, txs, rowsPerTx) })
		}
	}
}

func benchCatchUp(b *testing.B, policy, phase string, txs, rowsPerTx int) {
	var rows int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newPair(b, pairOpts{schema: `CREATE TABLE bench (id bigint PRIMARY KEY, n int NOT NULL, v text NOT NULL);`,
			selection: fmt.Sprintf("schema \"public\" { tables = [\"*\"] }\nconflicts {\n  policy = %q\n}", policy)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		// The slots must exist before the backlog is written: start, wait, stop.
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		if phase != "insert" { // the rows to update or delete exist on both sides already
			p.exec(ctx, "east", fmt.Sprintf("INSERT INTO bench SELECT g, 0, 'row ' || g FROM generate_series(1, %d) g", txs*rowsPerTx))
			p.converge(ctx)
		}
		p.stop("east")
		p.stop("west")
		for t := 0; t < txs; t++ {
			lo, hi := t*rowsPerTx+1, (t+1)*rowsPerTx
			var q string
			switch phase {
			case "insert":
				q = fmt.Sprintf("INSERT INTO bench SELECT g, 0, 'row ' || g FROM generate_series(%d, %d) g", lo, hi)
			case "update":
				q = fmt.Sprintf("UPDATE bench SET n = n + 1 WHERE id BETWEEN %d AND %d", lo, hi)
			case "delete":
				q = fmt.Sprintf("DELETE FROM bench WHERE id BETWEEN %d AND %d", lo, hi)
			}
			p.exec(ctx, "east", q)
		}
		b.StartTimer()
		start := time.Now()
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		p.barrier(ctx, "east")
		elapsed += time.Since(start)
		rows += int64(txs * rowsPerTx)
		b.StopTimer()
		p.stop("east")
		p.stop("west")
		cancel()
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
}
