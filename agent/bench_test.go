package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/localpg"
	"github.com/pgduet/pgduet/agent/pgtest"
	"golang.org/x/sync/errgroup"
)

// BenchmarkCatchUp measures how fast a backlog is applied, next to
// PostgreSQL's own logical replication and pglogical (issue 7): east
// commits PGDUET_BENCH_ROWS row changes (default 1,000,000) while nothing
// applies them, as inserts, then updates of those rows, then deletes, in
// transactions of 1, 100 and 10,000 rows; then the system under test
// applies the backlog on west and the clock runs until west shows all of
// it. Each sub-benchmark reports the median rows/s of its iterations
// (PGDUET_BENCH_RUNS, or -benchtime Nx), and the benchmark ends with one table: every median and
// its ratio to the native figure of the same phase and size.
//
//   - native: a subscription on west (copy_data off), disabled while east
//     writes, timed from ENABLE. West's wal_retrieve_retry_interval is
//     lowered, or the launcher waits up to 5 s to start the worker.
//   - pglogical: a subscription each way (forward_origins '{}') on two
//     clusters of their own that preload it, the west one disabled while
//     east writes, timed from enable (see benchCatchUpPglogical).
//   - pgduet: both agents, conflict policy fail, timed from the agents'
//     start (connecting, checks and handshake included) until a barrier row
//     behind the backlog arrives. pgduet_overwrite and
//     pgduet_last_write_wins run the 100-row size only: what the policies
//     cost on the conflict-free path.
//
// The rows to update or delete are inserted on both nodes before any slot
// or subscription exists, so only the phase's own changes are the backlog.
//
//	make bench   (PGDUET_BENCH_RUNS=3 go test -run '^$' -bench CatchUp -benchtime 1x ./agent/)
func BenchmarkCatchUp(b *testing.B) {
	n := benchRows(b)
	table := &catchUpTable{}
	for _, phase := range []string{"insert", "update", "delete"} {
		for _, size := range []int{1, 100, 10000} {
			if size > n {
				continue
			}
			for _, system := range []string{"native", "pglogical", "pgduet", "pgduet_overwrite", "pgduet_last_write_wins"} {
				if strings.HasPrefix(system, "pgduet_") && size != 100 {
					continue
				}
				b.Run(fmt.Sprintf("%s/tx%d/%s", phase, size, system), func(b *testing.B) {
					txs := n / size
					var rates []float64
					switch system {
					case "native":
						rates = benchCatchUpNative(b, phase, txs, size)
					case "pglogical":
						rates = benchCatchUpPglogical(b, phase, txs, size)
					default:
						policy := strings.TrimPrefix(strings.TrimPrefix(system, "pgduet"), "_")
						if policy == "" {
							policy = "fail"
						}
						rates = benchCatchUp(b, policy, phase, txs, size)
					}
					m := median(rates)
					b.ReportMetric(m, "rows/s")
					table.add(phase, size, system, m)
				})
			}
		}
	}
	table.print(b, n)
}

// benchRows is the catch-up backlog: PGDUET_BENCH_ROWS, default 1,000,000.
func benchRows(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("PGDUET_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("PGDUET_BENCH_ROWS=%q: want a whole number of rows, at least 1", v)
		}
	}
	return n
}

// benchRuns is how many runs each benchmark makes and takes the median of:
// PGDUET_BENCH_RUNS when set (make bench sets 3 and -benchtime 1x, so that
// the testing package's own first run with b.N = 1 is the only one), else
// b.N.
func benchRuns(b *testing.B) int {
	if v := os.Getenv("PGDUET_BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PGDUET_BENCH_RUNS=%q: want a whole number of runs, at least 1", v)
		}
		return n
	}
	return b.N
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// catchUpTable collects the catch-up medians for the closing table.
type catchUpTable struct {
	mu   sync.Mutex
	rows []catchUpResult
}

type catchUpResult struct {
	phase  string
	size   int
	system string
	rate   float64
}

// add records a sub-benchmark's median. The testing package runs each
// sub-benchmark once with b.N = 1 before the -benchtime run: the later
// result replaces the earlier.
func (t *catchUpTable) add(phase string, size int, system string, rate float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, r := range t.rows {
		if r.phase == phase && r.size == size && r.system == system {
			t.rows[i].rate = rate
			return
		}
	}
	t.rows = append(t.rows, catchUpResult{phase, size, system, rate})
}

