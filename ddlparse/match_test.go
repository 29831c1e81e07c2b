package ddlparse

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func end(tag, typ, id string) Event {
	schema := ""
	if i := strings.IndexByte(id, '.'); i > 0 && !strings.Contains(id[:i], " ") {
		schema = id[:i]
	}
	return Event{Event: eventCommandEnd, Tag: tag, ObjectType: typ, Schema: schema, Identity: id}
}

func drop(tag, typ, id string) Event {
	e := end(tag, typ, id)
	e.Event = eventSQLDrop
	return e
}

// plan renders replays as "#index@at[events]".
func plan(rs []Replay) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("#%d@%d%v", r.Statement.Index, r.At, r.Events))
	}
	return strings.Join(parts, " ")
}

func mustSplit(t *testing.T, q string) []Statement {
	t.Helper()
	s, err := Split(q)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// createT is what PostgreSQL 15 reports for CREATE TABLE t (id serial
// PRIMARY KEY, ...): four rows, all tagged CREATE TABLE.
var createT = []Event{
	end("CREATE TABLE", "sequence", "public.t_id_seq"),
	end("CREATE TABLE", "table", "public.t"),
	end("CREATE TABLE", "index", "public.t_pkey"),
	end("CREATE TABLE", "sequence", "public.t_id_seq"),
}

// The scenario SPEC §6.4 is about: DDL and DML in one string. Only the two
// DDL statements replay, once each, at their first row.
func TestMatchMixedDDLAndDML(t *testing.T) {
	q := `CREATE TABLE t (id serial PRIMARY KEY, a int, b text);
INSERT INTO t (a, b) VALUES (1, 'x');
ALTER TABLE t ADD COLUMN c int;
UPDATE t SET c = a * 2;`
	stmts := mustSplit(t, q)
	events := append(append([]Event{}, createT...), end("ALTER TABLE", "table", "public.t"))
	rs, err := Match(stmts, events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#0@0[0 1 2 3] #2@4[4]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	for _, r := range rs {
		if r.Statement.Kind != KindDDL {
			t.Errorf("replays %s", r.Statement.Tag)
		}
	}
}

// ALTER TABLE ... DROP COLUMN fires a sql_drop row and a ddl_command_end
// row: one statement, one replay.
func TestMatchDropColumnFiresBothEvents(t *testing.T) {
	q := `CREATE TABLE t (id serial PRIMARY KEY, a int, b text); INSERT INTO t (a) VALUES (1);
ALTER TABLE t DROP COLUMN b; UPDATE t SET a = 2; ALTER TABLE t DROP COLUMN a`
	stmts := mustSplit(t, q)
	events := append(append([]Event{}, createT...),
		drop("ALTER TABLE", "table column", "public.t.b"),
		end("ALTER TABLE", "table", "public.t"),
		drop("ALTER TABLE", "table column", "public.t.a"),
		end("ALTER TABLE", "table", "public.t"),
	)
	rs, err := Match(stmts, events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#0@0[0 1 2 3] #2@4[4 5] #4@6[6 7]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

// Every row of a group carries the same query string, captured once per
// row: replaying the query per row (or per group) would run the INSERT
// again. Match returns each DDL statement once however many rows it fired.
func TestMatchDeduplicates(t *testing.T) {
	q := `ALTER TABLE t ADD COLUMN x int, ADD COLUMN y serial; INSERT INTO t VALUES (1)`
	stmts := mustSplit(t, q)
	events := []Event{
		end("ALTER TABLE", "sequence", "public.t_y_seq"),
		end("ALTER TABLE", "table", "public.t"),
		end("ALTER TABLE", "sequence", "public.t_y_seq"),
	}
	rs, err := Match(stmts, events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#0@0[0 1 2]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

func TestMatchSameTableAlteredTwice(t *testing.T) {
	q := `ALTER TABLE t ADD COLUMN x int; UPDATE t SET x = 1; ALTER TABLE t ALTER COLUMN x SET NOT NULL`
	rs, err := Match(mustSplit(t, q), []Event{end("ALTER TABLE", "table", "public.t"), end("ALTER TABLE", "table", "public.t")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#0@0[0] #2@1[1]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

// A rename's rows carry the new name.
func TestMatchRename(t *testing.T) {
	q := `ALTER TABLE a RENAME TO b; ALTER TABLE b ADD COLUMN x int`
	rs, err := Match(mustSplit(t, q), []Event{end("ALTER TABLE", "table", "public.b"), end("ALTER TABLE", "table", "public.b")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#0@0[0] #1@1[1]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

// Statements that fire no rows are skipped, and the rows of the others go
// to the statements whose objects they name.
func TestMatchSkipsSilentStatements(t *testing.T) {
	q := `CREATE TABLE IF NOT EXISTS old (id int);
CREATE TEMP TABLE tmp (id int);
CREATE TABLE new (id serial PRIMARY KEY)`
	events := []Event{
		end("CREATE TABLE", "table", "pg_temp.tmp"),
		end("CREATE TABLE", "sequence", "public.new_id_seq"),
		end("CREATE TABLE", "table", "public.new"),
		end("CREATE TABLE", "index", "public.new_pkey"),
		end("CREATE TABLE", "sequence", "public.new_id_seq"),
	}
	rs, err := Match(mustSplit(t, q), events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#2@1[1 2 3 4]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

// GRANT and REVOKE rows have no identity: they are matched by count.
func TestMatchGrantsWithoutIdentity(t *testing.T) {
	q := `GRANT SELECT ON a TO bob; GRANT SELECT ON b TO bob; REVOKE ALL ON c FROM bob`
	g := Event{Event: eventCommandEnd, Tag: "GRANT", ObjectType: "TABLE"}
	r := Event{Event: eventCommandEnd, Tag: "REVOKE", ObjectType: "TABLE"}
	rs, err := Match(mustSplit(t, q), []Event{g, g, r})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#0@0[0] #1@1[1] #2@2[2]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

func TestMatchNothingToReplay(t *testing.T) {
	stmts := mustSplit(t, `CREATE TEMP TABLE x (id int); INSERT INTO x VALUES (1)`)
	for _, events := range [][]Event{nil, {end("CREATE TABLE", "table", "pg_temp.x")}} {
		rs, err := Match(stmts, events)
		if err != nil || rs != nil {
			t.Errorf("Match(%v) = %v, %v; want nothing", events, rs, err)
		}
	}
}

// Rows no statement can have fired: DDL inside a DO block, a function or a
// trigger. The group is reported, never silently replayed in part.
func TestMatchUnmatchedEvents(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		events []Event
		reason Reason
	}{
		{
			name:   "tag of the DDL inside a DO block",
			query:  `CREATE TABLE log (id int); DO $$ BEGIN EXECUTE 'CREATE INDEX ON log (id)'; END $$`,
			events: []Event{end("CREATE TABLE", "table", "public.log"), end("CREATE INDEX", "index", "public.log_id_idx")},
			reason: ReasonRoutineBody,
		},
		{
			name:   "a function called by SELECT creates a table",
			query:  `CREATE TABLE made_here (id int); SELECT mk('made_by_function')`,
			events: []Event{end("CREATE TABLE", "table", "public.made_here"), end("CREATE TABLE", "table", "public.made_by_function")},
			reason: ReasonRoutineBody,
		},
		{
			name:   "a trigger on the INSERT creates a table",
			query:  `INSERT INTO jobs VALUES (1)`,
			events: []Event{end("CREATE TABLE", "table", "public.job_1")},
			reason: ReasonRoutineBody,
		},
		{
			name:   "rows that belong to another query",
			query:  `ALTER TABLE a ADD COLUMN x int`,
			events: []Event{end("CREATE TABLE", "table", "public.a")},
			reason: ReasonUnmatched,
		},
		{
			name:   "rows in an impossible order",
			query:  `CREATE TABLE a (id int); ALTER TABLE a ADD COLUMN x int`,
			events: []Event{end("ALTER TABLE", "table", "public.a"), end("CREATE TABLE", "table", "public.a")},
			reason: ReasonUnmatched,
		},
		{
			name:   "more firings than statements (command numbers)",
			query:  `CREATE TABLE a (id int); DO $$ BEGIN CREATE TABLE b (); END $$; CREATE TABLE c (id int)`,
			events: []Event{{Event: eventCommandEnd, Tag: "CREATE TABLE", ObjectType: "table", Schema: "public", Identity: "public.a", Command: 1}, {Event: eventCommandEnd, Tag: "CREATE TABLE", ObjectType: "table", Schema: "public", Identity: "public.b", Command: 2}, {Event: eventCommandEnd, Tag: "CREATE TABLE", ObjectType: "table", Schema: "public", Identity: "public.c", Command: 3}},
			reason: ReasonRoutineBody,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Match(mustSplit(t, tt.query), tt.events)
			if err == nil {
				t.Fatalf("no error; plan %s", plan(rs))
			}
			if rs != nil {
				t.Errorf("partial plan %s returned with the error", plan(rs))
			}
			var u *UnsupportedError
			if !errors.As(err, &u) || !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v is not an UnsupportedError", err)
			}
			if u.Reason != tt.reason {
				t.Errorf("reason %s, want %s: %v", u.Reason, tt.reason, err)
			}
		})
	}
}

// A string with COMMITs runs several transactions; each queue group holds
// the rows of one of them.
func TestMatchTransactions(t *testing.T) {
	q := `BEGIN; CREATE TABLE a (id int); COMMIT;
BEGIN; ALTER TABLE a ADD COLUMN x int; ALTER TABLE a ADD COLUMN y int; COMMIT;
BEGIN; CREATE INDEX ON a (x); ROLLBACK;
CREATE INDEX ON a (y)`
	stmts := mustSplit(t, q)
	if got := []int{stmts[1].Tx, stmts[4].Tx, stmts[8].Tx, stmts[10].Tx}; !reflect.DeepEqual(got, []int{0, 1, 2, 3}) {
		t.Fatalf("transactions %v", got)
	}
	rs, err := Match(stmts, []Event{end("ALTER TABLE", "table", "public.a"), end("ALTER TABLE", "table", "public.a")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#4@0[0] #5@1[1]"; got != want {
		t.Errorf("second transaction: plan %s, want %s", got, want)
	}
	rs, err = Match(stmts, []Event{end("CREATE INDEX", "index", "public.a_y_idx")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#10@0[0]"; got != want {
		t.Errorf("last transaction: plan %s, want %s", got, want)
	}
}

// Two transactions of one string that would match the same rows equally
// well cannot be told apart without command numbers; with them they can.
func TestMatchAmbiguousTransactions(t *testing.T) {
	q := `BEGIN; ALTER TABLE a ADD COLUMN x int; COMMIT; BEGIN; ALTER TABLE a ADD COLUMN y int; COMMIT`
	stmts := mustSplit(t, q)
	ev := end("ALTER TABLE", "table", "public.a")
	_, err := Match(stmts, []Event{ev})
	var u *UnsupportedError
	if !errors.As(err, &u) || u.Reason != ReasonUnmatched {
		t.Fatalf("without command numbers: %v, want an unmatched-events error", err)
	}
	ev.Command = 2
	rs, err := Match(stmts, []Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#4@0[0]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

// With command numbers a statement that fired nothing is skipped exactly,
// even when the rows name nothing.
func TestMatchCommandNumbers(t *testing.T) {
	q := `GRANT SELECT ON a TO bob; GRANT SELECT ON b TO bob; GRANT SELECT ON c TO bob`
	g := Event{Event: eventCommandEnd, Tag: "GRANT", ObjectType: "TABLE", Command: 3}
	rs, err := Match(mustSplit(t, q), []Event{g})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan(rs), "#2@0[0]"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

// Match returns a statement the peer cannot run as is; Rewrite says why.
func TestMatchReturnsUnsupportedStatements(t *testing.T) {
	stmts := mustSplit(t, `CREATE INDEX CONCURRENTLY t_a_idx ON t (a)`)
	rs, err := Match(stmts, []Event{end("CREATE INDEX", "index", "public.t_a_idx")})
	if err != nil || len(rs) != 1 {
		t.Fatalf("Match: %v, %v", plan(rs), err)
	}
	if _, err := Rewrite(rs[0].Statement, Mapping{}, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Rewrite: %v", err)
	}
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		in     string
		parts  []string
		member string
	}{
		{`public.orders`, []string{"public", "orders"}, ""},
		{`public."Orders"`, []string{"public", "Orders"}, ""},
		{`"my ""odd"" schema".t`, []string{`my "odd" schema`, "t"}, ""},
		{`public.orders.note`, []string{"public", "orders", "note"}, ""},
		{`public.f(integer,text)`, []string{"public", "f"}, ""},
		{`public.mood[]`, []string{"public", "mood"}, ""},
		{`orders_pkey on public.orders`, []string{"public", "orders"}, "orders_pkey"},
		{`"Trg on x" on "S".t`, []string{"S", "t"}, "Trg on x"},
		{`for public.orders.id`, []string{"public", "orders", "id"}, ""},
		{`ext.~=(numeric,numeric)`, []string{"ext", "~="}, ""},
		{`ext.gist_trgm_ops USING gist`, []string{"ext", "gist_trgm_ops"}, ""},
		{`app`, []string{"app"}, ""},
	}
	for _, tt := range tests {
		id := parseIdentity(tt.in)
		if !reflect.DeepEqual(id.parts, tt.parts) || id.member != tt.member {
			t.Errorf("parseIdentity(%q) = %q %q, want %q %q", tt.in, id.parts, id.member, tt.parts, tt.member)
		}
	}
}

// largeScript is a migration script of n tables, each created with a
// serial key, filled, altered twice and indexed, with the rows PostgreSQL
// reports for it.
func largeScript(n int) (string, []Event) {
	var b strings.Builder
	var events []Event
	for i := 0; i < n; i++ {
		t := fmt.Sprintf("t%d", i)
		fmt.Fprintf(&b, "CREATE TABLE %s (id serial PRIMARY KEY, a int);\nINSERT INTO %s (a) VALUES (1);\n", t, t)
		fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMN b text;\nALTER TABLE %s ALTER COLUMN b SET DEFAULT '';\nCREATE INDEX ON %s (a);\n", t, t, t)
		events = append(events,
			end("CREATE TABLE", "sequence", "public."+t+"_id_seq"),
			end("CREATE TABLE", "table", "public."+t),
			end("CREATE TABLE", "index", "public."+t+"_pkey"),
			end("CREATE TABLE", "sequence", "public."+t+"_id_seq"),
			end("ALTER TABLE", "table", "public."+t),
			end("ALTER TABLE", "table", "public."+t),
			end("CREATE INDEX", "index", "public."+t+"_a_idx"),
		)
	}
	return b.String(), events
}

func TestMatchLargeScript(t *testing.T) {
	q, events := largeScript(150)
	stmts := mustSplit(t, q)
	rs, err := Match(stmts, events)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4*150 {
		t.Fatalf("%d replays, want %d", len(rs), 4*150)
	}
	for i, r := range rs {
		table, k := i/4, i%4
		want := []int{0, 2, 3, 4}[k] + table*5
		if r.Statement.Index != want {
			t.Fatalf("replay %d is statement %d, want %d", i, r.Statement.Index, want)
		}
	}
}

func BenchmarkMatchLargeScript(b *testing.B) {
	q, events := largeScript(150)
	stmts, err := Split(q)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Match(stmts, events); err != nil {
			b.Fatal(err)
		}
	}
}

// An extension script's own drops (hstore 1.8's script drops an operator)
// reach the queue as sql_drop rows under the CREATE EXTENSION's query: they
// are ignored, and the CREATE EXTENSION replays once. In a query without an
// extension statement the same row is a routine body's.
func TestMatchIgnoresExtensionScriptDrops(t *testing.T) {
	q := `CREATE EXTENSION hstore SCHEMA app; CREATE TABLE app.h (id int, h app.hstore)`
	// As PostgreSQL 15 fires them, with the capture's command numbers: the
	// script's two DROP OPERATOR commands count as commands too.
	events := []Event{
		drop("DROP OPERATOR", "operator", "app.@(app.hstore,app.hstore)"),
		drop("DROP OPERATOR", "operator of access method", "operator 13 (app.hstore, app.hstore) of app.gist_hstore_ops USING gist"),
		drop("DROP OPERATOR", "operator", "app.~(app.hstore,app.hstore)"),
		end("CREATE EXTENSION", "extension", "hstore"),
		end("CREATE TABLE", "table", "app.h"),
	}
	for i, c := range []int{1, 1, 2, 3, 4} {
		events[i].Command = c
	}
	rs, err := Match(mustSplit(t, q), events)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan(rs); got != "#0@3[3] #1@4[4]" {
		t.Errorf("plan %s, want #0@3[3] #1@4[4]", got)
	}
	_, err = Match(mustSplit(t, `SELECT app.drop_it(); CREATE TABLE app.h (id int)`), []Event{events[0], events[4]})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("a drop under a function call: %v, want ErrUnsupported", err)
	}
}

// A savepoint rolled back after DDL undoes the capture's command numbers too,
// and the kept statement can name the same table as the undone one: refused.
func TestMatchRefusesRollbackToSavepointAfterDDL(t *testing.T) {
	q := `BEGIN; SAVEPOINT s; ALTER TABLE t ADD COLUMN x int; ROLLBACK TO s; ALTER TABLE t ADD COLUMN y int; COMMIT`
	ev := end("ALTER TABLE", "table", "public.t")
	ev.Command = 1
	_, err := Match(mustSplit(t, q), []Event{ev})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "rolls back to a savepoint") {
		t.Fatalf("Match: %v, want the savepoint refusal", err)
	}
	// A savepoint rolled back before any DDL is harmless.
	q = `BEGIN; SAVEPOINT s; INSERT INTO t VALUES (1); ROLLBACK TO s; ALTER TABLE t ADD COLUMN y int; COMMIT`
	rs, err := Match(mustSplit(t, q), []Event{ev})
	if err != nil || plan(rs) != "#4@0[0]" {
		t.Fatalf("Match: %s %v, want #4@0[0]", plan(rs), err)
	}
}

func TestAddsOnlyComputedColumns(t *testing.T) {
	for q, want := range map[string]bool{
		`ALTER TABLE t ADD COLUMN g text GENERATED ALWAYS AS (lower(v)) STORED`:                                true,
		`ALTER TABLE t ADD COLUMN n int, ADD CONSTRAINT c CHECK (n > 0)`:                                       true,
		`ALTER TABLE t ADD COLUMN r float8 DEFAULT random()`:                                                   false,
		`ALTER TABLE t ADD COLUMN id serial`:                                                                   false,
		`ALTER TABLE t ADD COLUMN id int GENERATED ALWAYS AS IDENTITY`:                                         false,
		`ALTER TABLE t ADD COLUMN g text GENERATED ALWAYS AS (v) STORED, ADD u uuid DEFAULT gen_random_uuid()`: false,
		`CREATE TABLE t (id int)`:                                                                              false,
	} {
		if got := mustSplit(t, q)[0].AddsOnlyComputedColumns(); got != want {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
}
