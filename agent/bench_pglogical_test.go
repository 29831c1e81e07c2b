package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/pgtest"
)

// pglogicalConf is what the pglogical clusters add to pgtest's settings
// (wal_level=logical, track_commit_timestamp=on, 64 slots and origins, 32
// walsenders): the library, and room for its background workers (the
// supervisor, a manager per database, an apply worker per subscription,
// next to PostgreSQL's own launcher; the default 8 is tight).
var pglogicalConf = []string{
	"shared_preload_libraries = 'pglogical'",
	"max_worker_processes = 16",
}

// requirePglogical skips the benchmark when the pglogical extension is not
// installed for the server the tests run, or fails it under
// PGDUET_REQUIRE_PG=1.
func requirePglogical(b *testing.B) {
	b.Helper()
	bin := pgtest.Require(b)
	libdir := filepath.Join(filepath.Dir(bin), "lib") // Debian's layout
	if out, err := exec.Command(filepath.Join(bin, "pg_config"), "--pkglibdir").Output(); err == nil {
		libdir = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(libdir, "pglogical.so")); err == nil {
		return
	}
	major := "<major>"
	if out, err := exec.Command(filepath.Join(bin, "postgres"), "-V").Output(); err == nil {
		if m := regexp.MustCompile(`\(PostgreSQL\) (\d+)`).FindSubmatch(out); m != nil {
			major = string(m[1])
		}
	}
	msg := fmt.Sprintf("pglogical is not installed for the PostgreSQL server in %s (no pglogical.so in %s): apt-get install -y postgresql-%s-pglogical",
		bin, libdir, major)
	if os.Getenv("PGDUET_REQUIRE_PG") == "1" {
		b.Fatal("PGDUET_REQUIRE_PG=1: " + msg)
	}
	b.Skip("skipping: " + msg)
}

// pglogicalPair is two clusters that preload pglogical (the shared clusters
// do not), for benchmarks that compare with it.
//
// Its databases are not dropped (so not made with NewDB): with pglogical
// 2.4.2 preloaded on PostgreSQL 15, DROP DATABASE hangs waiting for
// pglogical's supervisor to absorb a ProcSignalBarrier
// (2ndQuadrant/pglogical#399 and #418), and pgtest's DropDB gives up only
// after 30 s. Each use drops its subscriptions and nodes instead (close),
// which stops its workers and drops its slots and origins, and the clusters
// go with their databases when the benchmark ends (pgtest.New's cleanup).
type pglogicalPair struct {
	b        *testing.B
	clusters map[string]*pgtest.Cluster
	seq      int
}

func newPglogicalPair(b *testing.B) *pglogicalPair {
	b.Helper()
	requirePglogical(b)
	p := &pglogicalPair{b: b, clusters: map[string]*pgtest.Cluster{}}
	for _, node := range pairNames {
		p.clusters[node] = pgtest.New(b, "pglogical-"+node, pglogicalConf...)
	}
	return p
}

// pglogicalDBs is one database on each cluster, in sync through a pglogical
// subscription each way (forward_origins '{}', so neither sends back what
// it applied), as a two-way deployment would have.
type pglogicalDBs struct {
	p    *pglogicalPair
	ctx  context.Context
	db   map[string]string
	conn map[string]*pgx.Conn
	sub  map[string]string // the subscription on a node, from its peer
	slot map[string]string // its slot, on the peer
}

