package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
)

// TestConflictsCommand drives `pgduet conflicts` against a pair whose ddl
// rules deny two statements, so west records two ddl_denied rows: the text
// table, the JSON fields, the filters and the exit codes.
func TestConflictsCommand(t *testing.T) {
	p := newPair(t, pairOpts{selection: `schema "public" { tables = ["*"] }
ddl {
  deny = ["DROP TABLE", "COMMENT"]
}`})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conflicts := func(args ...string) (int, string, string) {
		t.Helper()
		return pgduetCmd(t, append([]string{"conflicts", "--config", p.cfgPath}, args...)...)
	}

	// Before any agent ran, west's database has no pgduet schema.
	code, out, errOut := conflicts("--node", "west")
	if want := "node west: pgduet is not installed on database " + p.db["west"] + ": run `pgduet run` there first"; code != 3 || !strings.Contains(errOut, want) {
		t.Errorf("conflicts before install: exit %d, stdout %q, stderr %q; want exit 3 and %q", code, out, errOut, want)
	}
	if strings.Contains(errOut, pgtest.Password) {
		t.Errorf("conflicts printed the password: %q", errOut)
	}

	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	p.exec(ctx, "east", `CREATE TABLE public.keep (id int PRIMARY KEY); COMMENT ON TABLE public.keep IS 'east only'`)
	p.exec(ctx, "east", `DROP TABLE public.keep`)
	p.barrier(ctx, "east")
	if got := p.query(ctx, "west", "SELECT count(*) FROM pgduet.conflicts WHERE kind = 'ddl_denied'"); got != "2" {
		t.Fatalf("west has %s ddl_denied rows, want 2", got)
	}
	const comment, drop = "COMMENT ON TABLE public.keep IS 'east only'", "DROP TABLE public.keep"

	t.Run("text", func(t *testing.T) {
		code, out, errOut := conflicts("--node", "west")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("want a header, two rows and a footer:\n%s", out)
		}
		for _, w := range []string{"ID", "TIME", "FROM", "KIND", "POLICY", "RESOLUTION", "TABLE", "WHAT"} {
			if !strings.Contains(lines[0], w) {
				t.Errorf("header has no %s: %q", w, lines[0])
			}
		}
		// Newest first: the DROP, then the COMMENT.
		for i, stmt := range []string{drop, comment} {
			l := lines[1+i]
			for _, w := range []string{"east", "ddl_denied", "skipped", stmt} {
				if !strings.Contains(l, w) {
					t.Errorf("row %d has no %q: %q", i+1, w, l)
				}
			}
		}
		if lines[3] != "2 rows (newest first)" {
			t.Errorf("footer %q", lines[3])
		}
	})

	t.Run("json", func(t *testing.T) {
		code, out, errOut := conflicts("--node", "west", "--format", "json")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		var rows []map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows, want 2:\n%s", len(rows), out)
		}
		fields := []string{"id", "logged_at", "pair", "origin_node", "kind", "policy", "resolution", "table", "statement",
			"detail", "local_row", "remote_row", "source_lsn", "source_xid", "source_seq", "resolved_at", "note"}
		for _, r := range rows {
			for _, f := range fields {
				if _, ok := r[f]; !ok {
					t.Errorf("row has no field %s: %v", f, r)
				}
			}
			if len(r) != len(fields) {
				t.Errorf("row has %d fields, want %d", len(r), len(fields))
			}
		}
		var typed []struct {
			ID         int64           `json:"id"`
			LoggedAt   time.Time       `json:"logged_at"`
			Pair       string          `json:"pair"`
			OriginNode string          `json:"origin_node"`
			Kind       string          `json:"kind"`
			Resolution string          `json:"resolution"`
			Table      *string         `json:"table"`
			Statement  string          `json:"statement"`
			LocalRow   json.RawMessage `json:"local_row"`
			SourceLSN  string          `json:"source_lsn"`
			SourceXid  *int64          `json:"source_xid"`
		}
		if err := json.Unmarshal([]byte(out), &typed); err != nil {
			t.Fatal(err)
		}
		for i, stmt := range []string{drop, comment} {
			r := typed[i]
			if r.Pair != p.name || r.OriginNode != "east" || r.Kind != "ddl_denied" || r.Resolution != "skipped" ||
				r.Statement != stmt || r.Table != nil || string(r.LocalRow) != "null" || !strings.Contains(r.SourceLSN, "/") ||
				r.SourceXid == nil || r.LoggedAt.IsZero() || r.LoggedAt.Location() != time.UTC {
				t.Errorf("row %d: %+v", i, r)
			}
		}
		if typed[0].ID <= typed[1].ID {
			t.Errorf("not newest first: ids %d, %d", typed[0].ID, typed[1].ID)
		}
	})

	t.Run("filters", func(t *testing.T) {
		noRows := "no conflicts recorded for pair " + p.name + " on node west"
		code, out, _ := conflicts("--node", "west", "--kind", "insert_exists")
		if code != 0 || !strings.HasPrefix(out, noRows) || !strings.Contains(out, "kind insert_exists") {
			t.Errorf("--kind insert_exists: exit %d, %q", code, out)
		}
		code, out, _ = conflicts("--node", "west", "--kind", "ddl_denied", "--since", "1h")
		if code != 0 || strings.Count(out, "ddl_denied") != 2 {
			t.Errorf("--since 1h: exit %d\n%s", code, out)
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		code, out, _ = conflicts("--node", "west", "--since", future)
		if code != 0 || !strings.HasPrefix(out, noRows) || !strings.Contains(out, "since "+future) {
			t.Errorf("--since %s: exit %d, %q", future, code, out)
		}
		code, out, _ = conflicts("--node", "west", "--since", future, "--format", "json")
		if code != 0 || strings.TrimSpace(out) != "[]" {
			t.Errorf("--since %s --format json: exit %d, %q", future, code, out)
		}
		code, out, _ = conflicts("--node", "west", "--limit", "1")
		if code != 0 || !strings.Contains(out, drop) || strings.Contains(out, comment) || !strings.Contains(out, "--limit 1 reached") {
			t.Errorf("--limit 1: exit %d\n%s", code, out)
		}
		code, out, _ = conflicts("--node", "west", "--table", "public.keep")
		if code != 0 || !strings.HasPrefix(out, noRows) {
			t.Errorf("--table public.keep (DDL rows have no table): exit %d, %q", code, out)
		}
		code, out, _ = conflicts("--node", "east")
		if code != 0 || !strings.HasPrefix(out, "no conflicts recorded for pair "+p.name+" on node east") {
			t.Errorf("east: exit %d, %q", code, out)
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--node", "west", "--since", "yesterday"},
			{"--node", "west", "--since", "-1h"},
			{"--node", "west", "--limit", "0"},
			{"--node", "west", "--format", "xml"},
			{"--node", "west", "--kind", "nonsense"},
			{"--node", "west", "--colour"},
			{"--node", "nowhere"},
			{},
		} {
			if code, out, errOut := conflicts(args...); code != 2 || errOut == "" {
				t.Errorf("conflicts %v: exit %d, stdout %q, stderr %q; want exit 2 and a message", args, code, out, errOut)
			}
		}
		if code, out, _ := pgduetCmd(t, "conflicts", "--help"); code != 0 || !strings.Contains(out, "--since") {
			t.Errorf("conflicts --help: exit %d, %q", code, out)
		}
		if code, out, _ := pgduetCmd(t, "help"); code != 0 || !strings.Contains(out, "pgduet conflicts") {
			t.Errorf("help does not list conflicts: exit %d\n%s", code, out)
		}
	})
}
