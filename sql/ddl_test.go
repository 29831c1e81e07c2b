package sql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/pgtest"
)

// queueRow is what the tests read back from pgduet.ddl_queue.
type queueRow struct {
	event, tag, objType, schema, identity, query, searchPath, role string
	command                                                        int
}

func readQueue(t *testing.T, conn *pgx.Conn) []queueRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT event, tag, coalesce(object_type, ''), coalesce(schema_name, ''),
		coalesce(identity, ''), coalesce(query, ''), search_path, role_name, command FROM pgduet.ddl_queue ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []queueRow
	for rows.Next() {
		var r queueRow
		if err := rows.Scan(&r.event, &r.tag, &r.objType, &r.schema, &r.identity, &r.query, &r.searchPath, &r.role, &r.command); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func exec(t *testing.T, conn *pgx.Conn, q string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func installed(t *testing.T) (*pgtest.Cluster, string, *pgx.Conn) {
	t.Helper()
	c := pgtest.Shared(t, "sql")
	db := c.NewDB(t)
	conn := c.Connect(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Install(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return c, db, conn
}

// TestCaptureRecordsCommands runs a multi-statement string as a non-superuser
// with its own search_path and checks what the queue holds: one row per
// object, numbered per command, with the caller's search_path and role, and
// nothing for DML, temporary objects or pgduet's own install.
func TestCaptureRecordsCommands(t *testing.T) {
	c, db, conn := installed(t)
	exec(t, conn, `INSERT INTO pgduet.pair_settings (pair, node, ddl_source, replicate, reverse) VALUES ('p', 'east', 'east', true, 'ignore')`)
	role := "pgduet_sql_test_" + strings.ToLower(db)
	exec(t, conn, fmt.Sprintf(`DO $$ BEGIN CREATE ROLE %[1]s LOGIN PASSWORD 'x'; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
		CREATE SCHEMA app AUTHORIZATION %[1]s`, role))
	t.Cleanup(func() {
		c.DropDB(db)
		_, _ = c.Connect(t, "postgres").Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})

	// Reinstalling (as an upgrade would) captures nothing.
	if _, err := Install(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `TRUNCATE pgduet.ddl_queue`)

	user := c.Connect(t, db)
	exec(t, user, "SET ROLE "+role+"; SET search_path = app, public")
	multi := `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'); ALTER TABLE t ADD COLUMN w int; CREATE TEMP TABLE scratch (x int); DROP TABLE t`
	exec(t, user, multi)

	got := readQueue(t, conn)
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%d", r.event, r.tag, r.objType, r.identity, r.command))
		if r.query != multi {
			t.Errorf("row %s: query %q, want the whole client string", r.identity, r.query)
		}
		if r.searchPath != "app, public" {
			t.Errorf("row %s: search_path %q, want the caller's", r.identity, r.searchPath)
		}
		if r.role != role {
			t.Errorf("row %s: role %q, want %q", r.identity, r.role, role)
		}
	}
	want := []string{
		"ddl_command_end|CREATE TABLE|table|app.t|1",
		"ddl_command_end|CREATE TABLE|index|app.t_pkey|1",
		"ddl_command_end|ALTER TABLE|table|app.t|2",
		"ddl_command_end|CREATE TABLE|table|pg_temp.scratch|3",
	}
	if len(lines) < len(want)+1 {
		t.Fatalf("queue rows:\n%s\nwant at least:\n%s\n+ the DROP's sql_drop rows", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("row %d = %s, want %s", i, lines[i], w)
		}
	}
	for _, l := range lines[len(want):] {
		if !strings.HasPrefix(l, "sql_drop|DROP TABLE|") || !strings.HasSuffix(l, "|4") {
			t.Errorf("row %s: want the sql_drop rows of command 4", l)
		}
	}
	// The caller's search_path is intact after the triggers ran.
	var sp string
	if err := user.QueryRow(context.Background(), "SHOW search_path").Scan(&sp); err != nil || sp != "app, public" {
		t.Errorf("search_path after DDL = %q (%v), want app, public", sp, err)
	}

	// Off when no pair replicates DDL, and in pgduet's internal sessions.
	exec(t, conn, `TRUNCATE pgduet.ddl_queue; UPDATE pgduet.pair_settings SET replicate = false`)
	exec(t, user, `CREATE TABLE off1 (id int)`)
	exec(t, conn, `UPDATE pgduet.pair_settings SET replicate = true`)
	exec(t, user, `BEGIN; `+InternalSQL+`; CREATE TABLE off2 (id int); COMMIT`)
	if got := readQueue(t, conn); len(got) != 0 {
		t.Errorf("captured %d rows with replication off or internal, want 0: %+v", len(got), got)
	}
}

// TestRejectOnNonSource checks ddl.reverse = "reject": DDL fails on the node
// that is not the DDL source, naming the source, except on temporary objects.
func TestRejectOnNonSource(t *testing.T) {
	_, _, conn := installed(t)
	exec(t, conn, `INSERT INTO pgduet.pair_settings (pair, node, ddl_source, replicate, reverse) VALUES ('p', 'west', 'east', true, 'reject')`)
	exec(t, conn, `CREATE TEMP TABLE fine (x int); DROP TABLE fine`)
	for _, q := range []string{`CREATE TABLE nope (x int)`, `CREATE SCHEMA nope`} {
		_, err := conn.Exec(context.Background(), q)
		if err == nil || !strings.Contains(err.Error(), `DDL flows from node "east" only`) || !strings.Contains(err.Error(), `node "west"`) {
			t.Errorf("%s on the non-source node: %v, want a rejection naming both nodes", q, err)
		}
	}
	exec(t, conn, `BEGIN; `+InternalSQL+`; CREATE TABLE allowed (x int); COMMIT`)
	if _, err := conn.Exec(context.Background(), `DROP TABLE allowed`); err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Errorf("DROP on the non-source node: %v, want a rejection", err)
	}
	if got := readQueue(t, conn); len(got) != 0 {
		t.Errorf("reject mode captured %d rows, want 0", len(got))
	}
	// Replica sessions (pgduet's apply) are not affected.
	exec(t, conn, `SET session_replication_role = replica; CREATE TABLE applied (x int); SET session_replication_role = origin`)
}

// TestSkipNeedsAStoppedEvent checks pgduet.skip's errors and effect.
func TestSkipNeedsAStoppedEvent(t *testing.T) {
	_, _, conn := installed(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `SELECT pgduet.skip(42)`); err == nil || !strings.Contains(err.Error(), "no pgduet.conflicts row with id 42") {
		t.Errorf("skip of a missing id: %v", err)
	}
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO pgduet.conflicts (pair, origin_node, kind, policy, resolution, source_lsn, source_seq)
		VALUES ('p', 'east', 'ddl_unsupported', 'fail', 'stopped', '0/10', 3) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	var msg string
	if err := conn.QueryRow(ctx, `SELECT pgduet.skip($1, 'replayed by hand')`, id).Scan(&msg); err != nil || !strings.Contains(msg, "restart the agent") {
		t.Fatalf("skip: %q %v", msg, err)
	}
	var res string
	if err := conn.QueryRow(ctx, `SELECT resolution FROM pgduet.conflicts WHERE id = $1`, id).Scan(&res); err != nil || res != "skip_requested" {
		t.Fatalf("resolution %q %v, want skip_requested", res, err)
	}
	exec(t, conn, fmt.Sprintf(`UPDATE pgduet.conflicts SET resolution = 'skipped' WHERE id = %d`, id))
	if _, err := conn.Exec(ctx, `SELECT pgduet.skip($1)`, id); err == nil || !strings.Contains(err.Error(), "not stopped") {
		t.Errorf("skip of a done event: %v", err)
	}
}

// TestCaptureCannotBeTurnedAgainstIt: a non-superuser can neither switch the
// capture off with pgduet.internal nor run code as the trigger functions'
// owner through a pg_temp type that shadows one the wrappers use.
func TestCaptureCannotBeTurnedAgainstIt(t *testing.T) {
	c, db, conn := installed(t)
	exec(t, conn, `INSERT INTO pgduet.pair_settings (pair, node, ddl_source, replicate, reverse) VALUES ('p', 'east', 'east', true, 'ignore')`)
	role := "pgduet_sql_probe_" + strings.ToLower(db)
	exec(t, conn, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN PASSWORD 'x';
		CREATE SCHEMA probe AUTHORIZATION %[1]s;
		CREATE TABLE public.seen (who text); GRANT INSERT ON public.seen TO PUBLIC;
		CREATE FUNCTION public.probe(text) RETURNS boolean LANGUAGE sql AS $$ INSERT INTO public.seen VALUES (current_user) RETURNING true $$;`, role))
	t.Cleanup(func() {
		c.DropDB(db)
		_, _ = c.Connect(t, "postgres").Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	exec(t, conn, `TRUNCATE pgduet.ddl_queue`)

	// Logged in as the role itself (a superuser login may do anything).
	user, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:x@127.0.0.1:%d/%s?sslmode=disable", role, c.Port, db))
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close(context.Background())
	exec(t, user, `SET pgduet.internal = on; CREATE TABLE probe.a (x int)`)
	if n := len(readQueue(t, conn)); n == 0 {
		t.Errorf("a non-superuser's pgduet.internal = on switched the capture off")
	}
	// A fresh session, so the wrappers are compiled with the pg_temp type in
	// sight (PL/pgSQL compiles a function once per session).
	user2, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:x@127.0.0.1:%d/%s?sslmode=disable", role, c.Port, db))
	if err != nil {
		t.Fatal(err)
	}
	defer user2.Close(context.Background())
	exec(t, user2, `CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (public.probe(VALUE)); SET search_path = probe, public; CREATE TABLE b (x int)`)
	var who []string
	rows, err := conn.Query(context.Background(), "SELECT who FROM public.seen")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var w string
		_ = rows.Scan(&w)
		who = append(who, w)
	}
	if len(who) > 0 {
		t.Errorf("a pg_temp type ran code inside the capture as %v", who)
	}
}

// TestCaptureKeysAndRewrites: command numbers survive a SET TimeZone inside
// the string, and a table rewrite for a volatile default leaves a
// table_rewrite row the peer stops on.
func TestCaptureKeysAndRewrites(t *testing.T) {
	_, _, conn := installed(t)
	exec(t, conn, `INSERT INTO pgduet.pair_settings (pair, node, ddl_source, replicate, reverse) VALUES ('p', 'east', 'east', true, 'ignore');
		CREATE TABLE public.t (a int, b int); INSERT INTO public.t VALUES (1, 2)`)
	exec(t, conn, `TRUNCATE pgduet.ddl_queue`)
	exec(t, conn, `CREATE INDEX i3 ON public.t (a); SET TimeZone = 'Asia/Tokyo'; CREATE INDEX i4 ON public.t (b); RESET TimeZone`)
	var got []string
	for _, r := range readQueue(t, conn) {
		got = append(got, fmt.Sprintf("%s %d", r.identity, r.command))
	}
	if strings.Join(got, ",") != "public.i3 1,public.i4 2" {
		t.Errorf("command numbers across SET TimeZone: %v, want public.i3 1, public.i4 2", got)
	}

	exec(t, conn, `TRUNCATE pgduet.ddl_queue`)
	exec(t, conn, `ALTER TABLE public.t ADD COLUMN c double precision DEFAULT random(); ALTER TABLE public.t ADD COLUMN d int DEFAULT 7`)
	got = nil
	for _, r := range readQueue(t, conn) {
		got = append(got, fmt.Sprintf("%s %s %d", r.event, r.identity, r.command))
	}
	if strings.Join(got, ",") != "table_rewrite public.t 1,ddl_command_end public.t 1,ddl_command_end public.t 2" {
		t.Errorf("rows for a volatile and a constant default: %v", got)
	}

	// What a failed capture leaves for the peer to stop on.
	exec(t, conn, `TRUNCATE pgduet.ddl_queue; SELECT pgduet.capture_failed('CREATE TABLE', 'boom')`)
	var ev, tag, detail string
	if err := conn.QueryRow(context.Background(), `SELECT event, tag, detail FROM pgduet.ddl_queue`).Scan(&ev, &tag, &detail); err != nil ||
		ev != "capture_error" || tag != "CREATE TABLE" || detail != "boom" {
		t.Errorf("capture_error row: %q %q %q (%v)", ev, tag, detail, err)
	}
}
