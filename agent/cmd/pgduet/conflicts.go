package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/policies"
)

const conflictsUsage = `Usage: pgduet conflicts --config PATH --node NAME [--table T] [--kind K] [--since S] [--limit N] [--format text|json]

List the conflicts and DDL events recorded in pgduet.conflicts on NAME's
database, newest first. A conflict is recorded on the node that received the
change, so --node names the receiving node: the changes listed came from its
peer. Only this config's pair is listed.

  --config PATH  config file or directory of *.hcl files
  --node NAME    the node whose database to read
  --table T      only this table (schema.table; a bare name matches it in any schema)
  --kind K       only this kind, one of:
                 %s
  --since S      only rows logged since S: a duration back from now (24h, 90m)
                 or an RFC3339 time (2006-01-02T15:04:05Z)
  --limit N      at most N rows (default 100)
  --format F     text (an aligned table) or json (an array; [] when empty)

A row with resolution "stopped" stopped its direction. Either fix its cause on
NAME and restart the agent (the change is applied again), or handle the event
by hand (make the rows agree, apply the DDL yourself), run
SELECT pgduet.skip(ID) there and restart the agent: that one change or
statement is then skipped.

Listing is not a check: exit 0 with or without rows; 1 invalid config; 2 usage
error; 3 cannot connect, or pgduet is not installed on the database.
`

// conflictKinds are the kinds pgduet records (SPEC §7).
var conflictKinds = []string{
	apply.KindInsertExists, apply.KindUpdateMissing, apply.KindUpdateExists, apply.KindDeleteMissing,
	apply.KindUpdateOlder, apply.KindDeleteOlder, apply.KindDDLFailed, apply.KindDDLUnsupported, apply.KindDDLDenied, apply.KindDDLUnselected,
}

// conflictRow is one row of pgduet.conflicts, as `conflicts --format json`
// prints it: the field names are stable; NULL columns are null.
type conflictRow struct {
	ID         int64           `json:"id"`
	LoggedAt   time.Time       `json:"logged_at"`
	Pair       string          `json:"pair"`
	OriginNode string          `json:"origin_node"`
	Kind       string          `json:"kind"`
	Policy     string          `json:"policy"`
	Resolution string          `json:"resolution"`
	Table      *string         `json:"table"`
	Statement  *string         `json:"statement"`
	Detail     *string         `json:"detail"`
	LocalRow   json.RawMessage `json:"local_row"`
	RemoteRow  json.RawMessage `json:"remote_row"`
	SourceLSN  string          `json:"source_lsn"`
	SourceXid  *int64          `json:"source_xid"`
	SourceSeq  int32           `json:"source_seq"`
	ResolvedAt *time.Time      `json:"resolved_at"`
	Note       *string         `json:"note"`
}

// conflictFilter selects the rows to list.
type conflictFilter struct {
	table string
	kind  string
	since time.Time // zero: no lower bound
	limit int
}

// words describes the filter for the "no conflicts" line.
func (cf conflictFilter) words() string {
	var w []string
	if cf.table != "" {
		w = append(w, "table "+cf.table)
	}
	if cf.kind != "" {
		w = append(w, "kind "+cf.kind)
	}
	if !cf.since.IsZero() {
		w = append(w, "since "+cf.since.UTC().Format(time.RFC3339))
	}
	if len(w) == 0 {
		return ""
	}
	return " (" + strings.Join(w, ", ") + ")"
}

// parseSince reads --since: a duration back from now, or an RFC3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: give a positive duration back from now, like 24h", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration back from now (24h, 90m) or an RFC3339 time (2006-01-02T15:04:05Z)", s)
}

