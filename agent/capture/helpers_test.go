package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/pgtest"
	"github.com/pgduet/pgduet/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	testPair = "p"
	testNode = "east"
	// fast intervals, so position tests wait for little
	testInterval = 200 * time.Millisecond
)

// fixture is one fresh database with schema pgduet installed.
type fixture struct {
	t    *testing.T
	c    *pgtest.Cluster
	db   string
	conn *pgx.Conn
	ctx  context.Context
}

func newFixture(t *testing.T, c *pgtest.Cluster) *fixture {
	t.Helper()
	if c == nil {
		c = pgtest.Shared(t, "capture")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	db := c.NewDB(t)
	conn := c.Connect(t, db)
	if _, err := sql.Install(ctx, conn); err != nil {
		t.Fatalf("install schema pgduet: %v", err)
	}
	return &fixture{t: t, c: c, db: db, conn: conn, ctx: ctx}
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.conn.Exec(f.ctx, q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) setup(schemas []string, tables ...[2]string) {
	f.t.Helper()
	if err := Setup(f.ctx, f.conn, f.c.DSN(f.db), testPair, testNode, schemas, tables); err != nil {
		f.t.Fatalf("Setup: %v", err)
	}
}

func (f *fixture) lsn(q string, args ...any) change.LSN {
	f.t.Helper()
	var l change.LSN
	if err := f.conn.QueryRow(f.ctx, q, args...).Scan(&l); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return l
}

// confirmed is the slot's confirmed_flush_lsn as the server reports it.
func (f *fixture) confirmed() change.LSN {
	f.t.Helper()
	return f.lsn("SELECT coalesce(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots WHERE slot_name = $1", SlotName(testPair, testNode))
}

func (f *fixture) walLSN() change.LSN {
	f.t.Helper()
	return f.lsn("SELECT pg_current_wal_insert_lsn()::text")
}

func (f *fixture) waitConfirmed(what string, cond func(change.LSN) bool) change.LSN {
	f.t.Helper()
	var last change.LSN
	err := pgtest.WaitFor(f.ctx, what, func(ctx context.Context) (bool, error) {
		err := f.conn.QueryRow(ctx, "SELECT coalesce(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots WHERE slot_name = $1",
			SlotName(testPair, testNode)).Scan(&last)
		return err == nil && cond(last), err
	})
	if err != nil {
		f.t.Fatalf("%v (confirmed_flush_lsn %s)", err, last)
	}
	return last
}

// serverNow is the server's clock.
func (f *fixture) serverNow() time.Time {
	f.t.Helper()
	var now time.Time
	if err := f.conn.QueryRow(f.ctx, "SELECT now()").Scan(&now); err != nil {
		f.t.Fatal(err)
	}
	return now
}

// waitReplies waits until the walsender has received a standby status update
// sent at least d after since: proof that capture has reported its positions
// since then, whatever they are.
func (f *fixture) waitReplies(since time.Time, d time.Duration) {
	f.t.Helper()
	err := pgtest.WaitFor(f.ctx, "a status update after "+since.String(), func(ctx context.Context) (bool, error) {
		var ok bool
		err := f.conn.QueryRow(ctx, `SELECT coalesce(bool_or(r.reply_time > $2), false) FROM pg_stat_replication r
			JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1`,
			SlotName(testPair, testNode), since.Add(d)).Scan(&ok)
		return ok, err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// config is the test default: fast status updates and heartbeats, logs to t.
func (f *fixture) config() Config {
	return Config{
		ConnString:        f.c.DSN(f.db),
		Pair:              testPair,
		Node:              testNode,
		Peer:              "west",
		StatusInterval:    testInterval,
		HeartbeatInterval: testInterval,
		Logger:            slog.New(slog.NewTextHandler(testWriter{f.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// session is a running Capture.
type session struct {
	f      *fixture
	c      *Capture
	cancel context.CancelFunc
	errc   chan error
	ended  bool
	err    error
}

func (f *fixture) start(cfg Config, from change.LSN) *session {
	ctx, cancel := context.WithCancel(f.ctx)
	s := &session{f: f, c: New(cfg), cancel: cancel, errc: make(chan error, 1)}
	go func() { s.errc <- s.c.Run(ctx, from) }()
	f.t.Cleanup(func() { s.stop() })
	return s
}

// stop cancels Run and returns what it returned.
func (s *session) stop() error {
	if !s.ended {
		s.cancel()
		s.err = <-s.errc
		s.ended = true
	}
	return s.err
}

// next returns the next transaction, failing the test after a minute.
func (s *session) next() *change.Tx {
	s.f.t.Helper()
	ctx, cancel := context.WithTimeout(s.f.ctx, time.Minute)
	defer cancel()
	tx, err := s.c.Next(ctx)
	if err != nil {
		s.f.t.Fatalf("Next: %v", err)
	}
	return tx
}

// running fails the test if Run has returned.
func (s *session) running() {
	s.f.t.Helper()
	select {
	case err := <-s.errc:
		s.ended, s.err = true, err
		s.f.t.Fatalf("Run returned early: %v", err)
	default:
	}
}

// rows renders a transaction's changes compactly for comparisons:
// "insert public.t [1 a NULL]".
func rows(tx *change.Tx) []string {
	var out []string
	for _, c := range tx.Changes {
		switch c.Op {
		case change.Truncate:
			s := "truncate"
			for _, r := range c.Rels {
				s += " " + r.Table.String()
			}
			if c.Cascade {
				s += " cascade"
			}
			if c.RestartIdentity {
				s += " restart"
			}
			out = append(out, s)
		default:
			s := fmt.Sprintf("%s %s", c.Op, c.Rel.Table)
			if c.Old != nil {
				kind := "old"
				if c.OldIsKey {
					kind = "key"
				}
				s += fmt.Sprintf(" %s%v", kind, c.Old)
			}
			if c.New != nil {
				s += fmt.Sprintf(" new%v", c.New)
			}
			out = append(out, s)
		}
	}
	return out
}

func isStopped(err error) bool { return errors.Is(err, ErrStopped) }
