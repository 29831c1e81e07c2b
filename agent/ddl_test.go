package agent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
)

// query returns the rows of q on node as "a|b" lines, for comparisons.
func (p *pair) query(ctx context.Context, node, q string) string {
	p.t.Helper()
	rows, err := p.conn[node].Query(ctx, q)
	if err != nil {
		p.t.Fatalf("%s: %s: %v", node, q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			p.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		lines = append(lines, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		p.t.Fatalf("%s: %s: %v", node, q, err)
	}
	return strings.Join(lines, "\n")
}

// sameOnBoth fails unless q returns the same rows on east (qEast) and west (qWest).
func (p *pair) sameOnBoth(ctx context.Context, qEast, qWest, want string) {
	p.t.Helper()
	e, w := p.query(ctx, "east", qEast), p.query(ctx, "west", qWest)
	if e != w {
		p.t.Errorf("east (%s):\n%s\nwest (%s):\n%s", qEast, e, qWest, w)
	}
	if want != "" && e != want {
		p.t.Errorf("east (%s):\n%s\nwant:\n%s", qEast, e, want)
	}
}

const columnsSQL = `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '%s' AND table_name = '%s' ORDER BY ordinal_position`

// TestDDLMultiStatement is acceptance 2 of the DDL issue: one simple query
// holding DDL and DML replays only its DDL on the peer; the rows arrive once.
func TestDDLMultiStatement(t *testing.T) {
	// Roles are cluster-wide: the role may exist from an earlier run.
	p := newPair(t, pairOpts{schema: `DO $$ BEGIN CREATE ROLE pgduet_ddl_owner; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
		GRANT CREATE ON SCHEMA public TO pgduet_ddl_owner;`})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	// DDL is replayed as the role that ran it, when the peer has that role.
	p.exec(ctx, "east", `SET ROLE pgduet_ddl_owner; CREATE TABLE public.owned (id int PRIMARY KEY); RESET ROLE`)
	p.barrier(ctx, "east")
	p.sameOnBoth(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'", "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'", "pgduet_ddl_owner")

	p.exec(ctx, "east", `CREATE TABLE public.multi (id int PRIMARY KEY, v text);
		INSERT INTO public.multi VALUES (1, 'a'), (2, 'b');
		ALTER TABLE public.multi ADD COLUMN w int DEFAULT 7;
		UPDATE public.multi SET w = id * 10 WHERE id = 2;
		INSERT INTO public.multi (id, v) VALUES (3, 'c')`)
	p.barrier(ctx, "east")
	p.sameOnBoth(ctx, fmt.Sprintf(columnsSQL, "public", "multi"), fmt.Sprintf(columnsSQL, "public", "multi"),
		"id|integer\nv|text\nw|integer")
	p.sameOnBoth(ctx, "SELECT * FROM public.multi ORDER BY id", "SELECT * FROM public.multi ORDER BY id",
		"1|a|7\n2|b|20\n3|c|7")

	// Unqualified names resolve with the source session's search_path; a
	// transaction with DDL between row changes keeps their order.
	p.exec(ctx, "east", `SET search_path = public; BEGIN;
		INSERT INTO multi VALUES (4, 'd', 1);
		ALTER TABLE multi RENAME COLUMN w TO weight;
		INSERT INTO multi VALUES (5, 'e', 2);
		CREATE INDEX multi_v_idx ON multi (v);
		COMMIT; RESET search_path`)
	p.converge(ctx)
	p.sameOnBoth(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = 'multi_v_idx'", "SELECT indexdef FROM pg_indexes WHERE indexname = 'multi_v_idx'",
		"CREATE INDEX multi_v_idx ON public.multi USING btree (v)")
	p.sameOnBoth(ctx, "SELECT id, weight FROM public.multi ORDER BY id", "SELECT id, weight FROM public.multi ORDER BY id",
		"1|7\n2|20\n3|7\n4|1\n5|2")

	// The replay on west fired no capture there: west's queue stays empty.
	if n := p.query(ctx, "west", "SELECT count(*) FROM pgduet.ddl_queue"); n != "0" {
		t.Errorf("west captured %s queue rows while replaying east's DDL, want 0", n)
	}
	if n := p.query(ctx, "east", "SELECT count(DISTINCT command) FROM pgduet.ddl_queue"); n == "0" {
		t.Errorf("east's queue is empty: DDL was not captured")
	}
}

// TestDDLCreateTableAs is acceptance 6: CREATE TABLE AS and SELECT INTO
// create the table on the peer and its rows arrive once, as rows.
func TestDDLCreateTableAs(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE public.src (id int PRIMARY KEY, v text);
		INSERT INTO public.src SELECT g, 'v' || g FROM generate_series(1, 50) g;`})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", `CREATE TABLE public.ctas AS SELECT id, v FROM public.src WHERE id <= 20`)
	p.exec(ctx, "east", `SELECT id, upper(v) AS v INTO public.sinto FROM public.src WHERE id > 40`)
	p.exec(ctx, "east", `BEGIN; CREATE TABLE public.ctas2 AS SELECT id FROM public.src WHERE id % 10 = 0; ALTER TABLE public.ctas2 ADD PRIMARY KEY (id); COMMIT`)
	p.barrier(ctx, "east")
	for _, tbl := range []string{"ctas", "sinto", "ctas2"} {
		q := fmt.Sprintf("SELECT count(*), count(DISTINCT id), coalesce(sum(id), 0) FROM public.%s", tbl)
		p.sameOnBoth(ctx, q, q, "")
		if got := p.query(ctx, "west", q); strings.HasPrefix(got, "0|") {
			t.Errorf("west public.%s is empty", tbl)
		}
	}
	p.sameOnBoth(ctx, "SELECT count(*) FROM public.ctas", "SELECT count(*) FROM public.ctas", "20")
	p.sameOnBoth(ctx, "SELECT string_agg(v, ',' ORDER BY id) FROM public.sinto", "SELECT string_agg(v, ',' ORDER BY id) FROM public.sinto", "")
}

// TestDDLMapping is acceptance 3: with schema app mapped to app_copy and one
// table renamed, DDL lands on the mapped names, inside CREATE INDEX,
// REFERENCES and view bodies too, and so do the rows, both ways.
func TestDDLMapping(t *testing.T) {
	p := newPair(t, pairOpts{
		schema: `CREATE SCHEMA IF NOT EXISTS app; CREATE SCHEMA IF NOT EXISTS app_copy;`,
		selection: `schema "public" { tables = ["*"] }
schema "app" {
  tables = ["*"]
  target = "app_copy"
}
table "app.customers" {
  target = "app_copy.clients"
}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", `CREATE TABLE app.customers (id int PRIMARY KEY, name text NOT NULL)`)
	p.exec(ctx, "east", `CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int REFERENCES app.customers (id), total numeric)`)
	p.exec(ctx, "east", `CREATE INDEX customers_name_idx ON app.customers (lower(name))`)
	p.exec(ctx, "east", `CREATE VIEW app.big_orders AS SELECT o.id, c.name, o.total FROM app.orders o JOIN app.customers c ON c.id = o.customer_id WHERE o.total > 100`)
	p.exec(ctx, "east", `INSERT INTO app.customers VALUES (1, 'Ann'), (2, 'Bob'); INSERT INTO app.orders VALUES (10, 1, 50), (11, 2, 500)`)
	p.barrier(ctx, "east")

	p.sameOnBoth(ctx, "SELECT * FROM app.customers ORDER BY id", "SELECT * FROM app_copy.clients ORDER BY id", "1|Ann\n2|Bob")
	p.sameOnBoth(ctx, "SELECT id, name, total::int FROM app.big_orders ORDER BY id", "SELECT id, name, total::int FROM app_copy.big_orders ORDER BY id", "11|Bob|500")
	if got := p.query(ctx, "west", "SELECT indexdef FROM pg_indexes WHERE indexname = 'customers_name_idx'"); got != "CREATE INDEX customers_name_idx ON app_copy.clients USING btree (lower(name))" {
		t.Errorf("west index: %q", got)
	}
	if got := p.query(ctx, "west", `SELECT confrelid::regclass::text FROM pg_constraint WHERE conrelid = 'app_copy.orders'::regclass AND contype = 'f'`); got != "app_copy.clients" {
		t.Errorf("west foreign key references %q, want app_copy.clients", got)
	}
	if got := p.query(ctx, "west", "SELECT count(*) FROM pg_tables WHERE schemaname = 'app'"); got != "0" {
		t.Errorf("west has %s tables in schema app: the mapping was not applied", got)
	}

	// Rows written on west map back to east's names.
	p.exec(ctx, "west", `INSERT INTO app_copy.clients VALUES (3, 'Cy'); INSERT INTO app_copy.orders VALUES (12, 3, 700)`)
	p.barrier(ctx, "west")
	p.sameOnBoth(ctx, "SELECT id, name, total::int FROM app.big_orders ORDER BY id", "SELECT id, name, total::int FROM app_copy.big_orders ORDER BY id", "11|Bob|500\n12|Cy|700")
}

// TestDDLForwardOnly is acceptance 4: DDL on the node that is not the DDL
// source never reaches the source. With reverse = "ignore" it is logged and
// counted; with "reject" it fails there, naming the source.
func TestDDLForwardOnly(t *testing.T) {
	t.Run("ignore", func(t *testing.T) {
		p := newPair(t, pairOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		p.exec(ctx, "west", `CREATE TABLE public.west_only (id int PRIMARY KEY)`)
		p.exec(ctx, "east", `CREATE TABLE public.from_east (id int PRIMARY KEY)`)
		p.converge(ctx)
		if got := p.query(ctx, "east", "SELECT count(*) FROM pg_tables WHERE tablename = 'west_only'"); got != "0" {
			t.Errorf("west's DDL reached east")
		}
		if got := p.query(ctx, "west", "SELECT count(*) FROM pg_tables WHERE tablename = 'from_east'"); got != "1" {
			t.Errorf("east's DDL did not reach west")
		}
		st := p.waitState(ctx, "west", "send", agent.StateRunning)
		if st.DDLIgnored == 0 {
			t.Errorf("west send status counts no ignored DDL: %+v", st)
		}
		if len(grepLog(p.logPath, "DDL on this node is not replicated", "west_only")) == 0 {
			t.Errorf("no log line for west's ignored DDL")
		}
	})
	t.Run("reject", func(t *testing.T) {
		p := newPair(t, pairOpts{selection: `schema "public" { tables = ["*"] }
ddl {
  reverse = "reject"
}`})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		_, err := p.conn["west"].Exec(ctx, `CREATE TABLE public.west_only (id int PRIMARY KEY)`)
		if err == nil || !strings.Contains(err.Error(), `DDL flows from node "east" only`) {
			t.Fatalf("DDL on west: %v, want a rejection pointing to east", err)
		}
		p.exec(ctx, "west", `CREATE TEMP TABLE scratch (x int)`)
		p.exec(ctx, "east", `CREATE TABLE public.from_east (id int PRIMARY KEY)`)
		p.exec(ctx, "east", `INSERT INTO public.from_east VALUES (1)`)
		p.converge(ctx)
		p.sameOnBoth(ctx, "SELECT * FROM public.from_east", "SELECT * FROM public.from_east", "1")
	})
}

// TestDDLUnsupportedAndDenied is acceptance 5: denied DDL is skipped,
// recorded and counted; DDL that cannot be replayed stops the direction
// under the fail policy, showing the statement, and once the DBA has handled
// it (replayed by hand, then pgduet.skip) a restart resumes.
func TestDDLUnsupportedAndDenied(t *testing.T) {
	p := newPair(t, pairOpts{selection: `schema "public" { tables = ["*"] }
ddl {
  deny = ["DROP TABLE", "COMMENT"]
}`, retryElse: "2s"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", `CREATE TABLE public.keep (id int PRIMARY KEY); COMMENT ON TABLE public.keep IS 'east only'`)
	p.exec(ctx, "east", `DROP TABLE public.keep`)
	p.barrier(ctx, "east")
	if got := p.query(ctx, "west", "SELECT count(*) FROM pg_tables WHERE tablename = 'keep'"); got != "1" {
		t.Fatalf("denied DROP TABLE ran on west")
	}
	if got := p.query(ctx, "west", "SELECT kind, resolution, statement FROM pgduet.conflicts ORDER BY id"); got !=
		"ddl_denied|skipped|COMMENT ON TABLE public.keep IS 'east only'\nddl_denied|skipped|DROP TABLE public.keep" {
		t.Errorf("west conflicts:\n%s", got)
	}
	st := p.waitState(ctx, "west", "receive", agent.StateRunning)
	if st.DDLSkipped["ddl_denied"] != 2 {
		t.Errorf("west receive status: ddl_denied = %d, want 2 (%+v)", st.DDLSkipped["ddl_denied"], st)
	}

	// DDL inside a DO block has no replayable text: west stops on it.
	p.exec(ctx, "east", `DO $$ BEGIN EXECUTE 'CREATE TABLE public.from_do (id int PRIMARY KEY)'; END $$`)
	p.exec(ctx, "east", `INSERT INTO public.from_do VALUES (1)`)
	failed := p.waitState(ctx, "west", "receive", agent.StateFailed)
	if !strings.Contains(failed.LastError, "ddl_unsupported") || !strings.Contains(failed.LastError, "DO $$") {
		t.Errorf("failed direction's error does not show the kind and statement: %s", failed.LastError)
	}
	var id int64
	if err := p.conn["west"].QueryRow(ctx, `SELECT id FROM pgduet.conflicts WHERE kind = 'ddl_unsupported' AND resolution = 'stopped'`).Scan(&id); err != nil {
		t.Fatalf("no stopped ddl_unsupported row in west's conflicts: %v", err)
	}
	if got := p.query(ctx, "west", "SELECT count(*) FROM pg_tables WHERE tablename = 'from_do'"); got != "0" {
		t.Fatalf("west has from_do before the DBA acted")
	}

	// The DBA replays it by hand, marks the event skipped and restarts.
	p.exec(ctx, "west", `SET session_replication_role = replica; CREATE TABLE public.from_do (id int PRIMARY KEY); RESET session_replication_role`)
	p.exec(ctx, "west", fmt.Sprintf(`SELECT pgduet.skip(%d, 'created by hand')`, id))
	if err := p.stop("west"); err != nil {
		t.Logf("stop west: %v", err)
	}
	p.start("west", agent.Knobs{})
	p.converge(ctx)
	p.sameOnBoth(ctx, "SELECT * FROM public.from_do", "SELECT * FROM public.from_do", "1")
	if got := p.query(ctx, "west", fmt.Sprintf("SELECT resolution FROM pgduet.conflicts WHERE id = %d", id)); got != "skipped_by_dba" {
		t.Errorf("conflicts row %d: resolution %q, want skipped_by_dba", id, got)
	}
}

// TestDDLFailedIsRetried: a replayed statement that fails on the peer
// (ddl_failed) keeps the direction retrying within retry.other with the
// statement in its error and a stopped row in the conflict log; once the DBA
// removes the cause, the retry applies it and the rows after it.
func TestDDLFailedIsRetried(t *testing.T) {
	p := newPair(t, pairOpts{retryElse: "10m"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	// An object of the same name exists on west only (made there in replica
	// mode, as pgduet's own replay would, so it is not captured).
	p.exec(ctx, "west", `SET session_replication_role = replica; CREATE TABLE public.clash (x int); RESET session_replication_role`)
	p.exec(ctx, "east", `CREATE TABLE public.clash (id int PRIMARY KEY, v text); INSERT INTO public.clash VALUES (1, 'a')`)
	st := p.waitState(ctx, "west", "receive", agent.StateRetrying)
	if !strings.Contains(st.LastError, "ddl_failed") || !strings.Contains(st.LastError, "CREATE TABLE public.clash") {
		t.Errorf("retrying direction's error does not show ddl_failed and the statement: %s", st.LastError)
	}
	err := pgtest.WaitFor(ctx, "a stopped ddl_failed row in west's conflicts", func(ctx context.Context) (bool, error) {
		var n int
		err := p.conn["west"].QueryRow(ctx, `SELECT count(*) FROM pgduet.conflicts WHERE kind = 'ddl_failed' AND resolution = 'stopped'`).Scan(&n)
		return n == 1, err
	})
	if err != nil {
		t.Fatal(err)
	}

	p.exec(ctx, "west", `DROP TABLE public.clash`)
	p.converge(ctx)
	p.sameOnBoth(ctx, "SELECT * FROM public.clash", "SELECT * FROM public.clash", "1|a")
	if got := p.query(ctx, "west", "SELECT kind, resolution FROM pgduet.conflicts"); got != "ddl_failed|applied_on_retry" {
		t.Errorf("west conflicts after the retry succeeded: %q, want ddl_failed|applied_on_retry", got)
	}
}

// TestDDLRoleMissingOnPeer: DDL is never replayed as pgduet's superuser in
// place of a role the peer lacks; the direction retries, naming the role,
// and applies the statement as that role once the DBA created it.
func TestDDLRoleMissingOnPeer(t *testing.T) {
	p := newPair(t, pairOpts{retryElse: "10m"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	role := "pgduet_only_east_" + p.name
	p.exec(ctx, "east", fmt.Sprintf(`CREATE ROLE %s; GRANT CREATE ON SCHEMA public TO %[1]s`, role))
	t.Cleanup(func() {
		_, _ = p.conn["east"].Exec(context.Background(), fmt.Sprintf("DROP OWNED BY %s; DROP ROLE %[1]s", role))
	})
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", fmt.Sprintf(`SET ROLE %s; CREATE TABLE public.by_role (id int PRIMARY KEY); RESET ROLE`, role))
	st := p.waitState(ctx, "west", "receive", agent.StateRetrying)
	if !strings.Contains(st.LastError, fmt.Sprintf("role %q", role)) || !strings.Contains(st.LastError, "create it there") {
		t.Errorf("retrying direction's error does not name the missing role and the fix: %s", st.LastError)
	}
	p.exec(ctx, "west", fmt.Sprintf(`CREATE ROLE %s; GRANT CREATE ON SCHEMA public TO %[1]s`, role))
	t.Cleanup(func() {
		_, _ = p.conn["west"].Exec(context.Background(), fmt.Sprintf("DROP OWNED BY %s; DROP ROLE %[1]s", role))
	})
	p.converge(ctx)
	p.sameOnBoth(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'by_role'", "SELECT tableowner FROM pg_tables WHERE tablename = 'by_role'", role)
}

// TestConflictLogRecordsRows: a DELETE that finds no row is skipped and
// recorded with the remote row; an INSERT that hits an existing key stops the
// direction (fail) and is recorded with both row images; after the DBA made
// the rows agree and ran pgduet.skip on the event, a restart goes on past it.
func TestConflictLogRecordsRows(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE public.items (id int PRIMARY KEY, v text);`})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Rows written before the agents start are not shipped: one on each side.
	p.exec(ctx, "east", `INSERT INTO public.items VALUES (1, 'east only')`)
	p.exec(ctx, "west", `INSERT INTO public.items VALUES (2, 'west local')`)
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", `DELETE FROM public.items WHERE id = 1`)
	p.barrier(ctx, "east")
	// The remote image of a DELETE is its old key (replica identity default).
	if got := p.query(ctx, "west", `SELECT kind, resolution, table_name, remote_row->>'id', remote_row->>'v' FROM pgduet.conflicts`); got != "delete_missing|skipped|public.items|1|<nil>" {
		t.Errorf("west conflicts after a delete_missing: %q", got)
	}

	p.exec(ctx, "east", `INSERT INTO public.items VALUES (2, 'east')`)
	failed := p.waitState(ctx, "west", "receive", agent.StateFailed)
	for _, want := range []string{"insert_exists", "public.items", "(id)=(2)"} {
		if !strings.Contains(failed.LastError, want) {
			t.Errorf("failed direction's error lacks %q: %s", want, failed.LastError)
		}
	}
	var id int64
	err := pgtest.WaitFor(ctx, "the stopped insert_exists in west's pgduet.conflicts", func(ctx context.Context) (bool, error) {
		err := p.conn["west"].QueryRow(ctx, `SELECT id FROM pgduet.conflicts WHERE kind = 'insert_exists' AND resolution = 'stopped'`).Scan(&id)
		return err == nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.query(ctx, "west", fmt.Sprintf(`SELECT local_row->>'v', remote_row->>'v' FROM pgduet.conflicts WHERE id = %d`, id)); got != "west local|east" {
		t.Errorf("row images of the insert_exists: %q, want west local|east", got)
	}

	// The DBA makes west's row what east wrote (this UPDATE reaches east as a
	// no-op) and skips the insert.
	p.exec(ctx, "west", `UPDATE public.items SET v = 'east' WHERE id = 2`)
	p.exec(ctx, "west", fmt.Sprintf(`SELECT pgduet.skip(%d, 'row made equal by hand')`, id))
	if err := p.stop("west"); err != nil {
		t.Logf("stop west: %v", err)
	}
	p.start("west", agent.Knobs{})
	p.exec(ctx, "east", `INSERT INTO public.items VALUES (3, 'after')`)
	p.converge(ctx)
	p.sameOnBoth(ctx, "SELECT * FROM public.items ORDER BY id", "SELECT * FROM public.items ORDER BY id", "2|east\n3|after")
	if got := p.query(ctx, "west", fmt.Sprintf("SELECT resolution FROM pgduet.conflicts WHERE id = %d", id)); got != "skipped_by_dba" {
		t.Errorf("resolution after the restart: %q", got)
	}
}

// TestConflictPolicies runs the overwrite policy (pair level) and ignore (one
// table) through both agents: what each node holds afterwards, and what the
// receiving node recorded.
func TestConflictPolicies(t *testing.T) {
	p := newPair(t, pairOpts{
		schema: `CREATE TABLE public.items (id int PRIMARY KEY, v text); CREATE TABLE public.notes (id int PRIMARY KEY, v text);`,
		selection: `schema "public" { tables = ["*"] }
conflicts {
  policy = "overwrite"
}
table "public.notes" {
  conflicts {
    policy = "ignore"
  }
}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Rows made before the agents start are not shipped: divergent starts.
	p.exec(ctx, "west", `INSERT INTO public.items VALUES (1, 'west'); INSERT INTO public.notes VALUES (1, 'west')`)
	p.exec(ctx, "east", `INSERT INTO public.items VALUES (2, 'east before')`)
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	p.exec(ctx, "east", `INSERT INTO public.items VALUES (1, 'east'); INSERT INTO public.notes VALUES (1, 'east');
		UPDATE public.items SET v = 'east updated' WHERE id = 2`)
	p.barrier(ctx, "east")
	// overwrite: west took east's row 1 and inserted the row 2 it never had.
	p.sameOnBoth(ctx, "SELECT * FROM public.items ORDER BY id", "SELECT * FROM public.items ORDER BY id", "1|east\n2|east updated")
	// ignore: west kept its own row; the nodes differ, as documented.
	if e, w := p.query(ctx, "east", "SELECT v FROM public.notes"), p.query(ctx, "west", "SELECT v FROM public.notes"); e != "east" || w != "west" {
		t.Errorf("notes under ignore: east %q, west %q; want east, west", e, w)
	}
	got := p.query(ctx, "west", `SELECT table_name, kind, policy, resolution, coalesce(local_row->>'v', local_row->0->>'v', ''), remote_row->>'v'
		FROM pgduet.conflicts ORDER BY id`)
	want := "public.items|insert_exists|overwrite|overwritten|west|east\npublic.notes|insert_exists|ignore|skipped|west|east\npublic.items|update_missing|overwrite|inserted||east updated"
	if got != want {
		t.Errorf("west pgduet.conflicts:\n%s\nwant:\n%s", got, want)
	}
	st := p.waitState(ctx, "west", "receive", agent.StateRunning)
	if st.Conflicts["insert_exists/overwritten"] != 1 || st.Conflicts["insert_exists/skipped"] != 1 || st.Conflicts["update_missing/inserted"] != 1 {
		t.Errorf("west receive status conflicts: %v", st.Conflicts)
	}

	// The documented outcome of overwrite when both nodes insert one key
	// concurrently (here: while the agents are down): the rows swap.
	for _, n := range pairNames {
		if err := p.stop(n); err != nil {
			t.Logf("stop %s: %v", n, err)
		}
	}
	p.exec(ctx, "east", `INSERT INTO public.items VALUES (5, 'from east')`)
	p.exec(ctx, "west", `INSERT INTO public.items VALUES (5, 'from west')`)
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	p.barrier(ctx, "east")
	p.barrier(ctx, "west")
	if e, w := p.query(ctx, "east", "SELECT v FROM public.items WHERE id = 5"), p.query(ctx, "west", "SELECT v FROM public.items WHERE id = 5"); e != "from west" || w != "from east" {
		t.Errorf("concurrent inserts under overwrite: east %q, west %q; want the rows swapped", e, w)
	}
}