func cmdConflicts(args []string, stdout, stderr io.Writer) int {
	f := newFlags("conflicts", stderr, "config", "node", "format", "table")
	kind := f.fs.String("kind", "", "only this kind of conflict or DDL event")
	since := f.fs.String("since", "", "only rows logged since: a duration back from now (24h) or an RFC3339 time")
	limit := f.fs.Int("limit", 100, "at most this many rows, newest first")
	// An explicit --help is not a usage error: it goes to stdout, exit 0.
	f.fs.SetOutput(io.Discard)
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, conflictsUsage, strings.Join(conflictKinds, ", "))
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: %v\n", f.fs.Name(), err)
		fmt.Fprintf(stderr, conflictsUsage, strings.Join(conflictKinds, ", "))
		return exitUsage
	}
	f.fs.SetOutput(stderr)
	if !f.parse(args, stderr, "config", "node") {
		return exitUsage
	}
	filter := conflictFilter{table: f.table, kind: *kind, limit: *limit}
	if filter.limit < 1 {
		fmt.Fprintf(stderr, "pgduet conflicts: --limit must be 1 or more, not %d\n", filter.limit)
		return exitUsage
	}
	if filter.kind != "" && !contains(conflictKinds, filter.kind) {
		fmt.Fprintf(stderr, "pgduet conflicts: unknown --kind %q: one of %s\n", filter.kind, strings.Join(conflictKinds, ", "))
		return exitUsage
	}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, "pgduet conflicts:", err)
			return exitUsage
		}
		filter.since = t
	}
	cfg, ok := load(f.config, stderr)
	if !ok {
		return exitProblem
	}
	node, err := cfg.Node(f.node)
	if err != nil {
		fmt.Fprintln(stderr, "pgduet conflicts:", err)
		return exitUsage
	}
	ctx, stop := signalContext()
	defer stop()
	rows, err := readConflicts(ctx, cfg, node, filter)
	if err != nil {
		fmt.Fprintln(stderr, "pgduet conflicts:", err)
		return exitRuntime
	}
	if f.format == "json" {
		writeJSON(stdout, rows)
		return exitOK
	}
	printConflicts(stdout, cfg.Pair.Name, node.Name, filter, rows)
	return exitOK
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readConflicts reads the pair's rows of pgduet.conflicts on the node's
// database, newest first.
func readConflicts(ctx context.Context, cfg *policies.Config, node *policies.Node, cf conflictFilter) ([]conflictRow, error) {
	cs, err := node.Database.ConnString()
	if err != nil {
		return nil, fmt.Errorf("node %s: database: %w", node.Name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, cs)
	if err != nil {
		return nil, fmt.Errorf("node %s: database %s: connect: %w", node.Name, node.Database.Redacted(), err)
	}
	defer conn.Close(context.Background())

	var dbName string
	var installed bool
	if err := conn.QueryRow(ctx, "SELECT current_database(), to_regclass('pgduet.conflicts') IS NOT NULL").Scan(&dbName, &installed); err != nil {
		return nil, fmt.Errorf("node %s: database %s: %w", node.Name, node.Database.Redacted(), err)
	}
	if !installed {
		return nil, fmt.Errorf("node %s: pgduet is not installed on database %s: run `pgduet run` there first", node.Name, dbName)
	}

	var since *time.Time
	if !cf.since.IsZero() {
		since = &cf.since
	}
	// A table given as schema.table matches exactly; a bare name matches
	// that table in any schema.
	q, err := conn.Query(ctx, `
		SELECT id, logged_at, pair, origin_node, kind, policy, resolution, table_name, statement, detail,
		       local_row::text, remote_row::text, source_lsn::text, source_xid, source_seq, resolved_at, note
		  FROM pgduet.conflicts
		 WHERE pair = $1
		   AND ($2::text IS NULL OR table_name = $2
		        OR (strpos($2, '.') = 0 AND substr(table_name, length(table_name) - length($2)) = '.' || $2))
		   AND ($3::text IS NULL OR kind = $3)
		   AND ($4::timestamptz IS NULL OR logged_at >= $4)
		 ORDER BY logged_at DESC, id DESC
		 LIMIT $5`,
		cfg.Pair.Name, nullIfEmpty(cf.table), nullIfEmpty(cf.kind), since, cf.limit)
	if err != nil {
		return nil, fmt.Errorf("node %s: read pgduet.conflicts: %w", node.Name, err)
	}
	defer q.Close()
	out := []conflictRow{}
	for q.Next() {
		var r conflictRow
		var local, remote *string
		if err := q.Scan(&r.ID, &r.LoggedAt, &r.Pair, &r.OriginNode, &r.Kind, &r.Policy, &r.Resolution, &r.Table, &r.Statement, &r.Detail,
			&local, &remote, &r.SourceLSN, &r.SourceXid, &r.SourceSeq, &r.ResolvedAt, &r.Note); err != nil {
			return nil, fmt.Errorf("node %s: read pgduet.conflicts: %w", node.Name, err)
		}
		r.LoggedAt = r.LoggedAt.UTC()
		if r.ResolvedAt != nil {
			t := r.ResolvedAt.UTC()
			r.ResolvedAt = &t
		}
		r.LocalRow, r.RemoteRow = rawJSON(local), rawJSON(remote)
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("node %s: read pgduet.conflicts: %w", node.Name, err)
	}
	return out, nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// rawJSON keeps a jsonb value as it is; NULL becomes JSON null.
func rawJSON(s *string) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(*s)
}

// whatWidth is how much of a statement or detail the text table shows.
const whatWidth = 80

// printConflicts prints the rows as an aligned table.
func printConflicts(w io.Writer, pair, node string, cf conflictFilter, rows []conflictRow) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "no conflicts recorded for pair %s on node %s%s\n", pair, node, cf.words())
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tFROM\tKIND\tPOLICY\tRESOLUTION\tTABLE\tWHAT")
	var stoppedDDL []int64
	stoppedRow := false
	for _, r := range rows {
		table := "-"
		if r.Table != nil && *r.Table != "" {
			table = *r.Table
		}
		what := r.Detail
		if strings.HasPrefix(r.Kind, "ddl_") && r.Statement != nil {
			what = r.Statement
		}
		text := ""
		if what != nil {
			text = shorten(*what, whatWidth)
		}
		if r.Resolution == "stopped" {
			if strings.HasPrefix(r.Kind, "ddl_") {
				stoppedDDL = append(stoppedDDL, r.ID)
			} else {
				stoppedRow = true
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.LoggedAt.UTC().Format(time.RFC3339), r.OriginNode,
			r.Kind, r.Policy, r.Resolution, table, text)
	}
	tw.Flush()
	n := fmt.Sprintf("%d rows", len(rows))
	if len(rows) == 1 {
		n = "1 row"
	}
	if len(rows) == cf.limit {
		n += fmt.Sprintf(" (newest first; --limit %d reached, there may be more)", cf.limit)
	} else {
		n += " (newest first)"
	}
	var hints []string
	switch len(stoppedDDL) {
	case 0:
	case 1:
		hints = append(hints, fmt.Sprintf("resolve a stopped DDL event with: SELECT pgduet.skip(%d)", stoppedDDL[0]))
	default:
		hints = append(hints, "resolve a stopped DDL event with: SELECT pgduet.skip(ID)")
	}
	if stoppedRow {
		hints = append(hints, fmt.Sprintf("a stopped row conflict is applied again once the data on node %s is fixed and its agent restarted, or skipped after SELECT pgduet.skip(ID)", node))
	}
	fmt.Fprintln(w, strings.Join(append([]string{n}, hints...), "; "))
}

// shorten puts s on one line and cuts it to at most width characters,
// ending with "…" when cut.
func shorten(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:width-1]), " ") + "…"
}
