// Package demo runs `pgduet demo`: two throwaway PostgreSQL clusters on loopback,
// the example config (examples/localhost.hcl), two agents in this process, a
// short two-sided workload, and a verification that both sides hold the same
// data. It cleans up after itself.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/localpg"
	"github.com/pgduet/pgduet/agent/verify"
	"github.com/pgduet/pgduet/examples"
	"github.com/pgduet/pgduet/policies"
)

// Options tune the demo.
type Options struct {
	Out          io.Writer // progress and results
	Transactions int       // transactions each node writes (default 500)
	Keep         bool      // keep the clusters' directories
}

// seedAccounts is how many rows east holds before the agents start.
const seedAccounts = 10000

var seedSQL = fmt.Sprintf(`
INSERT INTO accounts (id, owner, balance) SELECT -g, 'seed-' || g, g %% 100 FROM generate_series(1, %d) g;
`, seedAccounts)

// initialSyncDone waits until west's initial sync is done.
func initialSyncDone(ctx context.Context, west *agent.Agent, agentErr <-chan error) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		st := west.Status()
		if st.InitialSync != nil && st.InitialSync.State == "done" {
			return nil
		}
		for _, d := range st.Directions {
			if d.State == agent.StateFailed {
				return fmt.Errorf("direction %s failed: %s", d.Direction, d.LastError)
			}
		}
		select {
		case err := <-agentErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// syncSummary says what the initial sync copied.
func syncSummary(a *agent.Agent) string {
	st := a.Status()
	var rows int64
	for _, t := range st.InitialSync.Tables {
		rows += t.Rows
	}
	return fmt.Sprintf("%d tables, %d rows", len(st.InitialSync.Tables), rows)
}

const schemaSQL = `
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0);
CREATE TABLE orders (id bigint PRIMARY KEY, account_id int NOT NULL, amount numeric(12,2) NOT NULL,
                     note text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE events (id bigint PRIMARY KEY, node text NOT NULL, payload jsonb);
`

type node struct {
	name    string
	cluster *localpg.Cluster
	conn    *pgx.Conn
	base    int64 // first key this node writes: keys never collide between nodes
}

// Run runs the demo. It returns an error when anything fails or the two sides do
// not converge.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Transactions <= 0 {
		o.Transactions = 500
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }
	say("pgduet demo: two throwaway PostgreSQL clusters, two agents, two-way sync")

	nodes := []*node{{name: "east", base: 1_000_000}, {name: "west", base: 2_000_000}}
	for _, n := range nodes {
		c, err := localpg.Start("demo-" + n.name)
		if err != nil {
			return fmt.Errorf("start cluster %s: %w", n.name, err)
		}
		n.cluster = c
		defer func() {
			if n.conn != nil {
				n.conn.Close(context.Background())
			}
			if o.Keep {
				say("kept cluster %s in %s (stop it with: pg_ctl -D %s stop)", n.name, c.Dir, c.DataDir())
				return
			}
			c.Destroy()
		}()
		say("  cluster %-4s  PostgreSQL on 127.0.0.1:%d (data in %s)", n.name, c.Port, c.Dir)
	}
	logDir, err := os.MkdirTemp("", "pgduet-demo-log-")
	if err != nil {
		return err
	}
	logPath := filepath.Join(logDir, "agents.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() {
		logFile.Close()
		if err != nil || o.Keep {
			fmt.Fprintf(o.Out, "agents' log: %s\n", logPath)
			return
		}
		os.RemoveAll(logDir)
	}()
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// The schema and some rows on east only: west starts empty, and the
	// initial sync copies both.
	for i, n := range nodes {
		admin, err := pgx.Connect(ctx, n.cluster.DSN("postgres"))
		if err != nil {
			return err
		}
		_, err = admin.Exec(ctx, "CREATE DATABASE shop")
		admin.Close(ctx)
		if err != nil {
			return err
		}
		if n.conn, err = pgx.Connect(ctx, n.cluster.DSN("shop")); err != nil {
			return err
		}
		if i > 0 {
			continue
		}
		if _, err := n.conn.Exec(ctx, schemaSQL+seedSQL); err != nil {
			return fmt.Errorf("create demo schema on %s: %w", n.name, err)
		}
	}
	say("  east          schema and %d seed accounts; west: an empty database", seedAccounts)

	cfg, err := loadConfig(nodes)
	if err != nil {
		return err
	}
	say("  config        examples/localhost.hcl (pair %q, digest %s)", cfg.Pair.Name, cfg.Digest())

	actx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	agentErr := make(chan error, 2)
	defer func() { stopAgents(); wg.Wait() }()
	var west *agent.Agent
	for _, n := range nodes {
		a, err := agent.New(cfg, n.name, agent.Options{Logger: log, StatusInterval: time.Second, HeartbeatInterval: time.Second})
		if err != nil {
			return err
		}
		west = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(actx); err != nil {
				agentErr <- fmt.Errorf("agent %s: %w", n.name, err)
			}
		}()
		// From Ready on, the node's slot exists: every write is captured.
		select {
		case <-a.Ready():
		case err := <-agentErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	say("  agents        east and west running (plain TCP on loopback)")

	say("\nInitial sync: west copies east's schema and rows under one snapshot ...")
	start := time.Now()
	if err := initialSyncDone(ctx, west, agentErr); err != nil {
		return err
	}
	say("  done in %s: %s", time.Since(start).Round(time.Millisecond), syncSummary(west))

	say("\nBoth nodes write at the same time, each to its own keys: %d transactions each", o.Transactions)
	start = time.Now()
	var werr [2]error
	var wwg sync.WaitGroup
	for i, n := range nodes {
		wwg.Add(1)
		go func() { defer wwg.Done(); werr[i] = workload(ctx, n, o.Transactions) }()
	}
	wwg.Wait()
	for _, e := range werr {
		if e != nil {
			return e
		}
	}
	say("  written in %s", time.Since(start).Round(time.Millisecond))

	say("\nWaiting until each node has applied everything the other committed ...")
	start = time.Now()
	if err := catchUp(ctx, cfg, nodes, agentErr); err != nil {
		return err
	}
	say("  caught up in %s", time.Since(start).Round(time.Millisecond))

	say("\neast runs TRUNCATE events (replicated: public.events opts in to truncate)")
	if _, err := nodes[0].conn.Exec(ctx, "TRUNCATE events"); err != nil {
		return err
	}
	if err := catchUp(ctx, cfg, nodes, agentErr); err != nil {
		return err
	}

	say("\neast changes the schema in one query string, with rows in between (DDL flows east → west):")
	const ddl = `ALTER TABLE accounts ADD COLUMN tier text NOT NULL DEFAULT 'standard';
UPDATE accounts SET tier = 'gold' WHERE balance > 1000;
CREATE INDEX accounts_tier_idx ON accounts (tier)`
	for _, l := range strings.Split(ddl, "\n") {
		say("  | %s", l)
	}
	if _, err := nodes[0].conn.Exec(ctx, ddl); err != nil {
		return err
	}
	if err := catchUp(ctx, cfg, nodes, agentErr); err != nil {
		return err
	}
	var westIdx string
	var gold int64
	if err := nodes[1].conn.QueryRow(ctx, `SELECT (SELECT indexdef FROM pg_indexes WHERE indexname = 'accounts_tier_idx'),
		(SELECT count(*) FROM accounts WHERE tier = 'gold')`).Scan(&westIdx, &gold); err != nil {
		return fmt.Errorf("west after east's DDL: %w", err)
	}
	say("  west now has: %s; %d gold accounts (the UPDATE arrived as rows, not replayed)", westIdx, gold)

	say("\npgduet verify:")
	tables, err := verify.ListTables(ctx, nodes[0].conn, func(s, t string) bool { _, ok := cfg.Selected(s, t); return ok })
	if err != nil {
		return err
	}
	results, err := verify.Compare(ctx, nodes[0].conn, nodes[1].conn, tables)
	if err != nil {
		return err
	}
	equal := true
	for _, r := range results {
		mark := "equal"
		if !r.Equal {
			mark, equal = "DIFFERS", false
		}
		say("  %-16s east %6d rows %s   west %6d rows %s   %s", r.Table, r.A.Rows, r.A.Hash, r.B.Rows, r.B.Hash, mark)
	}
	if !equal {
		return fmt.Errorf("the two nodes differ after catch-up")
	}
	say("\nboth sides converged: %d tables identical on east and west", len(results))
	return nil
}

