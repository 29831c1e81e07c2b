package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/localpg"
)

// Superuser and Password log in to every test cluster over TCP.
const (
	Superuser = localpg.Superuser
	Password  = localpg.Password
)

// Cluster is a running (or stopped) PostgreSQL server owned by a test or a test
// package. Start, Stop and Crash control the server; DSN/URL address a database.
type Cluster struct {
	*localpg.Cluster
}

// Start starts the server again after Stop or Crash.
func (c *Cluster) Start() error { return c.Restart() }

// Require skips the test when PostgreSQL is not installed, or fails it when
// PGDUET_REQUIRE_PG=1.
func Require(tb testing.TB) string {
	tb.Helper()
	d, err := localpg.FindBin()
	if err != nil {
		if os.Getenv("PGDUET_REQUIRE_PG") == "1" {
			tb.Fatalf("PGDUET_REQUIRE_PG=1: %v", err)
		}
		tb.Skipf("skipping: %v", err)
	}
	return d
}

// New starts a cluster private to the test and destroys it when the test ends.
// extraConf lines are appended to its postgresql.auto.conf.
func New(tb testing.TB, name string, extraConf ...string) *Cluster {
	tb.Helper()
	Require(tb)
	c, err := localpg.Start(name, extraConf...)
	if err != nil {
		tb.Fatalf("start cluster %s: %v", name, err)
	}
	tb.Cleanup(c.Destroy)
	return &Cluster{c}
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Cluster{}
)

// Shared returns the package's shared cluster of that name, starting it on first
// use. Main destroys every shared cluster when the package's tests end.
func Shared(tb testing.TB, name string) *Cluster {
	tb.Helper()
	Require(tb)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c, ok := shared[name]; ok {
		return c
	}
	c, err := localpg.Start(name)
	if err != nil {
		tb.Fatalf("start shared cluster %s: %v", name, err)
	}
	shared[name] = &Cluster{c}
	return shared[name]
}

// Main runs the package's tests and then destroys the shared clusters. Use it as
// `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain with cleanup of its own.
func Run(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	for _, c := range shared {
		c.Destroy()
	}
	sharedMu.Unlock()
	return code
}

// Connect opens a connection to db, closed when the test ends.
func (c *Cluster) Connect(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		tb.Fatalf("connect %s/%s: %v", c.Name, db, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// NewDB creates a fresh database for the test and drops it when the test ends
// (terminating its sessions and dropping its replication slots first).
func (c *Cluster) NewDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", c.DBSeq.Add(1), sanitize(tb.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	admin := c.Connect(tb, "postgres")
	if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() { c.DropDB(name) })
	return name
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
