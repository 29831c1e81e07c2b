package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestClusterLifecycle(t *testing.T) {
	c := Shared(t, "a")
	db := c.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := c.Connect(t, db)
	var wal, ctsOn string
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_setting('track_commit_timestamp')").Scan(&wal, &ctsOn); err != nil {
		t.Fatal(err)
	}
	if wal != "logical" || ctsOn != "on" {
		t.Fatalf("wal_level=%s track_commit_timestamp=%s, want logical/on", wal, ctsOn)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t(id int primary key); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	// A wrong password is refused over TCP.
	bad := strings.Replace(c.DSN(db), Password, "wrong", 1)
	if _, err := pgx.Connect(ctx, bad); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("connect with a wrong password: err = %v, want password authentication failed", err)
	}

	// Crash and restart: committed data survives crash recovery.
	conn.Close(ctx)
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn2 := c.Connect(t, db)
	var n int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after crash recovery: count=%d err=%v, want 1", n, err)
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	calls := 0
	err := WaitFor(ctx, "never", func(context.Context) (bool, error) { calls++; return false, nil })
	if err == nil || !strings.Contains(err.Error(), "waiting for never") || calls < 2 {
		t.Fatalf("WaitFor = %v after %d calls, want a deadline error after several polls", err, calls)
	}
}
