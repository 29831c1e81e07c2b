package sql

import (
	"context"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestInstallIsIdempotent(t *testing.T) {
	c := pgtest.Shared(t, "sql")
	db := c.NewDB(t)
	conn := c.Connect(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < 2; i++ {
		v, err := Install(ctx, conn)
		if err != nil {
			t.Fatalf("install #%d: %v", i+1, err)
		}
		if v != Latest() || v == 0 {
			t.Fatalf("install #%d: version %d, want %d", i+1, v, Latest())
		}
	}
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pgduet.schema_version").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	fs, _ := Files()
	if rows != len(fs) {
		t.Fatalf("schema_version has %d rows, want one per file (%d)", rows, len(fs))
	}
}
