package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
)

// slotFlushed returns the confirmed_flush_lsn of the node's pgduet slot.
func (p *pair) slotFlushed(ctx context.Context, node string) (pglogrepl.LSN, error) {
	var s *string
	err := p.conn[node].QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
		"pgduet_"+p.name+"_"+node).Scan(&s)
	if err != nil || s == nil {
		return 0, err
	}
	return pglogrepl.ParseLSN(*s)
}

func inbound(a *agent.Agent) agent.DirectionStatus {
	for _, d := range a.Status().Directions {
		if d.Role == "receive" {
			return d
		}
	}
	return agent.DirectionStatus{}
}

// TestNoEcho is acceptance 2: a change made on one node is applied on the other
// exactly once and never comes back; once quiet, both slots catch up and no
// further transactions flow.
func TestNoEcho(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE ledger (id bigint PRIMARY KEY, node text NOT NULL);`})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	p.waitState(ctx, "east", "send", agent.StateRunning)
	p.waitState(ctx, "west", "send", agent.StateRunning)
	const n = 200
	for i := 0; i < n; i++ {
		for _, node := range pairNames {
			base := map[string]int{"east": 1_000_000, "west": 2_000_000}[node]
			if _, err := p.conn[node].Exec(ctx, "INSERT INTO ledger VALUES ($1, $2)", base+i, node); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.converge(ctx)
	for _, node := range pairNames {
		peer := peerOf(node)
		var fromPeer, local, total int
		err := p.conn[node].QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE (pg_xact_commit_timestamp_origin(xmin)).roident =
				(SELECT roident FROM pg_replication_origin WHERE roname = $1)),
			count(*) FILTER (WHERE (pg_xact_commit_timestamp_origin(xmin)).roident = 0),
			count(*) FROM ledger`, "pgduet_"+p.name+"_"+peer).Scan(&fromPeer, &local, &total)
		if err != nil {
			t.Fatal(err)
		}
		if fromPeer != n || local != n || total != 2*n {
			t.Errorf("%s: %d rows applied from %s, %d written locally, %d in all; want %d, %d, %d", node, fromPeer, peer, local, total, n, n, 2*n)
		}
	}

	// Quiescence: remember what each side applied, let heartbeats carry both
	// slots past the current end of WAL, and check nothing more was applied.
	applied := map[string]int64{}
	for _, node := range pairNames {
		applied[node] = inbound(p.agent(node)).Transactions
	}
	for _, node := range pairNames {
		end, err := pgtest.InsertLSN(ctx, p.conn[node])
		if err != nil {
			t.Fatal(err)
		}
		err = pgtest.WaitFor(ctx, "slot of "+node+" caught up past "+end.String(), func(ctx context.Context) (bool, error) {
			f, err := p.slotFlushed(ctx, node)
			return f > end, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, node := range pairNames {
		if got := inbound(p.agent(node)).Transactions; got != applied[node] {
			t.Errorf("%s applied %d more transactions while both nodes were quiet (echo?)", node, got-applied[node])
		}
	}
}

const typesSchema = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pt AS (x int, label text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE alltypes (
  id int PRIMARY KEY,
  i2 smallint, i4 int, i8 bigint, num numeric(30,8), f4 real, f8 double precision, m money,
  t text, vc varchar(20), ch char(5), by bytea, b bool, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
  iv interval, u uuid, j json, jb jsonb, x xml, ip inet, cd cidr, mac macaddr, bt bit(8), vb varbit, tsv tsvector,
  ai int[], at text[], e mood, c pt, ea mood[], r int4range, tr tstzrange, dm posint,
  big text
);
ALTER TABLE alltypes ALTER COLUMN big SET STORAGE EXTERNAL;
`

const typesRow = `INSERT INTO alltypes VALUES (
  $1::int, -32768, 2147483647, -9223372036854775808, 12345678901234567890.12345678, 3.4028235e38, 'NaN', '$1,234.56',
  E'tab\there ''quoted'' \\ backslash ünïcødé', 'varchar', 'ch', (SELECT decode(string_agg(md5(g::text), ''), 'hex') FROM generate_series(1, 70000) g),
  true, '2024-02-29', '23:59:59.999999', '12:00+05:30', '1999-12-31 23:59:59', '2024-06-01 12:00:00+02', '1 year 2 mons 3 days 04:05:06.789',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}', '{"z": 1, "a": "x"}', '<doc a="1">text &amp; more</doc>',
  '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'10101010', B'1101', 'the quick brown fox',
  '{1,NULL,3}', '{"a b","c,d",NULL}', 'happy', ROW(7, 'seven'), '{sad,ok}', '[1,10)', '[2024-01-01 00:00+00,2024-02-01 00:00+00)', 42,
  (SELECT string_agg(md5(g::text || $1::int::text), '') FROM generate_series(1, 4000) g)
)`

// TestTypesRoundTrip is acceptance 4: a table with every built-in type family
// round-trips both ways identically, and an UPDATE that leaves TOASTed columns
// unchanged leaves them unchanged on the peer.
func TestTypesRoundTrip(t *testing.T) {
	p := newPair(t, pairOpts{schema: typesSchema})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	for node, id := range map[string]int{"east": 1, "west": 2} {
		if _, err := p.conn[node].Exec(ctx, typesRow, id); err != nil {
			t.Fatalf("insert on %s: %v", node, err)
		}
		// A row of NULLs (but the key), and special float values.
		if _, err := p.conn[node].Exec(ctx, "INSERT INTO alltypes (id, f4, f8) VALUES ($1, '-Infinity', 'Infinity')", id+10); err != nil {
			t.Fatal(err)
		}
	}
	p.converge(ctx)
	// TOAST: change a small column only; the big text and bytea values are not
	// sent ('u' in pgoutput) and must stay exactly as they are on the peer.
	before := map[string]string{}
	for _, node := range pairNames {
		var h string
		if err := p.conn[node].QueryRow(ctx, "SELECT md5(string_agg(md5(big) || md5(by), ',' ORDER BY id)) FROM alltypes").Scan(&h); err != nil {
			t.Fatal(err)
		}
		before[node] = h
	}
	if _, err := p.conn["east"].Exec(ctx, "UPDATE alltypes SET i4 = i4 - 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn["west"].Exec(ctx, "UPDATE alltypes SET t = 'changed on west' WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	p.converge(ctx)
	for _, node := range pairNames {
		var h string
		var i4 int
		var txt string
		if err := p.conn[node].QueryRow(ctx, `SELECT md5(string_agg(md5(big) || md5(by), ',' ORDER BY id)),
			(SELECT i4 FROM alltypes WHERE id = 1), (SELECT t FROM alltypes WHERE id = 2) FROM alltypes`).Scan(&h, &i4, &txt); err != nil {
			t.Fatal(err)
		}
		if h != before[node] || i4 != 2147483646 || txt != "changed on west" {
			t.Errorf("%s after the updates: toast hash %s (before %s), i4 %d, t %q", node, h, before[node], i4, txt)
		}
		var big, by int
		if err := p.conn[node].QueryRow(ctx, "SELECT length(big), length(by) FROM alltypes WHERE id = 1").Scan(&big, &by); err != nil {
			t.Fatal(err)
		}
		if big < 100_000 || by < 1_000_000 {
			t.Errorf("%s: big text %d bytes, bytea %d bytes; want ≥ 100 kB and ≥ 1 MB", node, big, by)
		}
	}
}

// TestSlotAdvance is acceptance 5: with no user writes, or only writes to tables
// that are not selected, both slots' confirmed_flush_lsn keeps advancing.
func TestSlotAdvance(t *testing.T) {
	p := newPair(t, pairOpts{
		schema: `CREATE TABLE kept (id int PRIMARY KEY); CREATE TABLE tmp_skip (id int); CREATE SCHEMA other; CREATE TABLE other.t (id int);`,
		selection: `schema "public" {
  tables  = ["*"]
  exclude = ["tmp_*"]
}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	p.converge(ctx)
	waitPast := func(node string, what string) {
		t.Helper()
		end, err := pgtest.InsertLSN(ctx, p.conn[node])
		if err != nil {
			t.Fatal(err)
		}
		err = pgtest.WaitFor(ctx, fmt.Sprintf("%s: slot of %s past %s", what, node, end), func(ctx context.Context) (bool, error) {
			f, err := p.slotFlushed(ctx, node)
			return f > end, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Idle: only the agents' heartbeats write WAL.
	for _, node := range pairNames {
		waitPast(node, "idle")
	}
	// Writes only to tables that are not selected: an excluded table in a
	// published schema (decoded, then filtered) and a table in another schema
	// (not published at all).
	applied := inbound(p.agent("west")).Transactions
	for i := 0; i < 50; i++ {
		for _, q := range []string{"INSERT INTO tmp_skip VALUES ($1)", "INSERT INTO other.t VALUES ($1)"} {
			if _, err := p.conn["east"].Exec(ctx, q, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitPast("east", "unselected writes")
	if got := inbound(p.agent("west")).Transactions; got != applied {
		t.Errorf("west applied %d transactions made only of unselected changes", got-applied)
	}
	var n int
	if err := p.conn["west"].QueryRow(ctx, "SELECT (SELECT count(*) FROM tmp_skip) + (SELECT count(*) FROM other.t)").Scan(&n); err != nil || n != 0 {
		t.Errorf("west has %d rows of unselected tables (err %v), want 0", n, err)
	}
	if s := p.agent("east").Status().Directions[0]; s.Skipped < 50 {
		t.Errorf("east counted %d skipped changes, want ≥ 50 (the tmp_skip inserts)", s.Skipped)
	}
}

// oneLine fails the test when an error message spans several lines.
func oneLine(t *testing.T, what, msg string) {
	t.Helper()
	if strings.Contains(strings.TrimSpace(msg), "\n") {
		t.Errorf("%s: error is not one line:\n%s", what, msg)
	}
}

// TestBadInput is acceptance 6: each bad input ends in a clear one-line error
// naming the node and the cause, and a failed start leaves nothing that breaks a
// later correct start.
func TestBadInput(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE kept (id int PRIMARY KEY);`, retryConn: "1s", retryElse: "1s"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("wrong database password", func(t *testing.T) {
		t.Setenv("PGDUET_TEST_PASSWORD", "not-the-password")
		cfg := p.loadConfig(p.cfgPath)
		a, err := agent.New(cfg, "east", p.testOptions(agent.Knobs{}))
		if err != nil {
			t.Fatal(err)
		}
		err = a.Run(ctx)
		if err == nil {
			t.Fatal("Run with a wrong password returned nil")
		}
		msg := err.Error()
		for _, want := range []string{"node east", fmt.Sprintf("127.0.0.1:%d", p.cluster["east"].Port), "password authentication failed"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not name %q", msg, want)
			}
		}
		if strings.Contains(msg, "not-the-password") {
			t.Errorf("error %q shows the password", msg)
		}
		oneLine(t, "wrong password", msg)
	})

	t.Run("unreachable peer", func(t *testing.T) {
		p.start("east", agent.Knobs{})
		defer p.stop("east")
		d := p.waitState(ctx, "east", "send", agent.StateFailed)
		for _, want := range []string{"west", fmt.Sprintf("127.0.0.1:%d", p.port["west"]), "connection refused"} {
			if !strings.Contains(d.LastError, want) {
				t.Errorf("last error %q does not name %q", d.LastError, want)
			}
		}
		oneLine(t, "unreachable peer", d.LastError)
	})

	t.Run("different config digest", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.hcl")
		cfgText, err := os.ReadFile(p.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other, append(cfgText, []byte("\ntable \"public.kept\" {\n  operations = [\"insert\"]\n}\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		westCfg := p.loadConfig(other)
		p.start("east", agent.Knobs{})
		defer p.stop("east")
		p.startWith("west", westCfg, agent.Knobs{})
		defer p.stop("west")
		d := p.waitState(ctx, "east", "send", agent.StateFailed)
		for _, want := range []string{"digest", p.cfg.Digest(), westCfg.Digest()} {
			if !strings.Contains(d.LastError, want) {
				t.Errorf("east's last error %q does not name %q", d.LastError, want)
			}
		}
		oneLine(t, "digest mismatch", d.LastError)
		w := p.waitState(ctx, "west", "send", agent.StateFailed)
		if !strings.Contains(w.LastError, "digest") {
			t.Errorf("west's last error %q does not mention the digest", w.LastError)
		}
	})

	t.Run("unknown node", func(t *testing.T) {
		var stderr bytes.Buffer
		cmd := exec.Command(pgduetBinary(t), "run", "--config", p.cfgPath, "--node", "north")
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("pgduet run --node north: %v, want exit code 2", err)
		}
		msg := stderr.String()
		for _, want := range []string{"north", "east", "west"} {
			if !strings.Contains(msg, want) {
				t.Errorf("stderr %q does not name %q", msg, want)
			}
		}
		oneLine(t, "unknown node", msg)
	})

	// After all of that, a correct start syncs.
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	if _, err := p.conn["east"].Exec(ctx, "INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn["west"].Exec(ctx, "INSERT INTO kept VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	res := p.converge(ctx)
	if len(res) < 2 {
		t.Fatalf("verified %d tables, want barrier and kept", len(res))
	}
}

// TestDemo is acceptance 7: `pgduet demo` (what `make demo` runs) works and
// prints that both sides converged.
func TestDemo(t *testing.T) {
	pgtest.Require(t)
	var out, stderr bytes.Buffer
	cmd := exec.Command(pgduetBinary(t), "demo", "--transactions", "100")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgduet demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "both sides converged: 3 tables identical on east and west") {
		t.Errorf("demo output does not say that both sides converged:\n%s", out.String())
	}
}

// TestFailingStatementExhaustsRetryWindow: a change that fails on the peer (a
// constraint only the peer has) is retried within retry.other, then the
// direction fails with the statement's error — it must not reconnect forever,
// and nothing after it is applied.
func TestFailingStatementExhaustsRetryWindow(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE kept (id int PRIMARY KEY, v int);`, retryConn: "30s", retryElse: "2s"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := p.conn["west"].Exec(ctx, "ALTER TABLE kept ADD CONSTRAINT small CHECK (v < 100)"); err != nil {
		t.Fatal(err)
	}
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	for _, q := range []string{"INSERT INTO kept VALUES (1, 500)", "INSERT INTO kept VALUES (2, 5)"} {
		if _, err := p.conn["east"].Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	in := p.waitState(ctx, "west", "receive", agent.StateFailed)
	for _, want := range []string{"public.kept", "small", "23514"} {
		if !strings.Contains(in.LastError, want) {
			t.Errorf("west's inbound error %q does not name %q", in.LastError, want)
		}
	}
	out := p.waitState(ctx, "east", "send", agent.StateFailed)
	if !strings.Contains(out.LastError, "small") {
		t.Errorf("east's outbound error %q does not carry the peer's error", out.LastError)
	}
	var n int
	if err := p.conn["west"].QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil || n != 0 {
		t.Errorf("west has %d rows (err %v); nothing at or after the failing change may be applied", n, err)
	}
}
