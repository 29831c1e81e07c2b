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

// TestRefusesUnfitServer: a server without wal_level = logical, a role that
// is not superuser, last_write_wins without track_commit_timestamp or on a
// table without a key make run stop at once with the setting and the fix
// named.
func TestRefusesUnfitServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	replica := pgtest.New(t, "replica", "wal_level = replica")
	noCommitTS := pgtest.New(t, "nocts", "track_commit_timestamp = off")
	logical := pgtest.Shared(t, "east")
	db := logical.NewDB(t)
	if _, err := logical.Connect(t, db).Exec(ctx, "CREATE ROLE plain LOGIN PASSWORD 'plain-pw'; CREATE TABLE public.nokey (v text); CREATE TABLE public.kc (id int PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	const lww = "schema \"public\" {}\nconflicts { policy = \"last_write_wins\" }\n"
	t.Cleanup(func() { _, _ = logical.Connect(t, "postgres").Exec(context.Background(), "DROP ROLE IF EXISTS plain") })

	for _, c := range []struct {
		name, url, password string
		extra               string // more config
		want                []string
	}{
		{"wal_level replica", replica.URL("postgres"), pgtest.Password, "", []string{"wal_level is \"replica\"", "ALTER SYSTEM SET wal_level = logical"}},
		{"not superuser", strings.Replace(logical.URL(db), "postgres@", "plain@", 1), "plain-pw", "", []string{`role "plain" is not a superuser`}},
		{"last_write_wins without commit timestamps", noCommitTS.URL("postgres"), pgtest.Password, lww,
			[]string{"last_write_wins needs track_commit_timestamp = on (it is off)", "ALTER SYSTEM SET track_commit_timestamp = on"}},
		{"last_write_wins on a table without a key", logical.URL(db), pgtest.Password, lww,
			[]string{"last_write_wins needs a primary key", "public.nokey"}},
		{"a column subset without the key", logical.URL(db), pgtest.Password, "table \"public.kc\" {\n  columns = [\"v\"]\n}\n",
			[]string{"table public.kc on node east", "leaves out key column(s) id", "add them to columns"}},
		{"a column that does not exist", logical.URL(db), pgtest.Password, "table \"public.kc\" {\n  columns = [\"id\", \"nope\"]\n}\n",
			[]string{"table public.kc on node east", "nope"}},
		{"a row filter on a column outside the replica identity", logical.URL(db), pgtest.Password, "table \"public.kc\" {\n  where = \"v = 'x'\"\n}\n",
			[]string{"table public.kc on node east", "the row filter reads v, which the replica identity does not include", "REPLICA IDENTITY FULL"}},
		{"a row filter naming no column of the table", logical.URL(db), pgtest.Password, "table \"public.kc\" {\n  where = \"nope > 1\"\n}\n",
			[]string{"table public.kc on node east", `"nope", which is not a column of the table`}},
		{"a row filter with an aggregate", logical.URL(db), pgtest.Password, "table \"public.kc\" {\n  where = \"max(id) > 1\"\n}\n",
			[]string{"table public.kc on node east", "not a valid condition on the table", "aggregate"}},
		{"a row filter that changes with time", logical.URL(db), pgtest.Password, "table \"public.kc\" {\n  where = \"id > extract(epoch from now())\"\n}\n",
			[]string{"table public.kc on node east", "same answer for the same row", "immutable"}},
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
%s`, c.url, freePort(t), freePort(t), freePort(t), freePort(t), c.extra)
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
