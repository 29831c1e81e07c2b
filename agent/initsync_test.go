package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
)

// initialSchema is the DDL source's schema for the initial sync tests: several
// tables (one partitioned, one with every type family), a view, a function,
// a trigger, a secondary index, a foreign key and a sequence.
const initialSchema = typesSchema + `
CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0);
CREATE INDEX accounts_owner ON accounts (owner);
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, account bigint REFERENCES accounts, payload text,
  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE SEQUENCE ticket_seq;
CREATE TABLE tickets (id bigint PRIMARY KEY DEFAULT nextval('ticket_seq'), note text);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $$;
CREATE TRIGGER tickets_touch BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW rich AS SELECT id, owner FROM accounts WHERE balance > 900;
`

// loadInitial fills the DDL source with rows rows spread over the tables.
func loadInitial(t *testing.T, ctx context.Context, p *pair, rows int) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		if _, err := p.conn["east"].Exec(ctx, typesRow, i); err != nil {
			t.Fatal(err)
		}
	}
	acc, ev, tk := rows/2, rows*3/10, rows/5
	p.exec(ctx, "east", fmt.Sprintf(`INSERT INTO accounts SELECT g, 'owner ' || (g %% 1000), g %% 1000 FROM generate_series(1, %d) g`, acc))
	p.exec(ctx, "east", fmt.Sprintf(`INSERT INTO events SELECT g, date '2023-01-01' + (g %% 700), 1 + g %% %d, md5(g::text) FROM generate_series(1, %d) g`, acc, ev))
	p.exec(ctx, "east", fmt.Sprintf(`INSERT INTO tickets (note) SELECT CASE WHEN g %% 2 = 0 THEN 'n' || g END FROM generate_series(1, %d) g`, tk))
	p.exec(ctx, "east", "ANALYZE")
}

// initialSyncState waits until node's initial sync reports state (as its
// status shows it) and returns the status.
func (p *pair) waitInitialSync(ctx context.Context, node, state string) agent.Status {
	p.t.Helper()
	var last agent.Status
	err := pgtest.WaitFor(ctx, fmt.Sprintf("%s initial sync %s", node, state), func(context.Context) (bool, error) {
		a := p.agent(node)
		if a == nil {
			return false, fmt.Errorf("agent %s is not running", node)
		}
		last = a.Status()
		for _, d := range last.Directions {
			if d.Role == "receive" && d.State == agent.StateFailed {
				return false, fmt.Errorf("%s receive direction failed: %s", node, d.LastError)
			}
		}
		return last.InitialSync != nil && last.InitialSync.State == state, nil
	})
	if err != nil {
		p.t.Fatalf("%v (last: %+v)", err, last.InitialSync)
	}
	return last
}

// keepWriting runs statements on node until stop is closed, counting those that
// succeeded. Statements that fail because the table is not there yet (the
// initial sync creates it) are retried.
func keepWriting(ctx context.Context, p *pair, node string, stop <-chan struct{}, stmt func(i int) string, errs chan<- error) {
	conn := p.cluster[node].Connect(p.t, p.db[node])
	for i := 1; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := conn.Exec(ctx, stmt(i)); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "42P01" {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			errs <- fmt.Errorf("%s: %s: %w", node, stmt(i), err)
			return
		}
	}
}

