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

// benchCatchUpPglogical is benchCatchUpNative with pglogical: two clusters
// of its own (pglogical must be preloaded, which the shared clusters are
// not), a fresh database on each per iteration, a pglogical subscription
// each way as a two-way deployment would have (forward_origins '{}', so
// neither sends back what it applied), and the east→west one disabled while
// east writes the backlog, then enabled with the clock running. Done is
// when west's rows show the whole backlog.
//
// The databases are not dropped (so not made with NewDB): with pglogical
// 2.4.2 preloaded on PostgreSQL 15, DROP DATABASE hangs waiting for
// pglogical's supervisor to absorb a ProcSignalBarrier
// (2ndQuadrant/pglogical#399 and #418), and pgtest's DropDB gives up only
// after 30 s. Each iteration drops its subscriptions and nodes instead,
// which stops its workers and drops its slots and origins, and the clusters
// go with their databases when the benchmark ends (pgtest.New's cleanup).
func benchCatchUpPglogical(b *testing.B, phase string, txs, rowsPerTx int) []float64 {
	b.StopTimer() // the clusters' start is not the catch-up's
	requirePglogical(b)
	n := txs * rowsPerTx
	done := catchUpDone(phase, n)
	clusters := map[string]*pgtest.Cluster{}
	for _, node := range pairNames {
		clusters[node] = pgtest.New(b, "pglogical-"+node, pglogicalConf...)
	}
	// newDB creates a database (never dropped, see above) and connects to it.
	newDB := func(ctx context.Context, node, name string) *pgx.Conn {
		b.Helper()
		admin, err := pgx.Connect(ctx, clusters[node].DSN("postgres"))
		if err != nil {
			b.Fatalf("connect %s: %v", node, err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			b.Fatalf("%s: create database %s: %v", node, name, err)
		}
		conn, err := pgx.Connect(ctx, clusters[node].DSN(name))
		if err != nil {
			b.Fatalf("connect %s/%s: %v", node, name, err)
		}
		b.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	// sub[node] is the subscription on node, from its peer.
	sub := map[string]string{"west": "east_to_west", "east": "west_to_east"}

	var rates []float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		db := map[string]string{}
		conn := map[string]*pgx.Conn{}
		for _, node := range pairNames {
			db[node] = fmt.Sprintf("bench%d", i)
			conn[node] = newDB(ctx, node, db[node])
		}
		exec := func(node, q string) {
			b.Helper()
			if _, err := conn[node].Exec(ctx, q); err != nil {
				b.Fatalf("%s: %s: %v", node, q, err)
			}
		}
		query := func(node, q string) string {
			b.Helper()
			var s *string
			err := conn[node].QueryRow(ctx, "SELECT ("+q+")::text").Scan(&s)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && s == nil) {
				return ""
			}
			if err != nil {
				b.Fatalf("%s: %s: %v", node, q, err)
			}
			return *s
		}
		wait := func(what string, cond func() bool) {
			b.Helper()
			if err := pgtest.WaitFor(ctx, what, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
				b.Fatal(err)
			}
		}

		for _, node := range pairNames {
			exec(node, benchTable)
			if phase != "insert" { // before the subscriptions: not part of the backlog
				seedRows(func(q string) { exec(node, q) }, n)
			}
			exec(node, `CREATE EXTENSION pglogical`)
			exec(node, fmt.Sprintf("SELECT pglogical.create_node(node_name := '%s', dsn := '%s')", node, clusters[node].DSN(db[node])))
			exec(node, `SELECT pglogical.replication_set_add_table(set_name := 'default', relation := 'bench')`)
		}
		for _, node := range pairNames {
			peer := peerOf(node)
			exec(node, fmt.Sprintf(`SELECT pglogical.create_subscription(subscription_name := '%s', provider_dsn := '%s',
				replication_sets := ARRAY['default'], synchronize_structure := false, synchronize_data := false,
				forward_origins := '{}')`, sub[node], clusters[peer].DSN(db[peer])))
		}
		// Both subscriptions stream: the apply worker has made its slot on
		// the provider and the provider's walsender holds it.
		slot := map[string]string{}
		for _, node := range pairNames {
			status := fmt.Sprintf("SELECT status FROM pglogical.show_subscription_status('%s')", sub[node])
			wait(sub[node]+" replicating", func() bool { return query(node, status) == "replicating" })
			slot[node] = query(node, fmt.Sprintf("SELECT slot_name FROM pglogical.show_subscription_status('%s')", sub[node]))
			active := fmt.Sprintf("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'", slot[node])
			wait(sub[node]+"'s slot streaming", func() bool { return query(peerOf(node), active) == "true" })
		}
		// West stops applying: the apply worker ends, then east's walsender.
		exec("west", fmt.Sprintf("SELECT pglogical.alter_subscription_disable(subscription_name := '%s', immediate := true)", sub["west"]))
		wait("west's apply worker stopped", func() bool {
			return query("west", `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND backend_type LIKE 'pglogical apply %'`) == "0"
		})
		wait("east's walsender released the slot", func() bool {
			return query("east", fmt.Sprintf("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'", slot["west"])) == "false"
		})
		writeBacklog(func(q string) { exec("east", q) }, phase, txs, rowsPerTx)

		b.StartTimer()
		start := time.Now()
		exec("west", fmt.Sprintf("SELECT pglogical.alter_subscription_enable(subscription_name := '%s', immediate := true)", sub["west"]))
		wait("west applied the backlog", func() bool { return query("west", done) == fmt.Sprint(n) })
		rates = append(rates, float64(n)/time.Since(start).Seconds())
		b.StopTimer()

		// drop_subscription also drops its slot on the provider and its
		// origin; with the nodes gone, the database's manager exits.
		for _, node := range pairNames {
			exec(node, fmt.Sprintf("SELECT pglogical.drop_subscription(subscription_name := '%s')", sub[node]))
		}
		for _, node := range pairNames {
			exec(node, fmt.Sprintf("SELECT pglogical.drop_node(node_name := '%s')", node))
			conn[node].Close(ctx)
		}
		cancel()
	}
	return rates
}
