package capture

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// published lists the publication's tables ("schema.table", sorted).
func (f *fixture) published() []string {
	f.t.Helper()
	rows, err := f.conn.Query(f.ctx, "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1", PublicationName(testPair))
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// membershipXmins identifies the current catalog rows of the publication's
// membership: an ALTER replaces them.
func (f *fixture) membershipXmins() string {
	f.t.Helper()
	var s string
	err := f.conn.QueryRow(f.ctx, `SELECT coalesce(string_agg(x, ',' ORDER BY x), '') FROM (
		SELECT pr.xmin::text || ':' || pr.oid::text AS x FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = $1
		UNION ALL
		SELECT pn.xmin::text || ':' || pn.oid::text FROM pg_publication_namespace pn JOIN pg_publication p ON p.oid = pn.pnpubid WHERE p.pubname = $1) m`,
		PublicationName(testPair)).Scan(&s)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func TestSetupIsIdempotent(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Orders"(id int PRIMARY KEY); CREATE TABLE public.b(id int PRIMARY KEY); CREATE TABLE public.c(id int PRIMARY KEY)`)

	f.setup([]string{"Sales"}, [2]string{"public", "b"})
	want := []string{"Sales.Orders", "public.b"}
	if got := f.published(); !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	var plugin, slotType string
	var temporary bool
	if err := f.conn.QueryRow(f.ctx, "SELECT plugin, slot_type, temporary FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()",
		SlotName(testPair, testNode)).Scan(&plugin, &slotType, &temporary); err != nil {
		t.Fatalf("slot: %v", err)
	}
	if plugin != "pgoutput" || slotType != "logical" || temporary {
		t.Fatalf("slot plugin=%s type=%s temporary=%v", plugin, slotType, temporary)
	}
	consistent := f.confirmed()

	before := f.membershipXmins()
	f.setup([]string{"Sales"}, [2]string{"public", "b"}, [2]string{"public", "b"}) // a duplicate is harmless
	if got := f.published(); !slices.Equal(got, want) {
		t.Fatalf("after the second Setup: published %v, want %v", got, want)
	}
	if after := f.membershipXmins(); after != before {
		t.Fatalf("the second Setup rewrote an unchanged membership: %q → %q", before, after)
	}
	if got := f.confirmed(); got != consistent {
		t.Fatalf("the second Setup changed the slot: confirmed_flush_lsn %s → %s", consistent, got)
	}
}

func TestSetupFollowsSelection(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE SCHEMA s; CREATE TABLE s.a(id int PRIMARY KEY); CREATE TABLE public.b(id int PRIMARY KEY); CREATE TABLE public.c(id int PRIMARY KEY)`)

	steps := []struct {
		schemas []string
		tables  [][2]string
		want    []string
	}{
		{[]string{"s"}, [][2]string{{"public", "b"}}, []string{"public.b", "s.a"}},
		{nil, [][2]string{{"public", "b"}, {"public", "c"}}, []string{"public.b", "public.c"}},
		{nil, nil, nil},
		{[]string{"s", "public"}, nil, []string{"public.b", "public.c", "s.a"}},
		{[]string{"s"}, nil, []string{"s.a"}},
	}
	var oid uint32
	for i, s := range steps {
		if err := Setup(f.ctx, f.conn, f.c.DSN(f.db), testPair, testNode, s.schemas, s.tables); err != nil {
			t.Fatalf("step %d: Setup: %v", i, err)
		}
		if got := f.published(); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: published %v, want %v", i, got, s.want)
		}
		var o uint32
		if err := f.conn.QueryRow(f.ctx, "SELECT oid FROM pg_publication WHERE pubname = $1", PublicationName(testPair)).Scan(&o); err != nil {
			t.Fatal(err)
		}
		if i > 0 && o != oid {
			t.Fatalf("step %d: the publication was re-created (oid %d → %d)", i, oid, o)
		}
		oid = o
	}

	// Row filters and reduced publish options set by hand are reset.
	f.exec(`ALTER PUBLICATION pgduet_p SET TABLE public.b WHERE (id > 10); ALTER PUBLICATION pgduet_p SET (publish = 'insert')`)
	f.setup(nil, [2]string{"public", "b"})
	var filtered, all bool
	if err := f.conn.QueryRow(f.ctx, `SELECT bool_or(pr.prqual IS NOT NULL), bool_and(p.pubinsert AND p.pubupdate AND p.pubdelete AND p.pubtruncate)
		FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid WHERE p.pubname = $1`, PublicationName(testPair)).Scan(&filtered, &all); err != nil {
		t.Fatal(err)
	}
	if filtered || !all {
		t.Fatalf("after Setup: row filter kept=%v, publishes everything=%v", filtered, all)
	}
}

func TestSetupErrors(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE public.b(id int PRIMARY KEY); CREATE VIEW public.v AS SELECT 1 AS x`)
	dsn := f.c.DSN(f.db)
	cases := []struct {
		name    string
		pair    string
		schemas []string
		tables  [][2]string
		prepare string
		want    []string
	}{
		{name: "missing table", pair: "p", tables: [][2]string{{"public", "b"}, {"public", "missing"}},
			want: []string{"capture east: setup", `table "public"."missing" does not exist`}},
		{name: "missing schema", pair: "p", schemas: []string{"nope"}, want: []string{`schema "nope" does not exist`}},
		{name: "not a table", pair: "p", tables: [][2]string{{"public", "v"}}, want: []string{`"public"."v" is not a table`}},
		{name: "bad pair name", pair: "P-1", want: []string{`pair name "P-1"`}},
		{name: "slot with another plugin", pair: "z",
			prepare: "SELECT pg_create_logical_replication_slot('pgduet_z_east', 'test_decoding')",
			want:    []string{"slot pgduet_z_east", "plugin test_decoding"}},
		{name: "slot of another database", pair: "y",
			// made on database postgres below
			want: []string{"slot pgduet_y_east", "exists for database postgres"}},
		{name: "all-tables publication", pair: "q", prepare: "CREATE PUBLICATION pgduet_q FOR ALL TABLES",
			want: []string{"publication pgduet_q", "FOR ALL TABLES"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.pair == "y":
				other := f.c.Connect(t, "postgres")
				if _, err := other.Exec(f.ctx, "SELECT pg_create_logical_replication_slot('pgduet_y_east', 'pgoutput')"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_, _ = other.Exec(context.Background(), "SELECT pg_drop_replication_slot('pgduet_y_east')")
				})
			case tc.prepare != "":
				f.exec(tc.prepare)
			}
			err := Setup(f.ctx, f.conn, dsn, tc.pair, testNode, tc.schemas, tc.tables)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("Setup: err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
	// Nothing was half-done by the failed calls: no publication, no slot for pair p.
	var n int
	if err := f.conn.QueryRow(f.ctx, `SELECT (SELECT count(*) FROM pg_publication WHERE pubname = 'pgduet_p')
		+ (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgduet_p_east')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("failed Setups left %d objects behind", n)
	}
}

func TestCreateSlotExportsSnapshot(t *testing.T) {
	f := newFixture(t, nil)
	f.exec("CREATE TABLE t(id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	repl, err := ConnectReplication(f.ctx, f.c.DSN(f.db))
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuietly(repl)
	slot, err := CreateSlot(f.ctx, repl, "pgduet_snap_east", true)
	if err != nil {
		t.Fatalf("CreateSlot: %v", err)
	}
	if slot.Name != "pgduet_snap_east" || slot.SnapshotName == "" || slot.ConsistentPoint == 0 {
		t.Fatalf("slot = %+v", slot)
	}
	f.exec("INSERT INTO t VALUES (2)") // after the snapshot

	reader := f.c.Connect(t, f.db)
	tx, err := reader.BeginTx(f.ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(f.ctx, "SET TRANSACTION SNAPSHOT '"+slot.SnapshotName+"'"); err != nil {
		t.Fatalf("import snapshot: %v", err)
	}
	var n int
	if err := tx.QueryRow(f.ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the exported snapshot sees %d rows, want 1 (the row inserted after the slot must not be visible)", n)
	}
}
