package apply

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/ddlparse"
)

// CREATE TABLE AS goes before the run of its rows that ends at its queue
// row, never before earlier changes of a table of the same name.
func TestRowsBefore(t *testing.T) {
	old := &change.Relation{ID: 1, Table: change.TableRef{Schema: "s", Name: "t"}}
	other := &change.Relation{ID: 2, Table: change.TableRef{Schema: "s", Name: "u"}}
	queue := &change.Relation{ID: 3, Table: change.DDLQueue}
	tx := &change.Tx{Changes: []change.Change{
		{Op: change.Update, Rel: old},   // 0: UPDATE s.t (the old table)
		{Op: change.Insert, Rel: queue}, // 1: ALTER TABLE s.t RENAME TO t_old
		{Op: change.Insert, Rel: old},   // 2: the CTAS rows of the new s.t
		{Op: change.Insert, Rel: old},   // 3
		{Op: change.Insert, Rel: queue}, // 4: CREATE TABLE s.t AS ...
		{Op: change.Insert, Rel: other}, // 5
	}}
	if got := rowsBefore(tx, old.Table, 4); got != 2 {
		t.Errorf("rowsBefore = %d, want 2 (after the rename, before the rows)", got)
	}
	if got := rowsBefore(tx, other.Table, 4); got != 4 {
		t.Errorf("no rows of the table: %d, want 4", got)
	}
	if got := rowsBefore(tx, change.TableRef{}, 4); got != 4 {
		t.Errorf("unknown table: %d, want 4", got)
	}
}

func TestUnfaithful(t *testing.T) {
	drop := ddlparse.Replay{Statement: ddlparse.Statement{Tag: "DROP TABLE", Text: "DROP TABLE a, b"}}
	rows := []queueRow{
		{event: "sql_drop", tag: "CREATE TABLE", schema: "pg_temp", identity: "pg_temp.b", command: 1},
		{event: "sql_drop", tag: "DROP TABLE", schema: "public", identity: "public.a", command: 2},
		{event: "sql_drop", tag: "DROP TABLE", schema: "pg_temp", identity: "pg_temp.b", command: 2},
	}
	drop.At = 1
	if why := unfaithful(rows, drop, nil, 1); !strings.Contains(why, "temporary object pg_temp.b") {
		t.Errorf("DROP TABLE of a permanent and a temporary table: %q", why)
	}
	// The temporary table of another command does not matter.
	if why := unfaithful(rows[:2], drop, nil, 1); why != "" {
		t.Errorf("DROP TABLE a alone: %q", why)
	}

	alter := ddlparse.Replay{Statement: ddlparse.Statement{Tag: "ALTER TABLE"}}
	rows = []queueRow{{event: "ddl_command_end", tag: "ALTER TABLE", schema: "public", identity: "public.t", command: 2}}
	rewrite := []queueRow{{event: "table_rewrite", tag: "ALTER TABLE", identity: "public.t", command: 2, detail: "reason 2"}}
	if why := unfaithful(rows, alter, rewrite, 1); !strings.Contains(why, "volatile default") {
		t.Errorf("ALTER TABLE with a rewrite for a volatile default: %q", why)
	}
	rewrite[0].command = 1
	if why := unfaithful(rows, alter, rewrite, 1); why != "" {
		t.Errorf("a rewrite of another command: %q", why)
	}
}

// queueInsert is the insert a DDL source's event trigger makes for one
// object a command touched.
func queueInsert(q *change.Relation, query, event, tag, typ, schema, identity string, command int) change.Change {
	return ins(q, vs("1", event, tag, typ, schema, identity, fmt.Sprint(command), query, "public", "postgres", "4242", "777", "2026-11-23 10:00:00+00")...)
}

var queueRel = rel("pgduet.ddl_queue", change.IdentityDefault, "id*", "event", "tag", "object_type", "schema_name", "identity",
	"command", "query", "search_path", "role_name", "backend_pid", "txid", "stmt_time")

// A replayed statement that fails: under fail the transaction stops with a
// *DDLError (retried by the supervisor); under another policy it is skipped
// in a savepoint, recorded, and the rest of the transaction applies.
func TestDDLFailedByPolicy(t *testing.T) {
	for _, stop := range []bool{true, false} {
		t.Run(fmt.Sprintf("stop=%v", stop), func(t *testing.T) {
			e := newEnv(t)
			e.cfg.DDL = &DDLRules{Allowed: func(string) (bool, string) { return true, "allow *" },
				Selected: func(string, string, bool) bool { return true }, Stop: stop, Policy: "ignore"}
			if stop {
				e.cfg.DDL.Policy = "fail"
			}
			e.exec(`CREATE TABLE public.dup (x int); CREATE TABLE public.other (id int PRIMARY KEY)`)
			a := e.open()
			other := rel("public.other", change.IdentityDefault, "id*")
			q := `CREATE TABLE public.dup (id int PRIMARY KEY)`
			tx := e.tx(queueInsert(queueRel, q, "ddl_command_end", "CREATE TABLE", "table", "public", "public.dup", 1),
				ins(other, v("7")))
			err := a.Apply(t.Context(), tx)
			if stop {
				var de *DDLError
				if !errors.As(err, &de) || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "pgduet.skip") {
					t.Fatalf("Apply: %v, want a *DDLError saying how to resume", err)
				}
				if e.count("public.other") != 0 {
					t.Fatal("the rest of a stopped transaction was applied")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if e.count("public.other") != 1 {
				t.Fatal("the row after the skipped DDL was not applied")
			}
			got := e.rows(`SELECT kind || '|' || resolution FROM pgduet.conflicts`)
			wantRows(t, got, "ddl_failed|skipped")
			if st := a.Stats(); st.DDLSkipped[KindDDLFailed] != 1 {
				t.Fatalf("stats: %+v", st)
			}
		})
	}
}
