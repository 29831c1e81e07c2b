package apply

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/pgtest"
	pgsql "github.com/pgduet/pgduet/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one test's database, a plain session on it for setup and checks, and
// a generator of source transactions.
type env struct {
	t    *testing.T
	c    *pgtest.Cluster
	db   string
	conn *pgx.Conn
	cfg  Config
	logs *logBuffer
	lsn  change.LSN
	xid  uint32
}

// base is the commit time of the first generated transaction; each next one
// is a second later. Microsecond precision, as PostgreSQL stores it.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	c := pgtest.Shared(t, "apply")
	db := c.NewDB(t)
	conn := c.Connect(t, db)
	if _, err := conn.Exec(t.Context(), "SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET DateStyle = 'ISO'"); err != nil {
		t.Fatal(err)
	}
	// pgduet's schema, as the agent installs it: the conflict log lives there.
	if _, err := pgsql.Install(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{t: t}
	// Replication origins belong to the whole cluster, not to a database: each
	// test takes its own pair name, and drops its origin when it ends (after its
	// appliers are closed: cleanups run last-registered first).
	pair := fmt.Sprintf("p%d", pairSeq.Add(1))
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1`,
			OriginName(pair, "east"))
	})
	return &env{
		t: t, c: c, db: db, conn: conn, logs: logs,
		cfg: Config{ConnString: c.DSN(db), Pair: pair, Node: "west", Peer: "east",
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		lsn: 0x1000000,
	}
}

var pairSeq atomic.Int64

// open returns an open applier, closed when the test ends.
func (e *env) open() *Applier {
	e.t.Helper()
	a := New(e.cfg)
	if _, err := a.Open(e.t.Context()); err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() {
		if err := a.Close(context.Background()); err != nil {
			e.t.Errorf("Close: %v", err)
		}
	})
	return a
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.conn.Exec(e.t.Context(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// tx makes the next source transaction.
func (e *env) tx(changes ...change.Change) *change.Tx {
	e.lsn += 0x1000
	e.xid++
	return &change.Tx{
		Xid:        700 + e.xid,
		CommitLSN:  e.lsn - 0x20,
		EndLSN:     e.lsn,
		CommitTime: base.Add(time.Duration(e.xid) * time.Second),
		Changes:    changes,
	}
}

// mustApply applies tx and fails the test on error.
func (e *env) mustApply(a *Applier, tx *change.Tx) {
	e.t.Helper()
	if err := a.Apply(e.t.Context(), tx); err != nil {
		e.t.Fatalf("Apply %s: %v", tx, err)
	}
}

// rows runs query and returns every value as text ("NULL" for NULL). The query
// must return text columns.
func (e *env) rows(query string, args ...any) []string {
	e.t.Helper()
	rs, err := e.conn.Query(e.t.Context(), query, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			if v == nil {
				parts = append(parts, "NULL")
			} else {
				parts = append(parts, v.(string))
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rs.Err(); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return out
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.conn.QueryRow(e.t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) originProgress() change.LSN {
	e.t.Helper()
	p, err := pgtest.OriginProgress(e.t.Context(), e.conn, OriginName(e.cfg.Pair, e.cfg.Peer))
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func wantRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n got %q\nwant %q", got, want)
	}
}

// rel describes a source table. A column name ending in * is part of the
// replica identity.
func rel(table string, identity byte, cols ...string) *change.Relation {
	schema, name, _ := strings.Cut(table, ".")
	r := &change.Relation{ID: 16384, Table: change.TableRef{Schema: schema, Name: name}, Identity: identity}
	for _, c := range cols {
		key := strings.HasSuffix(c, "*")
		r.Columns = append(r.Columns, change.Column{Name: strings.TrimSuffix(c, "*"), Key: key})
	}
	return r
}

func v(s string) change.Value { return change.Value{Kind: change.Text, Data: []byte(s)} }

var (
	null = change.Value{Kind: change.Null}
	unch = change.Value{Kind: change.Unchanged}
)

// vs makes text values; "NULL" makes a NULL.
func vs(ss ...string) []change.Value {
	out := make([]change.Value, len(ss))
	for i, s := range ss {
		if s == "NULL" {
			out[i] = null
		} else {
			out[i] = v(s)
		}
	}
	return out
}

func ins(r *change.Relation, vals ...change.Value) change.Change {
	return change.Change{Op: change.Insert, Rel: r, New: vals}
}

// upd is an UPDATE whose key did not change (no old tuple).
func upd(r *change.Relation, vals ...change.Value) change.Change {
	return change.Change{Op: change.Update, Rel: r, New: vals}
}

// updOld is an UPDATE with an old tuple: the key columns (isKey) or the full row.
func updOld(r *change.Relation, old []change.Value, isKey bool, vals ...change.Value) change.Change {
	return change.Change{Op: change.Update, Rel: r, Old: old, OldIsKey: isKey, New: vals}
}

func del(r *change.Relation, old []change.Value, isKey bool) change.Change {
	return change.Change{Op: change.Delete, Rel: r, Old: old, OldIsKey: isKey}
}

func trunc(restart, cascade bool, rels ...*change.Relation) change.Change {
	return change.Change{Op: change.Truncate, Rels: rels, RestartIdentity: restart, Cascade: cascade}
}

// logBuffer keeps what the applier logged and echoes it to the test log.
type logBuffer struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
