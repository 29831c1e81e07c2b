package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/pgtest"
)

func checkRows(t *testing.T, tx *change.Tx, want ...string) {
	t.Helper()
	if got := rows(tx); !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", tx, got, want)
	}
}

func TestDecodeDML(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE d(id int PRIMARY KEY, v text, n int);
		CREATE TABLE full_ri(id int, v text); ALTER TABLE full_ri REPLICA IDENTITY FULL`)
	f.setup([]string{"public"})
	s := f.start(f.config(), 0)

	f.exec(`BEGIN; INSERT INTO d VALUES (1, 'a', NULL); INSERT INTO full_ri VALUES (1, 'x'); COMMIT`)
	f.exec(`BEGIN; UPDATE d SET v = 'b' WHERE id = 1; UPDATE d SET id = 2 WHERE id = 1; UPDATE full_ri SET v = 'y'; COMMIT`)
	f.exec(`BEGIN; DELETE FROM d; DELETE FROM full_ri; COMMIT`)

	tx1 := s.next()
	checkRows(t, tx1,
		"insert public.d new[1 a NULL]",
		"insert public.full_ri new[1 x]")
	d, full := tx1.Changes[0].Rel, tx1.Changes[1].Rel
	if d.Identity != change.IdentityDefault || !slices.Equal(d.KeyColumns(), []int{0}) || d.Columns[2].Name != "n" || d.Columns[2].TypeOID != 23 {
		t.Fatalf("relation d = %+v", d)
	}
	if full.Identity != change.IdentityFull {
		t.Fatalf("relation full_ri identity %q, want 'f'", full.Identity)
	}
	tx2 := s.next()
	checkRows(t, tx2,
		"update public.d new[1 b NULL]",
		"update public.d key[1 NULL NULL] new[2 b NULL]",
		"update public.full_ri old[1 x] new[1 y]")
	tx3 := s.next()
	checkRows(t, tx3,
		"delete public.d key[2 NULL NULL]",
		"delete public.full_ri old[1 y]")

	if !(tx1.EndLSN < tx2.EndLSN && tx2.EndLSN < tx3.EndLSN) || tx1.CommitLSN >= tx1.EndLSN || tx1.Xid == 0 || tx1.CommitTime.IsZero() {
		t.Fatalf("positions: %s commit %s, %s, %s", tx1, tx1.CommitLSN, tx2, tx3)
	}
	if tx2.Changes[0].Rel != d {
		t.Fatal("the relation of an unchanged table must stay the same *change.Relation")
	}
	if st := s.c.Stats(); st.TxDelivered != 3 || st.ReceivedLSN < tx3.EndLSN || st.LastCommitTime.IsZero() {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDecodeTruncate(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE parent(id serial PRIMARY KEY);
		CREATE TABLE child(id int PRIMARY KEY, parent_id int REFERENCES parent);
		CREATE TABLE other(id int PRIMARY KEY)`)
	f.setup([]string{"public"})
	s := f.start(f.config(), 0)

	f.exec(`INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1)`)
	f.exec(`TRUNCATE parent RESTART IDENTITY CASCADE`)
	f.exec(`TRUNCATE child, other`)
	f.exec(`TRUNCATE other CASCADE`)

	checkRows(t, s.next(), "insert public.parent new[1]", "insert public.child new[1 1]")
	tx := s.next()
	if len(tx.Changes) != 1 {
		t.Fatalf("TRUNCATE ... CASCADE gave %q, want one truncate change", rows(tx))
	}
	tr := tx.Changes[0]
	var names []string
	for _, r := range tr.Rels {
		names = append(names, r.Table.String())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"public.child", "public.parent"}) || !tr.Cascade || !tr.RestartIdentity || tr.Rel != nil {
		t.Fatalf("truncate = %q cascade=%v restart=%v", names, tr.Cascade, tr.RestartIdentity)
	}
	checkRows(t, s.next(), "truncate public.child public.other")
	checkRows(t, s.next(), "truncate public.other cascade")
}

