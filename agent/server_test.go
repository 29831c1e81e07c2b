package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
	"github.com/pgduet/pgduet/policies"
)

// TestRefusesUnfitServer: a server without wal_level = logical, or a role that
// is not superuser, makes run stop at once with the setting and the fix named.
func TestRefusesUnfitServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	replica := pgtest.New(t, "replica", "wal_level = replica")
	logical := pgtest.Shared(t, "east")
	db := logical.NewDB(t)
	if _, err := logical.Connect(t, db).Exec(ctx, "CREATE ROLE plain LOGIN PASSWORD 'plain-pw'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = logical.Connect(t, "postgres").Exec(context.Background(), "DROP ROLE IF EXISTS plain") })

	for _, c := range []struct {
		name, url, password string
		want                []string
	}{
		{"wal_level replica", replica.URL("postgres"), pgtest.Password, []string{"wal_level is \"replica\"", "ALTER SYSTEM SET wal_level = logical"}},
		{"not superuser", strings.Replace(logical.URL(db), "postgres@", "plain@", 1), "plain-pw", []string{`role "plain" is not a superuser`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PGDUET_TEST_PASSWORD", c.password)
			src := fmt.Sprintf(`pair "unfit" {
  ddl_source = "east"
}
node "east" {
  database {
    url      = %q
    password = env("PGDUET_TEST_PASSWORD")
  }
  agent {
    listen   = "127.0.0.1:%d"
    address  = "127.0.0.1:%d"
    insecure = true
  }
}
node "west" {
  database {
    url = "postgres://nobody@127.0.0.1:1/none"
  }
  agent {
    listen   = "127.0.0.1:%d"
    address  = "127.0.0.1:%d"
    insecure = true
  }
}
retry {
  connection = "1m"
}
`, c.url, freePort(t), freePort(t), freePort(t), freePort(t))
			cfg, diags := policies.Parse("unfit.hcl", []byte(src))
			if diags.HasErrors() {
				t.Fatal(policies.FormatDiagnostics(diags))
			}
			a, err := agent.New(cfg, "east", agent.Options{Logger: slog.New(slog.DiscardHandler), BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = a.Run(ctx)
			if err == nil {
				t.Fatal("Run on an unfit server returned nil")
			}
			for _, w := range append(c.want, "node east") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if time.Since(start) > 30*time.Second {
				t.Errorf("Run took %s to refuse: it must not retry a permanent problem", time.Since(start))
			}
			oneLine(t, c.name, err.Error())
		})
	}
}
