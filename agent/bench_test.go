package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/localpg"
	"github.com/pgduet/pgduet/agent/pgtest"
	"golang.org/x/sync/errgroup"
)

// BenchmarkCatchUp measures how fast one direction applies a backlog: east
// commits 1,000 transactions of 100 rows (inserts, then the same rows updated,
// then deleted) while no agent runs; then both agents start and the clock runs
// until west has applied all of it. It reports row changes per second. The
// backlog has no conflicts: the "overwrite" runs show what a policy that
// survives conflicts costs on the conflict-free path (ON CONFLICT DO NOTHING,
// one savepoint per transaction), and the "last_write_wins" runs what the
// version comparison and the tombstone check add to that. The "native" runs
// apply the same backlog with PostgreSQL's own logical replication (a
// subscription on west, disabled while east writes, then enabled), the
// yardstick of issue 7; the "pglogical" runs do the same with the pglogical
// extension (a subscription each way on two clusters of their own that
// preload it, see benchCatchUpPglogical), timing east→west only.
//
//	make bench   (go test -run '^$' -bench CatchUp -benchtime 3x ./agent/)
func BenchmarkCatchUp(b *testing.B) {
	const txs, rowsPerTx = 1000, 100
	for _, policy := range []string{"native", "pglogical", "fail", "overwrite", "last_write_wins"} {
		for _, phase := range []string{"insert", "update", "delete"} {
			b.Run(policy+"/"+phase, func(b *testing.B) {
				switch policy {
				case "native":
					benchCatchUpNative(b, phase, txs, rowsPerTx)
					return
				case "pglogical":
					benchCatchUpPglogical(b, phase, txs, rowsPerTx)
					return
				}
				benchCatchUp(b, policy, phase, txs, rowsPerTx)
			})
		}
	}
}

// backlog writes the catch-up benchmark's transactions on east.
func backlog(ctx context.Context, p *pair, phase string, txs, rowsPerTx int) {
	writeBacklog(func(q string) { p.exec(ctx, "east", q) }, phase, txs, rowsPerTx)
}

// writeBacklog runs the catch-up benchmark's transactions, one statement of
// rowsPerTx rows each, through exec.
func writeBacklog(exec func(q string), phase string, txs, rowsPerTx int) {
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
		exec(q)
	}
}

// catchUpDone is the query that returns n on west once the whole backlog of
// n row changes of phase is applied there.
func catchUpDone(phase string, n int) string {
	return map[string]string{
		"insert": "SELECT count(*) FROM bench",
		"update": "SELECT count(*) FILTER (WHERE n = 1) FROM bench",
		"delete": fmt.Sprintf("SELECT %d - count(*) FROM bench", n),
	}[phase]
}