func TestDecodeUnchangedToast(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE big(id int PRIMARY KEY, payload text, note text);
		ALTER TABLE big ALTER COLUMN payload SET STORAGE EXTERNAL`)
	f.setup(nil, [2]string{"public", "big"})
	s := f.start(f.config(), 0)

	// ~3 kB of random text: stored out of line, uncompressed (STORAGE EXTERNAL).
	f.exec(`INSERT INTO big SELECT 1, string_agg(md5(random()::text), ''), 'a' FROM generate_series(1, 100)`)
	f.exec(`UPDATE big SET note = 'b'`)
	var payload string
	if err := f.conn.QueryRow(f.ctx, "SELECT payload FROM big").Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var toastTable string
	if err := f.conn.QueryRow(f.ctx, "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'big'::regclass").Scan(&toastTable); err != nil {
		t.Fatal(err)
	}
	var chunks int
	if err := f.conn.QueryRow(f.ctx, "SELECT count(*) FROM "+toastTable).Scan(&chunks); err != nil || chunks == 0 {
		t.Fatalf("payload is not stored out of line (%d chunks in %s, err %v): the test would test nothing", chunks, toastTable, err)
	}

	ins := s.next().Changes[0]
	if ins.Op != change.Insert || ins.New[1].Kind != change.Text || string(ins.New[1].Data) != payload {
		t.Fatalf("insert payload: kind %d, %d bytes; want the %d-byte text", ins.New[1].Kind, len(ins.New[1].Data), len(payload))
	}
	upd := s.next().Changes[0]
	if upd.Op != change.Update || upd.New[1].Kind != change.Unchanged || upd.New[1].Data != nil || string(upd.New[2].Data) != "b" || upd.Old != nil {
		t.Fatalf("update = %q, want payload unchanged", rows(&change.Tx{Changes: []change.Change{upd}}))
	}
}

func TestDecodeRelationChange(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY)`)
	f.setup([]string{"public"})
	s := f.start(f.config(), 0)

	f.exec(`INSERT INTO t VALUES (1)`)
	f.exec(`ALTER TABLE t ADD COLUMN extra text`)
	f.exec(`INSERT INTO t VALUES (2, 'x'); INSERT INTO t VALUES (3, 'y')`)

	tx1, tx2 := s.next(), s.next()
	r1, r2 := tx1.Changes[0].Rel, tx2.Changes[0].Rel
	if r1 == r2 {
		t.Fatal("ALTER TABLE did not yield a new *change.Relation")
	}
	if len(r1.Columns) != 1 || len(r2.Columns) != 2 || r2.Columns[1].Name != "extra" {
		t.Fatalf("before ALTER %+v, after %+v", r1.Columns, r2.Columns)
	}
	checkRows(t, tx2, "insert public.t new[2 x]", "insert public.t new[3 y]")
}

func TestEchoIsDropped(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY)`)
	f.setup([]string{"public"})
	s := f.start(f.config(), 0)

	// What apply does on this node for west's transactions: an origin session
	// and xact_setup (origins are cluster-wide: create them once). The echo is the first change to t in the stream, so its
	// Relation message must be kept for the next transaction.
	apply := f.c.Connect(t, f.db)
	for _, q := range []string{
		"SELECT pg_replication_origin_create('pgduet_p_west') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'pgduet_p_west')",
		"SELECT pg_replication_origin_session_setup('pgduet_p_west')",
		"BEGIN", "SELECT pg_replication_origin_xact_setup('0/AB', now())", "INSERT INTO t VALUES (1)", "COMMIT",
	} {
		if _, err := apply.Exec(f.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Another origin (someone else's replication into this node) is forwarded.
	foreign := f.c.Connect(t, f.db)
	for _, q := range []string{
		"SELECT pg_replication_origin_create('some_subscription') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'some_subscription')",
		"SELECT pg_replication_origin_session_setup('some_subscription')",
		"INSERT INTO t VALUES (2)",
	} {
		if _, err := foreign.Exec(f.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	f.exec(`INSERT INTO t VALUES (3)`)

	checkRows(t, s.next(), "insert public.t new[2]")
	checkRows(t, s.next(), "insert public.t new[3]")
	if st := s.c.Stats(); st.TxEcho != 1 || st.TxDelivered != 2 {
		t.Fatalf("stats = %+v, want TxEcho 1, TxDelivered 2", st)
	}
}

func TestFilter(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE keep(id int PRIMARY KEY); CREATE TABLE skip(id int PRIMARY KEY);
		CREATE TABLE pgduet.internal(id int PRIMARY KEY)`)
	f.setup([]string{"public", "pgduet"})
	cfg := f.config()
	cfg.Filter = func(t change.TableRef, op change.Op) bool { return t.Name != "skip" }
	s := f.start(cfg, 0)

	f.exec(`BEGIN; INSERT INTO keep VALUES (1); INSERT INTO skip VALUES (1); COMMIT`) // partly filtered
	f.exec(`INSERT INTO skip VALUES (2)`)                                             // wholly filtered
	f.exec(`INSERT INTO pgduet.internal VALUES (1)`)                                  // pgduet's own
	f.exec(`TRUNCATE keep, skip`)                                                     // truncate keeps keep only
	f.exec(`TRUNCATE skip`)                                                           // wholly filtered
	f.exec(`INSERT INTO keep VALUES (9)`)

	checkRows(t, s.next(), "insert public.keep new[1]")
	checkRows(t, s.next(), "truncate public.keep")
	last := s.next()
	checkRows(t, last, "insert public.keep new[9]")
	st := s.c.Stats()
	if st.TxFiltered != 3 || st.ChangesFiltered != 4 || st.ChangesInternal != 1 || st.TxDelivered != 3 {
		t.Fatalf("stats = %+v, want TxFiltered 3, ChangesFiltered 4, ChangesInternal 1, TxDelivered 3", st)
	}
}