// print writes the table: per phase and size, each system's median and its
// ratio to native's.
func (t *catchUpTable) print(b *testing.B, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.rows) == 0 {
		return
	}
	var w strings.Builder
	fmt.Fprintf(&w, "\ncatch-up apply, %d row changes per run, median rows/s (ratio to native)\n", n)
	fmt.Fprintf(&w, "%-7s %-8s %-24s %12s %8s\n", "phase", "tx rows", "system", "rows/s", "/native")
	for _, r := range t.rows {
		ratio := "-"
		for _, o := range t.rows {
			if o.phase == r.phase && o.size == r.size && o.system == "native" && o.rate > 0 {
				ratio = fmt.Sprintf("%.2f", r.rate/o.rate)
			}
		}
		fmt.Fprintf(&w, "%-7s %-8d %-24s %12.0f %8s\n", r.phase, r.size, r.system, r.rate, ratio)
	}
	// The mixed backlog: every phase and size one after the other, the
	// same number of rows each, so its rate is the harmonic mean of the
	// cells (total rows over total time), for the systems that ran them all.
	cells := map[string]int{}
	secs := map[string]float64{}
	var systems []string
	for _, r := range t.rows {
		if r.rate <= 0 {
			continue
		}
		if cells[r.system] == 0 {
			systems = append(systems, r.system)
		}
		cells[r.system]++
		secs[r.system] += float64(n) / r.rate
	}
	most := 0
	for _, c := range cells {
		most = max(most, c)
	}
	for _, sys := range systems {
		if cells[sys] != most || most < 2 {
			continue
		}
		rate := float64(most*n) / secs[sys]
		ratio := "-"
		if secs["native"] > 0 && cells["native"] == most {
			ratio = fmt.Sprintf("%.2f", secs["native"]/secs[sys])
		}
		fmt.Fprintf(&w, "%-7s %-8s %-24s %12.0f %8s\n", "mixed", "all", sys, rate, ratio)
	}
	b.Log(w.String())
	fmt.Print(w.String())
}

// writeBacklog runs the catch-up benchmark's transactions through exec: txs
// transactions of rowsPerTx rows each, in one DO block that commits after
// each (one round trip, so writing 1,000,000 one-row transactions takes
// seconds, not minutes).
func writeBacklog(exec func(q string), phase string, txs, rowsPerTx int) {
	var stmt string
	switch phase {
	case "insert":
		stmt = "INSERT INTO bench SELECT g, 0, 'row ' || g FROM generate_series(lo, hi) g"
	case "update":
		stmt = "UPDATE bench SET n = n + 1 WHERE id BETWEEN lo AND hi"
	case "delete":
		stmt = "DELETE FROM bench WHERE id BETWEEN lo AND hi"
	}
	exec(fmt.Sprintf(`DO $$
DECLARE lo bigint; hi bigint;
BEGIN
  FOR t IN 0..%d LOOP
    lo := t::bigint * %d + 1; hi := (t + 1)::bigint * %d;
    %s;
    COMMIT;
  END LOOP;
END $$`, txs-1, rowsPerTx, rowsPerTx, stmt))
}

// seedRows inserts the n rows an update or delete phase changes.
func seedRows(exec func(q string), n int) {
	exec(fmt.Sprintf("INSERT INTO bench SELECT g, 0, 'row ' || g FROM generate_series(1, %d) g", n))
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

const benchTable = `CREATE TABLE bench (id bigint PRIMARY KEY, n int NOT NULL, v text NOT NULL);`

// benchCatchUpNative is benchCatchUp with a native subscription instead of
// the agents; it returns each iteration's rows/s.
func benchCatchUpNative(b *testing.B, phase string, txs, rowsPerTx int) []float64 {
	n := txs * rowsPerTx
	done := catchUpDone(phase, n)
	var rates []float64
	for i := 0; i < benchRuns(b); i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		p := newPair(b, pairOpts{schema: benchTable})
		if phase != "insert" {
			for _, node := range pairNames {
				seedRows(func(q string) { p.exec(ctx, node, q) }, n)
			}
		}
		sub := "bench_" + p.name // its slot is the cluster's, which the pairs share
		p.exec(ctx, "west", "ALTER SYSTEM SET wal_retrieve_retry_interval = '50ms'")
		p.exec(ctx, "west", "SELECT pg_reload_conf()")
		p.exec(ctx, "east", "CREATE PUBLICATION bench_pub FOR TABLE bench")
		p.exec(ctx, "west", fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION bench_pub WITH (copy_data = false, enabled = false)",
			sub, p.cluster["east"].DSN(p.db["east"])))
		writeBacklog(func(q string) { p.exec(ctx, "east", q) }, phase, txs, rowsPerTx)
		b.StartTimer()
		start := time.Now()
		p.exec(ctx, "west", fmt.Sprintf("ALTER SUBSCRIPTION %s ENABLE", sub))
		if err := pgtest.WaitFor(ctx, "west applied the backlog", func(ctx context.Context) (bool, error) {
			return p.query(ctx, "west", done) == fmt.Sprint(n), nil
		}); err != nil {
			b.Fatal(err)
		}
		rates = append(rates, float64(n)/time.Since(start).Seconds())
		b.StopTimer()
		p.exec(ctx, "west", fmt.Sprintf("DROP SUBSCRIPTION %s", sub))
		cancel()
	}
	return rates
}