// benchCatchUpNative is benchCatchUp with a native subscription instead of
// the agents. Done is when west's rows show the whole backlog.
func benchCatchUpNative(b *testing.B, phase string, txs, rowsPerTx int) {
	n := txs * rowsPerTx
	done := catchUpDone(phase, n)
	wait := func(ctx context.Context, p *pair, q string, want int) {
		if err := pgtest.WaitFor(ctx, "west applied the backlog", func(ctx context.Context) (bool, error) {
			return p.query(ctx, "west", q) == fmt.Sprint(want), nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	var rows int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		p := newPair(b, pairOpts{schema: `CREATE TABLE bench (id bigint PRIMARY KEY, n int NOT NULL, v text NOT NULL);`})
		sub := "bench_" + p.name // its slot is the cluster's, which the pairs share
		// The launcher starts an apply worker at most once per
		// wal_retrieve_retry_interval (5 s): ENABLE would wait for it.
		p.exec(ctx, "west", "ALTER SYSTEM SET wal_retrieve_retry_interval = '50ms'")
		p.exec(ctx, "west", "SELECT pg_reload_conf()")
		p.exec(ctx, "east", "CREATE PUBLICATION bench_pub FOR TABLE bench")
		p.exec(ctx, "west", fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION bench_pub WITH (copy_data = false)",
			sub, p.cluster["east"].DSN(p.db["east"])))
		if phase != "insert" {
			p.exec(ctx, "east", fmt.Sprintf("INSERT INTO bench SELECT g, 0, 'row ' || g FROM generate_series(1, %d) g", n))
			wait(ctx, p, "SELECT count(*) FROM bench", n)
		}
		p.exec(ctx, "west", fmt.Sprintf("ALTER SUBSCRIPTION %s DISABLE", sub))
		if err := pgtest.WaitFor(ctx, "the apply worker stopped", func(ctx context.Context) (bool, error) {
			return p.query(ctx, "west", fmt.Sprintf("SELECT count(*) FROM pg_stat_subscription WHERE subname = '%s' AND pid IS NOT NULL", sub)) == "0", nil
		}); err != nil {
			b.Fatal(err)
		}
		backlog(ctx, p, phase, txs, rowsPerTx)
		b.StartTimer()
		start := time.Now()
		p.exec(ctx, "west", fmt.Sprintf("ALTER SUBSCRIPTION %s ENABLE", sub))
		wait(ctx, p, done, n)
		elapsed += time.Since(start)
		rows += int64(n)
		b.StopTimer()
		p.exec(ctx, "west", fmt.Sprintf("DROP SUBSCRIPTION %s", sub))
		cancel()
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
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
		backlog(ctx, p, phase, txs, rowsPerTx)
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
// rows. Each iteration of "pgduet_pN" runs, each on a fresh pair, the raw
// pipe over the 4 tables one after the other ("raw_pipe"), the raw pipe 4
// tables at a time ("raw_pipe_4"), the same two while west streams its
// changes through a logical slot (pg_recvlogical with pgoutput, as west's
// agent does during the initial sync to send west's own writes: PostgreSQL
// 15's walsender decodes every copied row before it can tell by the origin
// that it need not be sent, and that costs CPU the copy competes for), and
// the initial sync with sync.parallelism N (data only: the tables exist on
// west, so both sides build the same indexes), timed from the state row to
// done. Running them side by side in every iteration keeps the machine's
// drift out of the ratios: vs_pipe, vs_pipe_4, vs_pipe_slot and
// vs_pipe_4_slot are pgduet's rows/s over the pipes'.
//
//	make bench   (go test -run '^$' -bench InitialCopy -benchtime 3x ./agent/)
func BenchmarkInitialCopy(b *testing.B) {
	const tables, rowsPerTable = 4, 250_000
	schema := ""
	for i := 1; i <= tables; i++ {
		schema += fmt.Sprintf("CREATE TABLE copy%d (id bigint PRIMARY KEY, n int NOT NULL, t timestamptz NOT NULL, v text NOT NULL);\n", i)
	}
	bin, err := localpg.FindBin()
	if err != nil {
		b.Fatal(err)
	}
	psql := filepath.Join(bin, "psql")
	// pipe is the raw baseline, literally `psql -c COPY ... TO STDOUT | psql
	// -c COPY ... FROM STDIN` through a shell pipe.
	pipe := func(ctx context.Context, p *pair, i int) error {
		cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf(`"$PSQL" -X -q -d "$SRC" -c "COPY copy%d TO STDOUT" | "$PSQL" -X -q -d "$DST" -c "COPY copy%d FROM STDIN"`, i, i))
		cmd.Env = append(os.Environ(), "PSQL="+psql, "SRC="+p.cluster["east"].URL(p.db["east"]), "DST="+p.cluster["west"].URL(p.db["west"]),
			"PGPASSWORD="+pgtest.Password)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	// streaming runs pg_recvlogical on west's own slot, with pgoutput, until
	// the returned stop is called.
	recv := filepath.Join(bin, "pg_recvlogical")
	streaming := func(b *testing.B, ctx context.Context, p *pair) (stop func()) {
		p.exec(ctx, "west", "CREATE PUBLICATION bench_pub FOR ALL TABLES")
		env := append(os.Environ(), "PGPASSWORD="+pgtest.Password)
		url := p.cluster["west"].URL(p.db["west"])
		slot := "bench_" + p.name // slots are the cluster's, which the pairs share
		create := exec.CommandContext(ctx, recv, "-d", url, "--slot", slot, "--create-slot", "-P", "pgoutput")
		create.Env = env
		if out, err := create.CombinedOutput(); err != nil {
			b.Fatalf("pg_recvlogical --create-slot: %v: %s", err, out)
		}
		cmd := exec.Command(recv, "-d", url, "--slot", slot, "--start", "--no-loop", "-f", "/dev/null",
			"-o", "proto_version=1", "-o", "publication_names=bench_pub")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if err := pgtest.WaitFor(ctx, "west's slot streaming", func(ctx context.Context) (bool, error) {
			return p.query(ctx, "west", fmt.Sprintf("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'", slot)) == "true", nil
		}); err != nil {
			b.Fatal(err)
		}
		return func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			// The walsender ends a moment after its client.
			if err := pgtest.WaitFor(ctx, "west's slot released", func(ctx context.Context) (bool, error) {
				return p.query(ctx, "west", fmt.Sprintf("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'", slot)) == "false", nil
			}); err != nil {
				b.Fatal(err)
			}
			p.exec(ctx, "west", fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", slot))
		}
	}
	serial := func(b *testing.B, ctx context.Context, p *pair) time.Duration {
		start := time.Now()
		for i := 1; i <= tables; i++ {
			if err := pipe(ctx, p, i); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	parallel := func(b *testing.B, ctx context.Context, p *pair) time.Duration {
		start := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		for i := 1; i <= tables; i++ {
			g.Go(func() error { return pipe(gctx, p, i) })
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	withSlot := func(f func(*testing.B, context.Context, *pair) time.Duration) func(*testing.B, context.Context, *pair, int) time.Duration {
		return func(b *testing.B, ctx context.Context, p *pair, _ int) time.Duration {
			stop := streaming(b, ctx, p)
			defer stop()
			return f(b, ctx, p)
		}
	}
	// Each run starts from a fresh pair with the rows on east.
	runs := []struct {
		name string
		copy func(b *testing.B, ctx context.Context, p *pair, n int) time.Duration
	}{
		{"raw_pipe", func(b *testing.B, ctx context.Context, p *pair, _ int) time.Duration { return serial(b, ctx, p) }},
		{"raw_pipe_4", func(b *testing.B, ctx context.Context, p *pair, _ int) time.Duration { return parallel(b, ctx, p) }},
		{"raw_pipe_slot", withSlot(serial)},
		{"raw_pipe_4_slot", withSlot(parallel)},
		{"pgduet", func(b *testing.B, ctx context.Context, p *pair, _ int) time.Duration {
			p.start("east", agent.Knobs{})
			p.start("west", agent.Knobs{})
			p.waitInitialSync(ctx, "west", "done")
			var secs float64
			if err := p.conn["west"].QueryRow(ctx, "SELECT extract(epoch FROM finished - started)::float8 FROM pgduet.initial_sync").Scan(&secs); err != nil {
				b.Fatal(err)
			}
			return time.Duration(secs * float64(time.Second))
		}},
	}
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("pgduet_p%d", n), func(b *testing.B) {
			took := make([]time.Duration, len(runs))
			var bytes int64
			for i := 0; i < b.N; i++ {
				for r, run := range runs {
					b.StopTimer()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
					p := newPair(b, pairOpts{schema: schema,
						sync: fmt.Sprintf("sync {\n  schema = false\n  data = true\n  parallelism = %d\n}", n)})
					for i := 1; i <= tables; i++ {
						p.exec(ctx, "east", fmt.Sprintf(`INSERT INTO copy%d SELECT g, g %% 1000, '2024-01-01'::timestamptz + g * interval '1 second',
							repeat(md5(g::text), 2) FROM generate_series(1, %d) g`, i, rowsPerTable))
					}
					if r == 0 {
						var size int64
						if err := p.conn["east"].QueryRow(ctx, "SELECT sum(pg_table_size(c.oid))::bigint FROM pg_class c WHERE relname LIKE 'copy_' AND relkind = 'r'").Scan(&size); err != nil {
							b.Fatal(err)
						}
						bytes += size
					}
					b.StartTimer()
					took[r] += run.copy(b, ctx, p, n)
					b.StopTimer()
					p.stop("east")
					p.stop("west")
					cancel()
				}
			}
			rows := float64(b.N * tables * rowsPerTable)
			rate := func(d time.Duration) float64 { return rows / d.Seconds() }
			ours := took[len(runs)-1]
			b.ReportMetric(rate(ours), "copy_rows/s")
			b.ReportMetric(float64(bytes)/1e6/ours.Seconds(), "MB/s")
			for r, run := range runs[:len(runs)-1] {
				b.ReportMetric(rate(took[r]), run.name+"_rows/s")
				b.ReportMetric(rate(ours)/rate(took[r]), "vs_"+strings.TrimPrefix(run.name, "raw_"))
			}
		})
	}
}