func TestRestartWithoutAckRedelivers(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY)`)
	f.setup([]string{"public"})
	created := f.confirmed()

	s1 := f.start(f.config(), 0)
	for i := 1; i <= 3; i++ {
		f.exec(`INSERT INTO t VALUES ($1)`, i)
	}
	var first []*change.Tx
	for range 3 {
		first = append(first, s1.next())
	}
	f.waitReplies(f.serverNow(), 3*testInterval) // several status updates, with heartbeats in between
	if got := f.confirmed(); got >= first[0].EndLSN {
		t.Fatalf("without Ack the slot was confirmed to %s, past tx #1 (%s)", got, first[0].EndLSN)
	}
	if err := s1.stop(); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	if _, err := s1.c.Next(f.ctx); !isStopped(err) {
		t.Fatalf("Next after Run stopped: %v, want ErrStopped", err)
	}
	if err := s1.c.Run(f.ctx, 0); err == nil || !strings.Contains(err.Error(), "Run called twice") {
		t.Fatalf("second Run on one Capture: %v", err)
	}
	if got := f.confirmed(); got < created || got >= first[0].EndLSN {
		t.Fatalf("after stop confirmed_flush_lsn = %s, want in [%s, %s)", got, created, first[0].EndLSN)
	}

	s2 := f.start(f.config(), 0) // often meets 55006 while s1's walsender exits: retried
	for i := range 3 {
		tx := s2.next()
		if tx.EndLSN != first[i].EndLSN || tx.Xid != first[i].Xid || !slices.Equal(rows(tx), rows(first[i])) {
			t.Fatalf("redelivered #%d = %s %q, want %s %q", i+1, tx, rows(tx), first[i], rows(first[i]))
		}
	}
}

func TestAckConfirmsOnlyAcked(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY)`)
	f.setup([]string{"public"})
	s := f.start(f.config(), 0)
	for i := 1; i <= 3; i++ {
		f.exec(`INSERT INTO t VALUES ($1)`, i)
	}
	tx1, tx2, tx3 := s.next(), s.next(), s.next()
	_ = tx1

	s.c.Ack(tx2.EndLSN)
	f.waitConfirmed("confirmed_flush_lsn at tx #2's end", func(l change.LSN) bool { return l >= tx2.EndLSN })
	f.waitReplies(f.serverNow(), 3*testInterval)
	if got := f.confirmed(); got >= tx3.EndLSN {
		t.Fatalf("confirmed_flush_lsn %s passed the unacked tx #3 (%s)", got, tx3.EndLSN)
	}
	if st := s.c.Stats(); st.ConfirmedLSN < tx2.EndLSN || st.ConfirmedLSN >= tx3.EndLSN {
		t.Fatalf("Stats.ConfirmedLSN = %s, want in [%s, %s)", st.ConfirmedLSN, tx2.EndLSN, tx3.EndLSN)
	}

	// The confirmation is what the next session starts from: tx #3 comes first.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s2 := f.start(f.config(), 0)
	again := s2.next()
	if again.EndLSN != tx3.EndLSN {
		t.Fatalf("after acking tx #2 the next session starts with %s, want tx #3 %s", again, tx3)
	}
	s2.c.Ack(again.EndLSN)
	f.waitConfirmed("confirmed_flush_lsn at tx #3's end", func(l change.LSN) bool { return l >= tx3.EndLSN })
}