// benchCatchUp runs the agents with conflict policy `policy`; it returns
// each iteration's rows/s, from the agents' start until the backlog is
// there.
func benchCatchUp(b *testing.B, policy, phase string, txs, rowsPerTx int) []float64 {
	n := txs * rowsPerTx
	var rates []float64
	for i := 0; i < benchRuns(b); i++ {
		b.StopTimer()
		p := newPair(b, pairOpts{schema: benchTable,
			selection: fmt.Sprintf("schema \"public\" { tables = [\"*\"] }\nconflicts {\n  policy = %q\n}", policy)})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		if phase != "insert" { // before the slots exist: not part of the backlog
			for _, node := range pairNames {
				seedRows(func(q string) { p.exec(ctx, node, q) }, n)
			}
		}
		// The slots must exist before the backlog is written: start, wait, stop.
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		p.stop("east")
		p.stop("west")
		writeBacklog(func(q string) { p.exec(ctx, "east", q) }, phase, txs, rowsPerTx)
		b.StartTimer()
		start := time.Now()
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		p.barrier(ctx, "east")
		rates = append(rates, float64(n)/time.Since(start).Seconds())
		b.StopTimer()
		p.stop("east")
		p.stop("west")
		cancel()
	}
	return rates
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
//	make bench   (PGDUET_BENCH_RUNS=3 go test -run '^$' -bench InitialCopy -benchtime 1x ./agent/)
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
			for i := 0; i < benchRuns(b); i++ {
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
			rows := float64(benchRuns(b) * tables * rowsPerTable)
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

// BenchmarkBigTransaction measures the agents' memory while one
// transaction of PGDUET_BENCH_TX_ROWS rows (default 5,000,000, issue 7's
// case) is shipped from east to west: both agents run as `pgduet run`
// processes, and each one's peak resident set (VmHWM in /proc/PID/status)
// is reported after west has the whole transaction, with the time from the
// INSERT's start until then.
//
//	go test -run '^$' -bench BigTransaction -benchtime 1x ./agent/
func BenchmarkBigTransaction(b *testing.B) {
	rows := 5_000_000
	if v := os.Getenv("PGDUET_BENCH_TX_ROWS"); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil || rows < 1 {
			b.Fatalf("PGDUET_BENCH_TX_ROWS=%q: want a whole number of rows, at least 1", v)
		}
	}
	peak := map[string]float64{}
	var elapsed time.Duration
	for i := 0; i < benchRuns(b); i++ {
		b.StopTimer()
		p := newPair(b, pairOpts{schema: benchTable})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		p.startProcess("east")
		p.startProcess("west")
		// A process does not say when it is ready: wait for both slots to
		// stream (the rows written before a slot exists are not sent).
		for _, node := range pairNames {
			q := fmt.Sprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgduet_%s_%s' AND active", p.name, node)
			if err := pgtest.WaitFor(ctx, node+"'s slot streaming", func(ctx context.Context) (bool, error) {
				return p.query(ctx, node, q) == "1", nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		p.barrier(ctx, "east")
		b.StartTimer()
		start := time.Now()
		p.exec(ctx, "east", fmt.Sprintf("INSERT INTO bench SELECT g, 0, 'row ' || g FROM generate_series(1, %d) g", rows))
		p.barrier(ctx, "east")
		elapsed += time.Since(start)
		b.StopTimer()
		if got := p.query(ctx, "west", "SELECT count(*) FROM bench"); got != strconv.Itoa(rows) {
			b.Fatalf("west has %s rows, want %d", got, rows)
		}
		for _, node := range pairNames {
			p.mu.Lock()
			r := p.running[node]
			p.mu.Unlock()
			kb, err := peakRSS(r.proc.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			peak[node] = max(peak[node], float64(kb)/1024)
		}
		p.stop("east")
		p.stop("west")
		cancel()
	}
	b.ReportMetric(peak["east"], "east_peak_MiB")
	b.ReportMetric(peak["west"], "west_peak_MiB")
	b.ReportMetric(float64(rows)*float64(benchRuns(b))/elapsed.Seconds(), "rows/s")
}

// peakRSS reads a process's peak resident set size (VmHWM), in KiB.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