// loadConfig loads the embedded example config with the demo's ports.
func loadConfig(nodes []*node) (*policies.Config, error) {
	ports := map[string]string{"PGDUET_DEMO_PASSWORD": localpg.Password}
	for _, n := range nodes {
		up := map[string]string{"east": "EAST", "west": "WEST"}[n.name]
		ports["PGDUET_"+up+"_PGPORT"] = strconv.Itoa(n.cluster.Port)
		for _, k := range []string{"PORT", "ADMIN"} {
			p, err := localpg.FreePort()
			if err != nil {
				return nil, err
			}
			ports["PGDUET_"+up+"_"+k] = strconv.Itoa(p)
		}
	}
	for k, v := range ports {
		os.Setenv(k, v)
	}
	cfg, diags := policies.Parse("examples/localhost.hcl", examples.Localhost())
	if diags.HasErrors() {
		return nil, fmt.Errorf("examples/localhost.hcl:\n%s", policies.FormatDiagnostics(diags))
	}
	return cfg, nil
}

// workload writes n transactions on one node: accounts, orders (inserted,
// updated, some deleted) and events, all keyed inside the node's own range.
func workload(ctx context.Context, n *node, count int) error {
	for a := 0; a < 5; a++ {
		if _, err := n.conn.Exec(ctx, "INSERT INTO accounts (id, owner) VALUES ($1, $2)", n.base+int64(a), fmt.Sprintf("%s-customer-%d", n.name, a)); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	for i := 0; i < count; i++ {
		id := n.base + int64(i)
		acct := n.base + int64(i%5)
		err := pgx.BeginFunc(ctx, n.conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO orders (id, account_id, amount, note) VALUES ($1, $2, $3, $4)",
				id, acct, float64(i%97)+0.5, fmt.Sprintf("order %d from %s", i, n.name)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE accounts SET balance = balance + $2 WHERE id = $1", acct, float64(i%97)+0.5); err != nil {
				return err
			}
			if i%5 == 4 {
				if _, err := tx.Exec(ctx, "DELETE FROM orders WHERE id = $1", id-2); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "INSERT INTO events (id, node, payload) VALUES ($1, $2, $3)",
				id, n.name, fmt.Sprintf(`{"order": %d, "seq": %d}`, id, i))
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: transaction %d: %w", n.name, i, err)
		}
	}
	return nil
}

// catchUp waits until each node applied everything the other committed before
// the call (an LSN barrier per direction, never a sleep).
func catchUp(ctx context.Context, cfg *policies.Config, nodes []*node, agentErr <-chan error) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case err := <-agentErr:
			fmt.Fprintln(os.Stderr, err)
			cancel()
		case <-wctx.Done():
		}
	}()
	for i, src := range nodes {
		dst := nodes[1-i]
		marker := fmt.Sprintf("INSERT INTO events (id, node) VALUES (%d, '%s') ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node",
			src.base+999_999, src.name)
		if err := localpg.Barrier(wctx, src.conn, dst.conn, apply.OriginName(cfg.Pair.Name, src.name), marker); err != nil {
			return fmt.Errorf("%s→%s did not catch up: %w", src.name, dst.name, err)
		}
	}
	return nil
}