func TestAckIsReportedPromptly(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY)`)
	f.setup([]string{"public"})
	cfg := f.config()
	cfg.StatusInterval = time.Hour // capped to wal_sender_timeout/3 = 20s
	cfg.HeartbeatInterval = -1
	s := f.start(cfg, 0)
	f.exec(`INSERT INTO t VALUES (1)`)
	tx := s.next()
	s.c.Ack(tx.EndLSN)

	// Well within the 20s status period: only the Ack can have caused the update.
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	err := pgtest.WaitFor(ctx, "confirmed_flush_lsn at the acked end", func(ctx context.Context) (bool, error) {
		var l change.LSN
		err := f.conn.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", SlotName(testPair, testNode)).Scan(&l)
		return l >= tx.EndLSN, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIdleSlotAdvances(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE sel(id int PRIMARY KEY); CREATE TABLE rejected(id int PRIMARY KEY); CREATE TABLE unselected(id int PRIMARY KEY)`)
	f.setup(nil, [2]string{"public", "sel"}, [2]string{"public", "rejected"})
	cfg := f.config()
	cfg.Filter = func(t change.TableRef, _ change.Op) bool { return t.Name != "rejected" }
	s := f.start(cfg, 0)

	// No user writes at all: heartbeats alone move the slot.
	l0 := f.walLSN()
	f.waitConfirmed("heartbeats to advance the slot past "+l0.String(), func(l change.LSN) bool { return l > l0 })

	// Writes only to a table outside the publication: pgoutput sends nothing.
	f.exec(`INSERT INTO unselected SELECT generate_series(1, 1000)`)
	l1 := f.walLSN()
	f.waitConfirmed("the slot past writes to an unselected table at "+l1.String(), func(l change.LSN) bool { return l > l1 })

	// Writes only to a table the filter rejects: transactions arrive and are dropped.
	for i := range 5 {
		f.exec(`INSERT INTO rejected VALUES ($1)`, i)
	}
	l2 := f.walLSN()
	f.waitConfirmed("the slot past filtered transactions at "+l2.String(), func(l change.LSN) bool { return l > l2 })

	st := s.c.Stats()
	if st.TxFiltered != 5 || st.TxDelivered != 0 || st.ConfirmedLSN <= l2 || st.ServerWALEnd <= l2 {
		t.Fatalf("stats = %+v", st)
	}
	s.running()
}

