package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/localpg"
	"github.com/pgduet/pgduet/agent/pgtest"
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

// BenchmarkInitialCopy measures the initial sync's copy next to a raw
// `COPY ... TO STDOUT | COPY ... FROM STDIN` pipe between the same two
// clusters (psql to psql through a shell pipe), for 4 tables of 250,000
// rows: "raw_pipe" pipes the 4 tables one after the other, "raw_pipe_4"
// pipes them 4 at a time, "pgduet_pN" is the initial sync with sync.parallelism N (data
// only: the tables exist on west, so both sides build the same indexes), from
// the receiving agent's start until it reports done.
//
//	make bench   (go test -run '^$' -bench InitialCopy -benchtime 3x ./agent/)
func BenchmarkInitialCopy(b *testing.B) {
	const tables, rowsPerTable = 4, 250_000
	schema := ""
	for i := 1; i <= tables; i++ {
		schema += fmt.Sprintf("CREATE TABLE copy%d (id bigint PRIMARY KEY, n int NOT NULL, t timestamptz NOT NULL, v text NOT NULL);\n", i)
	}
	load := func(b *testing.B, ctx context.Context, p *pair) int64 {
		var bytes int64
		for i := 1; i <= tables; i++ {
			p.exec(ctx, "east", fmt.Sprintf(`INSERT INTO copy%d SELECT g, g %% 1000, '2024-01-01'::timestamptz + g * interval '1 second',
				repeat(md5(g::text), 2) FROM generate_series(1, %d) g`, i, rowsPerTable))
		}
		if err := p.conn["east"].QueryRow(ctx, "SELECT sum(pg_table_size(c.oid))::bigint FROM pg_class c WHERE relname LIKE 'copy_' AND relkind = 'r'").Scan(&bytes); err != nil {
			b.Fatal(err)
		}
		return bytes
	}
	run := func(name string, f func(b *testing.B, ctx context.Context, p *pair) time.Duration) {
		b.Run(name, func(b *testing.B) {
			var elapsed, copying time.Duration
			var rows, bytes int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				p := newPair(b, pairOpts{schema: schema,
					sync: fmt.Sprintf("sync {\n  schema = false\n  data = true\n  parallelism = %d\n}", max(1, parallelismOf(name)))})
				bytes += load(b, ctx, p)
				rows += tables * rowsPerTable
				b.StartTimer()
				start := time.Now()
				copying += f(b, ctx, p)
				elapsed += time.Since(start)
				b.StopTimer()
				p.stop("east")
				p.stop("west")
				cancel()
			}
			b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(bytes)/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(float64(rows)/copying.Seconds(), "copy_rows/s")
		})
	}
	// pipe is the raw baseline, literally `psql -c COPY ... TO STDOUT | psql
	// -c COPY ... FROM STDIN` through a shell pipe.
	bin, err := localpg.FindBin()
	if err != nil {
		b.Fatal(err)
	}
	psql := filepath.Join(bin, "psql")
	pipe := func(b *testing.B, ctx context.Context, p *pair, i int) {
		cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf(`"$PSQL" -X -q -d "$SRC" -c "COPY copy%d TO STDOUT" | "$PSQL" -X -q -d "$DST" -c "COPY copy%d FROM STDIN"`, i, i))
		cmd.Env = append(os.Environ(), "PSQL="+psql, "SRC="+p.cluster["east"].URL(p.db["east"]), "DST="+p.cluster["west"].URL(p.db["west"]),
			"PGPASSWORD="+pgtest.Password)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	run("raw_pipe", func(b *testing.B, ctx context.Context, p *pair) time.Duration {
		start := time.Now()
		for i := 1; i <= tables; i++ {
			pipe(b, ctx, p, i)
		}
		return time.Since(start)
	})
	run("raw_pipe_4", func(b *testing.B, ctx context.Context, p *pair) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for i := 1; i <= tables; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); pipe(b, ctx, p, i) }()
		}
		wg.Wait()
		return time.Since(start)
	})
	// copy_rows/s of pgduet: from the state row (snapshot taken, schema
	// step done) to done, without the agents' start-up.
	for _, n := range []int{1, 2, 4} {
		run(fmt.Sprintf("pgduet_p%d", n), func(b *testing.B, ctx context.Context, p *pair) time.Duration {
			p.start("east", agent.Knobs{})
			p.start("west", agent.Knobs{})
			p.waitInitialSync(ctx, "west", "done")
			var secs float64
			if err := p.conn["west"].QueryRow(ctx, "SELECT extract(epoch FROM finished - started)::float8 FROM pgduet.initial_sync").Scan(&secs); err != nil {
				b.Fatal(err)
			}
			return time.Duration(secs * float64(time.Second))
		})
	}
}

// parallelismOf reads N from a benchmark name ending in _pN (0 otherwise).
func parallelismOf(name string) int {
	var n int
	if i := strings.LastIndex(name, "_p"); i >= 0 {
		fmt.Sscanf(name[i+2:], "%d", &n)
	}
	return n
}