// open creates a database on each cluster, runs schema and seed there (seed
// before any subscription exists, so its rows are not replicated), puts
// every table of schema public in the default replication set, and
// subscribes each node to the other; it returns once both stream.
func (p *pglogicalPair) open(ctx context.Context, schema string, seed func(exec func(q string))) *pglogicalDBs {
	b := p.b
	b.Helper()
	p.seq++
	d := &pglogicalDBs{p: p, ctx: ctx, db: map[string]string{}, conn: map[string]*pgx.Conn{},
		sub: map[string]string{"west": "east_to_west", "east": "west_to_east"}, slot: map[string]string{}}
	for _, node := range pairNames {
		d.db[node] = fmt.Sprintf("bench%d", p.seq)
		admin, err := pgx.Connect(ctx, p.clusters[node].DSN("postgres"))
		if err != nil {
			b.Fatalf("connect %s: %v", node, err)
		}
		_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{d.db[node]}.Sanitize())
		admin.Close(ctx)
		if err != nil {
			b.Fatalf("%s: create database %s: %v", node, d.db[node], err)
		}
		conn, err := pgx.Connect(ctx, p.clusters[node].DSN(d.db[node]))
		if err != nil {
			b.Fatalf("connect %s/%s: %v", node, d.db[node], err)
		}
		d.conn[node] = conn
		b.Cleanup(func() { conn.Close(context.Background()) })
	}
	for _, node := range pairNames {
		d.exec(node, schema)
		if seed != nil {
			seed(func(q string) { d.exec(node, q) })
		}
		d.exec(node, `CREATE EXTENSION pglogical`)
		d.exec(node, fmt.Sprintf("SELECT pglogical.create_node(node_name := '%s', dsn := '%s')", node, p.clusters[node].DSN(d.db[node])))
		d.exec(node, `SELECT pglogical.replication_set_add_all_tables(set_name := 'default', schema_names := ARRAY['public'])`)
	}
	for _, node := range pairNames {
		peer := peerOf(node)
		d.exec(node, fmt.Sprintf(`SELECT pglogical.create_subscription(subscription_name := '%s', provider_dsn := '%s',
			replication_sets := ARRAY['default'], synchronize_structure := false, synchronize_data := false,
			forward_origins := '{}')`, d.sub[node], p.clusters[peer].DSN(d.db[peer])))
	}
	// Both subscriptions stream: the apply worker has made its slot on the
	// provider and the provider's walsender holds it.
	for _, node := range pairNames {
		status := fmt.Sprintf("SELECT status FROM pglogical.show_subscription_status('%s')", d.sub[node])
		d.wait(d.sub[node]+" replicating", func() bool { return d.query(node, status) == "replicating" })
		d.slot[node] = d.query(node, fmt.Sprintf("SELECT slot_name FROM pglogical.show_subscription_status('%s')", d.sub[node]))
		active := fmt.Sprintf("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'", d.slot[node])
		d.wait(d.sub[node]+"'s slot streaming", func() bool { return d.query(peerOf(node), active) == "true" })
	}
	return d
}

func (d *pglogicalDBs) exec(node, q string) {
	d.p.b.Helper()
	if _, err := d.conn[node].Exec(d.ctx, q); err != nil {
		d.p.b.Fatalf("%s: %s: %v", node, q, err)
	}
}

// query returns the first column of the first row as text ("" for none or NULL).
func (d *pglogicalDBs) query(node, q string) string {
	d.p.b.Helper()
	var s *string
	err := d.conn[node].QueryRow(d.ctx, "SELECT ("+q+")::text").Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && s == nil) {
		return ""
	}
	if err != nil {
		d.p.b.Fatalf("%s: %s: %v", node, q, err)
	}
	return *s
}

func (d *pglogicalDBs) wait(what string, cond func() bool) {
	d.p.b.Helper()
	if err := pgtest.WaitFor(d.ctx, what, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		d.p.b.Fatal(err)
	}
}

// close drops the subscriptions (and with them their slots and origins) and
// the nodes; with the nodes gone, the database's manager exits.
func (d *pglogicalDBs) close() {
	for _, node := range pairNames {
		d.exec(node, fmt.Sprintf("SELECT pglogical.drop_subscription(subscription_name := '%s')", d.sub[node]))
	}
	for _, node := range pairNames {
		d.exec(node, fmt.Sprintf("SELECT pglogical.drop_node(node_name := '%s')", node))
		d.conn[node].Close(d.ctx)
	}
}

// benchCatchUpPglogical is benchCatchUpNative with pglogical: the east→west
// subscription is disabled while east writes the backlog, then enabled with
// the clock running. Done is when west's rows show the whole backlog.
func benchCatchUpPglogical(b *testing.B, phase string, txs, rowsPerTx int) []float64 {
	b.StopTimer() // the clusters' start is not the catch-up's
	pl := newPglogicalPair(b)
	n := txs * rowsPerTx
	done := catchUpDone(phase, n)
	var rates []float64
	for i := 0; i < benchRuns(b); i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		var seed func(exec func(q string))
		if phase != "insert" { // before the subscriptions: not part of the backlog
			seed = func(exec func(q string)) { seedRows(exec, n) }
		}
		d := pl.open(ctx, benchTable, seed)

		// West stops applying: the apply worker ends, then east's walsender.
		d.exec("west", fmt.Sprintf("SELECT pglogical.alter_subscription_disable(subscription_name := '%s', immediate := true)", d.sub["west"]))
		d.wait("west's apply worker stopped", func() bool {
			return d.query("west", `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND backend_type LIKE 'pglogical apply %'`) == "0"
		})
		d.wait("east's walsender released the slot", func() bool {
			return d.query("east", fmt.Sprintf("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'", d.slot["west"])) == "false"
		})
		writeBacklog(func(q string) { d.exec("east", q) }, phase, txs, rowsPerTx)

		b.StartTimer()
		start := time.Now()
		d.exec("west", fmt.Sprintf("SELECT pglogical.alter_subscription_enable(subscription_name := '%s', immediate := true)", d.sub["west"]))
		d.wait("west applied the backlog", func() bool { return d.query("west", done) == fmt.Sprint(n) })
		rates = append(rates, float64(n)/time.Since(start).Seconds())
		b.StopTimer()
		d.close()
		cancel()
	}
	return rates
}