// TestInitialSync is acceptance 1 of the initial sync: a source with a
// million rows over several tables (the all-types table among them), an
// empty peer, and writes on both nodes while the copy runs. After catch-up
// both nodes hold the same rows, and the peer has the source's schema:
// indexes, foreign key, trigger, view, function, sequence value.
func TestInitialSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := newPair(t, pairOpts{schema: initialSchema, westEmpty: true,
		sync: "sync {\n  parallelism = 3\n}"})
	const rows = 1_000_000
	loadInitial(t, ctx, p, rows)

	stop := make(chan struct{})
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	// East keeps changing rows the copy reads, and adds new ones.
	wg.Add(2)
	go func() {
		defer wg.Done()
		keepWriting(ctx, p, "east", stop, func(i int) string {
			return fmt.Sprintf("UPDATE accounts SET balance = balance + 1 WHERE id = %d", 1+(i*7919)%(rows/2))
		}, errs)
	}()
	go func() {
		defer wg.Done()
		keepWriting(ctx, p, "east", stop, func(i int) string {
			return fmt.Sprintf("INSERT INTO accounts VALUES (%d, 'new on east', 1)", 10_000_000+i)
		}, errs)
	}()
	// A partitioned table's changes arrive under its partitions' names: the
	// ones between east's slot and the snapshot must be dropped too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		keepWriting(ctx, p, "east", stop, func(i int) string {
			return fmt.Sprintf("INSERT INTO events VALUES (%d, date '2024-03-01', 1, 'during the copy')", 5_000_000+i)
		}, errs)
	}()
	// West writes rows of its own as soon as the tables exist there.
	wg.Add(1)
	go func() {
		defer wg.Done()
		keepWriting(ctx, p, "west", stop, func(i int) string {
			if i%3 == 0 {
				return fmt.Sprintf("UPDATE accounts SET owner = 'west again' WHERE id = %d", 20_000_000+i-1)
			}
			return fmt.Sprintf("INSERT INTO accounts VALUES (%d, 'new on west', 2)", 20_000_000+i)
		}, errs)
	}()

	p.start("east", agent.Knobs{})
	time.Sleep(time.Second) // changes between east's slot and the snapshot
	// Tables over 8 MB are copied in parts (block ranges) in parallel.
	p.start("west", agent.Knobs{CopySplitBytes: 8 << 20})
	st := p.waitInitialSync(ctx, "west", "done")
	time.Sleep(time.Second) // and writes on both sides after the copy
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var copied int64
	for _, tb := range st.InitialSync.Tables {
		if tb.State != "done" || tb.PartsDone != tb.Parts {
			t.Errorf("table %s: state %s, %d of %d parts after the sync", tb.Table, tb.State, tb.PartsDone, tb.Parts)
		}
		if tb.Table == `"public"."accounts"` && tb.Parts < 2 {
			t.Errorf("table %s (%d bytes) was copied in %d part(s), want it split", tb.Table, tb.Bytes, tb.Parts)
		}
		copied += tb.Rows
	}
	if copied < rows {
		t.Errorf("copied %d rows, want at least %d", copied, rows)
	}
	p.waitState(ctx, "east", "send", agent.StateRunning)
	p.converge(ctx)

	// The schema came along: objects of every kind, and the sequence.
	for _, q := range []string{
		`SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'`,
		`SELECT string_agg(conname || ':' || contype::text, ',' ORDER BY conname) FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
		`SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal`,
		`SELECT string_agg(typname, ',' ORDER BY typname) FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'c', 'd')`,
		`SELECT count(*) FROM rich`,
	} {
		p.sameOnBoth(ctx, q, q, "")
	}
	for _, q := range []string{"SELECT last_value >= 200000 FROM ticket_seq", "SELECT to_regprocedure('public.touch()') IS NOT NULL"} {
		if got := p.query(ctx, "west", q); got != "true" {
			t.Errorf("west: %s = %s", q, got)
		}
	}
}

// TestInitialSyncResumes is acceptance 2: the receiving agent is killed
// (SIGKILL) in the middle of the copy and started again. The tables copied
// before the kill stay, the rest are copied again under a new snapshot, and
// the changes the source made meanwhile land exactly once: both nodes end
// identical.
func TestInitialSyncResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	schema := ""
	for i := 1; i <= 4; i++ {
		schema += fmt.Sprintf("CREATE TABLE part%d (id int PRIMARY KEY, v text);\n", i)
	}
	p := newPair(t, pairOpts{schema: schema, westEmpty: true,
		sync: "sync {\n  parallelism = 1\n}\nthrottle \"initial\" {\n  rows_per_second = 100000\n}"})
	for i := 1; i <= 4; i++ {
		p.exec(ctx, "east", fmt.Sprintf("INSERT INTO part%d SELECT g, md5(g::text) FROM generate_series(1, 100000) g", i))
	}
	stop := make(chan struct{})
	errs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepWriting(ctx, p, "east", stop, func(i int) string {
			return fmt.Sprintf("UPDATE part%d SET v = 'changed %d' WHERE id = %d", 1+i%4, i, 1+(i*7919)%100000)
		}, errs)
	}()
	p.start("east", agent.Knobs{})
	p.startProcess("west")
	copied := func() int {
		var n int
		err := p.conn["west"].QueryRow(ctx, "SELECT count(*) FROM pgduet.initial_sync_tables").Scan(&n)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return 0 // west's agent has not installed its schema yet
		}
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := pgtest.WaitFor(ctx, "a first table copied", func(context.Context) (bool, error) { return copied() >= 1, nil }); err != nil {
		t.Fatal(err)
	}
	p.sigkill("west")
	before := copied()
	if before >= 5 {
		t.Fatalf("all %d tables were copied before the kill: nothing left to resume", before)
	}
	p.start("west", agent.Knobs{})
	st := p.waitInitialSync(ctx, "west", "done")
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	again := 0
	for _, tb := range st.InitialSync.Tables {
		if tb.State == "done" && tb.Rows > 0 {
			again++
		}
	}
	if again == 0 || again+before < 5 {
		t.Errorf("after the restart %d tables were copied, %d before the kill; want the rest of 5", again, before)
	}
	t.Logf("%d tables copied before the kill, %d after", before, again)
	p.waitState(ctx, "east", "send", agent.StateRunning)
	p.converge(ctx)
}

// TestInitialSyncPartsRedone: a table copied in parts, whose copy stops after
// two of them (as a crash would) while the source changes every row. The next
// attempt takes a new snapshot, so the two parts' rows (from the old one) are
// taken out and the table is copied again: had they stayed, the changes made
// between the snapshots would be missing on west, since they are in neither
// the copy nor the stream (the stream drops what the new snapshot holds).
// Meanwhile west deletes one copied row and updates another: the deleted one
// must not come back with the new copy, the updated one keeps west's version.
// And east adds a parent row and its child: a_parent was copied by the first
// attempt, z_child by the second, so their foreign key is added NOT VALID
// (it does not hold until the stream brings the parent) and stays usable.
func TestInitialSyncPartsRedone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newPair(t, pairOpts{schema: `CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL, v text NOT NULL);
CREATE TABLE a_parent (id int PRIMARY KEY);
CREATE TABLE z_child (id int PRIMARY KEY, parent int NOT NULL REFERENCES a_parent);
`, westEmpty: true, sync: "sync {\n  parallelism = 1\n}"})
	const rows = 200_000
	p.exec(ctx, "east", fmt.Sprintf("INSERT INTO big SELECT g, 0, md5(g::text) FROM generate_series(1, %d) g", rows))
	p.exec(ctx, "east", "INSERT INTO a_parent VALUES (1); INSERT INTO z_child VALUES (1, 1)")
	p.exec(ctx, "east", "ANALYZE")
	east := p.cluster["east"].Connect(t, p.db["east"])
	west := p.cluster["west"].Connect(t, p.db["west"])
	var mu sync.Mutex
	calls := 0
	stopped := false
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{CopySplitBytes: 4 << 20, AfterCopyPart: func(schema, name string, part, parts int) error {
		if name != "big" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		if stopped || part < 1 {
			return nil
		}
		stopped = true
		if parts < 3 {
			return fmt.Errorf("test: big is copied in %d parts, want at least 3", parts)
		}
		// Every row changes after the first snapshot and before the next.
		if _, err := east.Exec(ctx, "UPDATE big SET n = n + 1"); err != nil {
			return fmt.Errorf("test: update on east: %w", err)
		}
		if _, err := east.Exec(ctx, "INSERT INTO a_parent VALUES (2); INSERT INTO z_child VALUES (2, 2)"); err != nil {
			return fmt.Errorf("test: insert on east: %w", err)
		}
		// West changes two rows of the first part.
		if _, err := west.Exec(ctx, "DELETE FROM big WHERE id = 1"); err != nil {
			return fmt.Errorf("test: delete on west: %w", err)
		}
		if _, err := west.Exec(ctx, "UPDATE big SET v = 'west' WHERE id = 2"); err != nil {
			return fmt.Errorf("test: update on west: %w", err)
		}
		return errors.New("test: the copy stops after two parts")
	}})
	st := p.waitInitialSync(ctx, "west", "done")
	mu.Lock()
	if !stopped {
		t.Errorf("the copy never reached its second part")
	}
	mu.Unlock()
	var parts, recorded int
	var copied int64
	if err := p.conn["west"].QueryRow(ctx, "SELECT max(parts), count(*), sum(rows) FROM pgduet.initial_sync_tables WHERE name = 'big'").Scan(&parts, &recorded, &copied); err != nil {
		t.Fatal(err)
	}
	if recorded != parts || copied != rows-1 {
		t.Errorf("big: %d parts recorded of %d, %d rows; want all, %d rows", recorded, parts, copied, rows-1)
	}
	if calls != parts+2 {
		t.Errorf("%d parts of big committed in all; want the 2 of the first attempt and all %d of the second", calls, parts)
	}
	// West's update of id 2 carried n = 0 to east after east's update.
	if got := p.query(ctx, "west", "SELECT count(*) FILTER (WHERE n = 1) || '/' || count(*) FROM big"); got != fmt.Sprintf("%d/%d", rows-2, rows-1) {
		t.Errorf("west: rows with the change made between the snapshots / all rows = %s, want %d/%d", got, rows-2, rows-1)
	}
	if got := p.query(ctx, "west", "SELECT coalesce(string_agg(id || ':' || v, ','), '') FROM big WHERE id IN (1, 2)"); got != "2:west" {
		t.Errorf("west: rows 1 and 2 = %q, want only 2:west (1 deleted here)", got)
	}
	t.Logf("big copied in %d parts; status: %+v", parts, st.InitialSync.Tables)
	if got := p.query(ctx, "west", "SELECT convalidated FROM pg_constraint WHERE conname = 'z_child_parent_fkey'"); got != "false" {
		t.Errorf("west: z_child_parent_fkey validated = %s, want false (added NOT VALID: a_parent lacked row 2 then)", got)
	}
	p.waitState(ctx, "east", "send", agent.StateRunning)
	p.converge(ctx)
	// Once caught up, the key validates, as the log tells the DBA to do.
	p.exec(ctx, "west", "ALTER TABLE z_child VALIDATE CONSTRAINT z_child_parent_fkey")
}

// TestInitialSyncExistingTables is acceptance 3: with existing_tables =
// "error" a target table that exists already stops the sync, naming it; with
// "ignore" the sync goes on and the peer's rows win on key collisions.
func TestInitialSyncExistingTables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const table = "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL);"
	t.Run("error", func(t *testing.T) {
		p := newPair(t, pairOpts{schema: table, westEmpty: true})
		p.exec(ctx, "west", table)
		p.exec(ctx, "east", "INSERT INTO accounts SELECT g, 'east' FROM generate_series(1, 100) g")
		p.cfg.Sync.Schema, p.cfg.Sync.Data = true, true
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		d := p.waitState(ctx, "west", "receive", agent.StateFailed)
		for _, want := range []string{`"public"."accounts"`, `existing_tables`} {
			if !strings.Contains(d.LastError, want) {
				t.Errorf("error %q does not mention %s", d.LastError, want)
			}
		}
		if got := p.query(ctx, "west", "SELECT count(*) FROM accounts"); got != "0" {
			t.Errorf("west accounts has %s rows after the refusal, want 0", got)
		}
	})
	t.Run("ignore", func(t *testing.T) {
		p := newPair(t, pairOpts{schema: table, westEmpty: true, sync: "sync {\n  existing_tables = \"ignore\"\n}"})
		p.exec(ctx, "west", table+"INSERT INTO accounts VALUES (1, 'west'), (1000, 'west only');")
		p.exec(ctx, "east", "INSERT INTO accounts SELECT g, 'east' FROM generate_series(1, 100) g")
		p.start("east", agent.Knobs{})
		p.start("west", agent.Knobs{})
		p.waitInitialSync(ctx, "west", "done")
		if got := p.query(ctx, "west", "SELECT count(*), count(*) FILTER (WHERE owner LIKE 'west%') FROM accounts"); got != "101|2" {
			t.Errorf("west accounts: count, kept = %s, want 101|2", got)
		}
		if got := p.query(ctx, "west", "SELECT owner FROM accounts WHERE id = 1"); got != "west" {
			t.Errorf("west kept %q for id 1, want its own row", got)
		}
		// The barrier table did not exist on west: the schema step made it.
		p.waitState(ctx, "east", "send", agent.StateRunning)
		p.barrier(ctx, "east")
	})
}

// TestInitialSyncThrottle is acceptance 4: with throttle "initial" {
// rows_per_second }, the copy's rate stays within 10% of the setting. It
// also shows that the DDL source's stream waits for the copy in state
// initial_sync, for longer than retry.connection, without failing.
func TestInitialSyncThrottle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const limit = 20000
	// retry.connection is shorter than the copy (10 s): east's stream,
	// refused while west copies, waits without counting that as a failure.
	const rows = 200_000
	p := newPair(t, pairOpts{schema: "CREATE TABLE big (id int PRIMARY KEY, v text);", westEmpty: true, retryConn: "4s",
		sync: fmt.Sprintf("sync {\n  parallelism = 1\n}\nthrottle \"initial\" {\n  rows_per_second = %d\n}", limit)})
	p.exec(ctx, "east", fmt.Sprintf("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, %d) g", rows))
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	seen := map[agent.State]bool{}
	err := pgtest.WaitFor(ctx, "west's initial sync done", func(context.Context) (bool, error) {
		for _, d := range p.agent("east").Status().Directions {
			if d.Role == "send" {
				seen[d.State] = true
			}
		}
		st := p.agent("west").Status()
		return st.InitialSync != nil && st.InitialSync.State == "done", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seen[agent.StateSyncing] || seen[agent.StateFailed] {
		t.Errorf("east's send direction went through %v while west copied; want initial_sync and never failed", seen)
	}
	p.waitState(ctx, "east", "send", agent.StateRunning)
	var copied int64
	var seconds float64
	if err := p.conn["west"].QueryRow(ctx, "SELECT rows, seconds FROM pgduet.initial_sync_tables WHERE name = 'big'").Scan(&copied, &seconds); err != nil {
		t.Fatal(err)
	}
	rate := float64(copied) / seconds
	t.Logf("copied %d rows in %.2f s: %.0f rows/s (limit %d)", copied, seconds, rate, limit)
	if copied != rows || rate > limit*1.1 || rate < limit*0.9 {
		t.Errorf("copied %d rows at %.0f rows/s; want %d within 10%% of %d rows/s", copied, rate, rows, limit)
	}
}