func TestBackPressureKeepsConnection(t *testing.T) {
	const timeout = 2 * time.Second
	c := pgtest.New(t, "backpressure", "wal_sender_timeout = '2s'")
	f := newFixture(t, c)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY, payload text)`)
	f.setup([]string{"public"})
	cfg := f.config()
	cfg.StatusInterval = 0 // the default (10s): Run must cap it below wal_sender_timeout itself
	s := f.start(cfg, 0)

	// ~8 MB in 40 transactions: more than capture buffers and more than the
	// socket buffers hold, so the walsender blocks writing while nobody reads.
	const n = 40
	for i := range n {
		f.exec(`INSERT INTO t SELECT $1, string_agg(md5(random()::text), '') FROM generate_series(1, 6400)`, i)
	}
	first := s.next()
	var pid int
	if err := f.conn.QueryRow(f.ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", SlotName(testPair, testNode)).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	// Do not call Next for well over wal_sender_timeout, watching the walsender.
	since := f.serverNow()
	err := pgtest.WaitFor(f.ctx, "3×wal_sender_timeout without Next", func(ctx context.Context) (bool, error) {
		var active *int
		var elapsed bool
		err := f.conn.QueryRow(ctx, `SELECT (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1), now() > $2`,
			SlotName(testPair, testNode), since.Add(3*timeout)).Scan(&active, &elapsed)
		if err == nil && (active == nil || *active != pid) {
			err = errors.New("the walsender went away: the connection timed out")
		}
		return elapsed, err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.running()

	// Delivery resumes, in order, on the same connection.
	prev := first
	for i := 1; i < n; i++ {
		tx := s.next()
		if tx.EndLSN <= prev.EndLSN || len(tx.Changes) != 1 || tx.Changes[0].New[0].String() != strconv.Itoa(i) {
			t.Fatalf("tx %d = %s %v", i, tx, tx.Changes[0].New[0])
		}
		prev = tx
	}
	s.running()
	if log, err := os.ReadFile(c.LogFile()); err == nil && strings.Contains(string(log), "replication timeout") {
		t.Fatalf("the server timed the walsender out:\n%s", log)
	}
}

func TestRunErrors(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY)`)

	// No Setup: no slot.
	s := f.start(f.config(), 0)
	err := s.stopWhenEnded()
	if err == nil || !strings.Contains(err.Error(), "capture east: start replication of slot pgduet_p_east") {
		t.Fatalf("Run without a slot: %v", err)
	}
	if _, nerr := s.c.Next(f.ctx); nerr == nil || nerr.Error() != err.Error() {
		t.Fatalf("Next after Run failed: %v, want Run's error", nerr)
	}

	// The slot held by another session: retried, then a clear error.
	f.setup([]string{"public"})
	holder := f.start(f.config(), 0)
	f.exec(`INSERT INTO t VALUES (1)`)
	holder.next()
	second := f.start(f.config(), 0)
	err = second.stopWhenEnded()
	if err == nil || !strings.Contains(err.Error(), "55006") {
		t.Fatalf("Run on an active slot: %v, want SQLSTATE 55006", err)
	}
	holder.running()

	// The connection is lost (walsender terminated): Run ends with the cause.
	f.exec(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, SlotName(testPair, testNode))
	err = holder.stopWhenEnded()
	if err == nil || !strings.Contains(err.Error(), "capture east: receive: ") {
		t.Fatalf("Run after its walsender was terminated: %v", err)
	}
	if _, nerr := holder.c.Next(f.ctx); nerr == nil || isStopped(nerr) {
		t.Fatalf("Next after the connection was lost: %v, want Run's error", nerr)
	}

	// A bad config fails before any I/O.
	bad := f.config()
	bad.Node = "East"
	if err := New(bad).Run(f.ctx, 0); err == nil || !strings.Contains(err.Error(), `node name "East"`) {
		t.Fatalf("Run with a bad node name: %v", err)
	}
}

// stopWhenEnded waits for Run to return by itself and returns its error.
func (s *session) stopWhenEnded() error {
	s.f.t.Helper()
	select {
	case err := <-s.errc:
		s.ended, s.err = true, err
		return err
	case <-time.After(time.Minute):
		s.f.t.Fatal("Run did not end within a minute")
		return nil
	}
}

// pgoutput prints values with the walsender session's output settings: capture
// pins ISO dates, postgres intervals and exact floats whatever the database's
// defaults, so the peer parses them back to the same values.
func TestOutputStylesArePinned(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE styles(id int PRIMARY KEY, d date, iv interval, f float8)`)
	f.exec(fmt.Sprintf(`ALTER DATABASE %s SET DateStyle = 'SQL, DMY'; ALTER DATABASE %[1]s SET IntervalStyle = 'sql_standard';
		ALTER DATABASE %[1]s SET extra_float_digits = 0`, pgx.Identifier{f.db}.Sanitize()))
	f.setup([]string{"public"})
	s := f.start(f.config(), 0)
	f.exec(`INSERT INTO styles VALUES (1, '2024-02-01', '1 day 02:03:04', 0.1::float8 + 0.2::float8)`)
	checkRows(t, s.next(), "insert public.styles new[1 2024-02-01 1 day 02:03:04 0.30000000000000004]")
}
