package agent_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/pgtest"
	"github.com/pgduet/pgduet/agent/verify"
)

// corpusFile is the DDL corpus: chunks separated by "-- next" lines, each sent
// to east as one query string (see the file's header).
const corpusFile = "testdata/ddl_corpus.sql"

// corpusMinDDL is acceptance 1's floor on the number of DDL statements.
const corpusMinDDL = 100

// corpusSchema runs on both databases before the agents (and pgduet's event
// triggers) exist. Roles are cluster-wide, not replicated, and the shared
// clusters serve other tests (and this test twice, via the self-check), so
// they are created only when missing.
const corpusSchema = `
DO $$ BEGIN CREATE ROLE pgduet_corpus_reader NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE pgduet_corpus_writer NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
CREATE SCHEMA app;
CREATE TABLE app.load (id bigint PRIMARY KEY, node text NOT NULL, n integer NOT NULL DEFAULT 0);
`

// corpusSelection selects schema app, and public.barrier: the fixture's
// barrier is a write to that table, which must replicate to move the peer's
// origin past the source position.
const corpusSelection = `schema "public" { tables = ["barrier"] }
schema "app" { tables = ["*"] }`

// corpusChunk is one query string of the corpus.
type corpusChunk struct {
	Line  int // line of the file where the chunk starts
	SQL   string
	Stmts []sqlStmt
}

// sqlStmt is one statement of a chunk: its text, and its bare words (upper
// case; outside comments, string literals, quoted identifiers and dollar
// quotes) in order.
type sqlStmt struct {
	Text  string
	Words []string
}

// IsDDL says whether the statement is DDL: anything but DML, queries, SET and
// transaction control.
func (s sqlStmt) IsDDL() bool {
	switch s.Words[0] {
	case "INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH", "VALUES", "TABLE",
		"SET", "RESET", "BEGIN", "START", "COMMIT", "END", "ROLLBACK":
		return false
	}
	return true
}

// loadCorpus reads and checks the corpus: it must hold at least corpusMinDDL
// DDL statements and none of the forms tested elsewhere (DO, CALL,
// CONCURRENTLY), which take the unsupported path.
func loadCorpus(t testing.TB) (chunks []corpusChunk, ddl int) {
	t.Helper()
	b, err := os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := 0
	flush := func(end int) {
		text := strings.TrimSpace(strings.Join(lines[start:end], "\n"))
		if stmts := splitStatements(text); len(stmts) > 0 {
			chunks = append(chunks, corpusChunk{Line: start + 1, SQL: text, Stmts: stmts})
		}
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == "-- next" {
			flush(i)
			start = i + 1
		}
	}
	flush(len(lines))
	for _, c := range chunks {
		for _, s := range c.Stmts {
			if s.Words[0] == "DO" || s.Words[0] == "CALL" || corpusHasWord(s.Words, "CONCURRENTLY") {
				t.Fatalf("%s:%d: %q takes the unsupported path; it does not belong in the corpus", corpusFile, c.Line, s.Text)
			}
			if s.IsDDL() {
				ddl++
			}
		}
	}
	if ddl < corpusMinDDL {
		t.Fatalf("%s has %d DDL statements, want at least %d", corpusFile, ddl, corpusMinDDL)
	}
	return chunks, ddl
}

func corpusHasWord(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// splitStatements cuts a query string into statements at top-level semicolons,
// as the server does: semicolons inside comments (-- and nested /* */),
// string literals ('...', and E'...' with backslash escapes), quoted identifiers,
// dollar-quoted bodies ($$, $tag$) and SQL-standard routine bodies (BEGIN
// ATOMIC ... END, with CASE ... END inside) do not end a statement.
// Statements that hold nothing but comments are left out.
func splitStatements(src string) []sqlStmt {
	var out []sqlStmt
	var words []string
	start, depth := 0, 0
	add := func(end int) {
		if len(words) > 0 {
			out = append(out, sqlStmt{Text: strings.TrimSpace(src[start:end]), Words: words})
		}
		words = nil
		start = end + 1
	}
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		switch {
		case c == '-' && i+1 < n && src[i+1] == '-':
			if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = n
			}
		case c == '/' && i+1 < n && src[i+1] == '*':
			level := 1
			for i += 2; i < n && level > 0; {
				switch {
				case strings.HasPrefix(src[i:], "/*"):
					level++
					i += 2
				case strings.HasPrefix(src[i:], "*/"):
					level--
					i += 2
				default:
					i++
				}
			}
		case c == '\'':
			escapes := i > 0 && (src[i-1] == 'E' || src[i-1] == 'e') && (i < 2 || !sqlIdentByte(src[i-2]))
			for i++; i < n; i++ {
				if escapes && src[i] == '\\' {
					i++
					continue
				}
				if src[i] == '\'' {
					if i+1 < n && src[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
			i++
		case c == '"':
			for i++; i < n; i++ {
				if src[i] == '"' {
					if i+1 < n && src[i+1] == '"' {
						i++
						continue
					}
					break
				}
			}
			i++
		case c == '$' && (i == 0 || !sqlIdentByte(src[i-1])):
			j := i + 1
			for j < n && sqlIdentByte(src[j]) && src[j] != '$' {
				j++
			}
			if j < n && src[j] == '$' && (j == i+1 || !sqlDigit(src[i+1])) {
				tag := src[i : j+1]
				if k := strings.Index(src[j+1:], tag); k >= 0 {
					i = j + 1 + k + len(tag)
				} else {
					i = n
				}
			} else {
				i++ // a parameter ($1) or a lone $
			}
		case sqlIdentByte(c) && !sqlDigit(c) && c != '$':
			j := i
			for j < n && sqlIdentByte(src[j]) {
				j++
			}
			w := strings.ToUpper(src[i:j])
			switch {
			case w == "ATOMIC" && len(words) > 0 && words[len(words)-1] == "BEGIN" && depth == 0:
				depth = 1
			case depth > 0 && w == "CASE":
				depth++
			case depth > 0 && w == "END":
				depth--
			}
			words = append(words, w)
			i = j
		case c == ';' && depth == 0:
			add(i)
			i++
		default:
			i++
		}
	}
	add(n)
	return out
}

func sqlIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || sqlDigit(c)
}

func sqlDigit(c byte) bool { return c >= '0' && c <= '9' }

// runCorpus sends the chunks to conn in order, one Exec (simple protocol,
// no arguments) per chunk.
func runCorpus(ctx context.Context, conn *pgx.Conn, chunks []corpusChunk) error {
	for _, c := range chunks {
		if _, err := conn.Exec(ctx, c.SQL); err != nil {
			return fmt.Errorf("%s:%d: %w\n%s", corpusFile, c.Line, err, strings.TrimSpace(c.SQL))
		}
	}
	return nil
}

// TestDDLCorpusSelfCheck runs the corpus on one database, without pgduet: every
// chunk must succeed in order on a fresh database that has corpusSchema, so a
// failure of TestDDLCorpus is about replication, not about the corpus. It also
// checks that two dumps of one database are equal after normalising (pg_dump
// output carries a random \restrict key).
func TestDDLCorpusSelfCheck(t *testing.T) {
	chunks, ddl := loadCorpus(t)
	c := pgtest.Shared(t, "east")
	db := c.NewDB(t)
	conn := c.Connect(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, corpusSchema); err != nil {
		t.Fatal(err)
	}
	if err := runCorpus(ctx, conn, chunks); err != nil {
		t.Fatal(err)
	}
	var multi, mixed int
	for _, ch := range chunks {
		if len(ch.Stmts) > 1 {
			multi++
			var d, other bool
			for _, s := range ch.Stmts {
				if s.IsDDL() {
					d = true
				} else {
					other = true
				}
			}
			if d && other {
				mixed++
			}
		}
	}
	t.Logf("corpus: %d chunks, %d DDL statements, %d multi-statement strings (%d mixing DDL with DML, SET or transaction control)",
		len(chunks), ddl, multi, mixed)
	d1, err := dumpSchema(ctx, c.DSN(db), "app")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := dumpSchema(ctx, c.DSN(db), "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := lineDiff("dump 1", "dump 2", d1, d2, 3, 80); diff != "" {
		t.Errorf("two dumps of one database differ after normalising:\n%s", diff)
	}
	// The corpus leaves a rich schema: every kind of object survives in it.
	for _, want := range []string{
		"CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA app;", "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA app;",
		"AS ENUM (", "AS RANGE (", "CREATE TYPE app.address AS (", "CREATE DOMAIN app.email", "CREATE COLLATION app.bytewise",
		"CREATE SEQUENCE app.order_no", "CREATE TABLE app.purchase_orders", "GENERATED ALWAYS AS (round((total * 0.2), 2)) STORED",
		"ADD GENERATED ALWAYS AS IDENTITY", "ADD GENERATED BY DEFAULT AS IDENTITY", "PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CHECK (",
		"PARTITION BY RANGE", "PARTITION BY LIST", "ATTACH PARTITION", "USING gin (title app.gin_trgm_ops)",
		"CREATE INDEX orders_open_idx ON app.purchase_orders USING btree (ordered_at) WHERE", "CREATE UNIQUE INDEX customers_lower_email_idx",
		"CREATE VIEW app.pending_orders", "CREATE MATERIALIZED VIEW app.order_stats", "CREATE FUNCTION app.make_slug",
		"CREATE PROCEDURE app.close_order", "BEGIN ATOMIC", "CREATE TRIGGER orders_audit", "CREATE RULE audit_log_keep",
		"CREATE AGGREGATE app.max_int", "CREATE OPERATOR app.~=", "CREATE POLICY", "CREATE STATISTICS app.orders_dep",
		"COMMENT ON TABLE app.purchase_orders", "COMMENT ON COLUMN", "GRANT SELECT ON TABLE app.customers TO pgduet_corpus_reader",
		"REVOKE ALL ON FUNCTION app.add_tax", "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app",
	} {
		if !strings.Contains(d1, want) {
			t.Errorf("the final schema has no %q", want)
		}
	}
	if t.Failed() {
		t.Logf("final schema:\n%s", d1)
	}
}

// TestDDLCorpus is acceptance 1 of the DDL replication issue: a corpus of more
// than 100 DDL statements covering every object kind runs on the DDL source
// (east), statement by statement and in multi-statement strings, qualified and
// through search_path, with DML in between, while both nodes write a load
// table. Afterwards the schema dumps of both nodes are identical and every
// table of the selected schema holds the same rows.
func TestDDLCorpus(t *testing.T) {
	chunks, ddl := loadCorpus(t)
	t.Logf("corpus: %d chunks, %d DDL statements", len(chunks), ddl)
	p := newPair(t, pairOpts{schema: corpusSchema, selection: corpusSelection, retryElse: "15s"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})

	// A failed direction will not recover: end every wait at once, with its error.
	wctx, why := p.watchDirections(ctx)

	// DML load on both nodes, disjoint keys, own connections.
	stop := make(chan struct{})
	loaders := map[string]*corpusLoader{}
	var wg sync.WaitGroup
	loadErrs := make(chan error, 2)
	for _, n := range pairNames {
		conn, err := pgx.Connect(ctx, p.cluster[n].DSN(p.db[n]))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		l := &corpusLoader{node: n, conn: conn, base: map[string]int64{"east": 1_000_000, "west": 2_000_000}[n]}
		loaders[n] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.run(wctx, stop); err != nil {
				loadErrs <- fmt.Errorf("load on %s: %w", n, err)
			}
		}()
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	// The corpus, on east, on a session of its own (it changes search_path).
	conn, err := pgx.Connect(ctx, p.cluster["east"].DSN(p.db["east"]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	began := time.Now()
	if err := runCorpus(wctx, conn, chunks); err != nil {
		if w := why(); w != "" {
			t.Fatalf("replication failed while the corpus ran: %s\n(the corpus was stopped: %v)", w, err)
		}
		t.Fatalf("corpus on east: %v", err)
	}
	t.Logf("corpus ran on east in %v", time.Since(began).Round(time.Millisecond))
	stopLoad()
	close(loadErrs)
	for err := range loadErrs {
		if w := why(); w != "" {
			t.Fatalf("replication failed: %s\n(%v)", w, err)
		}
		t.Fatal(err)
	}
	for _, n := range pairNames {
		t.Logf("load on %s: %d transactions", n, loaders[n].done.Load())
	}

	for _, from := range pairNames {
		if err := pgtest.Barrier(wctx, p.conn[from], p.conn[peerOf(from)], apply.OriginName(p.name, from),
			fmt.Sprintf("INSERT INTO public.barrier VALUES ('%s', 1) ON CONFLICT (node) DO UPDATE SET n = barrier.n + 1", from)); err != nil {
			p.logDDLState()
			if w := why(); w != "" {
				t.Fatalf("replication failed: %s", w)
			}
			t.Fatalf("barrier %s→%s: %v", from, peerOf(from), err)
		}
	}

	// (a) Schemas: pg_dump of schema app (and the extensions) on both nodes.
	dumps := map[string]string{}
	for _, n := range pairNames {
		d, err := dumpSchema(ctx, p.cluster[n].DSN(p.db[n]), "app")
		if err != nil {
			t.Fatal(err)
		}
		dumps[n] = d
	}
	if diff := lineDiff("east", "west", dumps["east"], dumps["west"], 3, 120); diff != "" {
		t.Errorf("pg_dump --schema-only of schema app differs between east and west (normalised; %d and %d lines):\n%s",
			strings.Count(dumps["east"], "\n"), strings.Count(dumps["west"], "\n"), diff)
	}

	// (b) Data: every table of schema app, on both nodes' lists.
	keep := func(s, _ string) bool { return s == "app" }
	tables := map[string]bool{}
	for _, n := range pairNames {
		ts, err := verify.ListTables(ctx, p.conn[n], keep)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range ts {
			tables[tb] = true
		}
	}
	var list []string
	for tb := range tables {
		list = append(list, tb)
	}
	res, err := verify.Compare(ctx, p.conn["east"], p.conn["west"], list)
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, r := range res {
		rows += r.A.Rows
		if !r.Equal {
			t.Errorf("table %s differs: east exists=%v %d rows %s, west exists=%v %d rows %s",
				r.Table, r.A.Exists, r.A.Rows, r.A.Hash, r.B.Exists, r.B.Rows, r.B.Hash)
		}
	}
	t.Logf("compared %d tables of schema app (%d rows on east)", len(res), rows)
	if len(res) < 15 {
		t.Errorf("compared only %d tables of schema app; the corpus leaves more than 15", len(res))
	}
	p.converge(ctx) // and public (the barrier table), through the fixture

	// Nothing of the corpus may have been skipped or have failed on west.
	p.checkDDLConflicts(ctx, "west")
	if t.Failed() {
		p.logDDLState()
	}
}

// corpusLoader writes app.load on one node until stopped (and at least
// minRows inserts): inserts in its own key range, updates and deletes of its
// own rows.
type corpusLoader struct {
	node string
	conn *pgx.Conn
	base int64
	done atomic.Int64
}

func (l *corpusLoader) run(ctx context.Context, stop <-chan struct{}) error {
	const minRows = 50
	tick := time.NewTicker(3 * time.Millisecond) // pacing only: the load runs alongside the corpus
	defer tick.Stop()
	for i := int64(0); ; i++ {
		if i >= minRows {
			select {
			case <-stop:
				return nil
			default:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		err := pgx.BeginFunc(ctx, l.conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO app.load (id, node, n) VALUES ($1, $2, 0)", l.base+i, l.node); err != nil {
				return err
			}
			if i%3 == 0 {
				if _, err := tx.Exec(ctx, "UPDATE app.load SET n = n + 1 WHERE id = $1", l.base+i/2); err != nil {
					return err
				}
			}
			if i%10 == 9 {
				if _, err := tx.Exec(ctx, "DELETE FROM app.load WHERE id = $1", l.base+i-7); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("transaction %d: %w", i, err)
		}
		l.done.Add(1)
	}
}

// watchDirections returns a context that ends when ctx does or when a
// direction of either agent is failed, and a function that describes the
// failure (empty when there was none).
func (p *pair) watchDirections(ctx context.Context) (context.Context, func() string) {
	wctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var failure string
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, n := range pairNames {
				a := p.agent(n)
				if a == nil {
					continue
				}
				for _, d := range a.Status().Directions {
					if d.State == agent.StateFailed {
						mu.Lock()
						failure = fmt.Sprintf("%s %s (%s) failed: %s", n, d.Role, d.Direction, d.LastError)
						mu.Unlock()
						cancel()
						return
					}
				}
			}
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	p.t.Cleanup(func() { cancel(); <-done })
	return wctx, func() string {
		mu.Lock()
		defer mu.Unlock()
		if failure == "" {
			return ""
		}
		return failure
	}
}

// checkDDLConflicts fails the test for every DDL event the node's conflict log
// holds as failed, unsupported or denied, and logs the others.
func (p *pair) checkDDLConflicts(ctx context.Context, node string) {
	p.t.Helper()
	var exists bool
	if err := p.conn[node].QueryRow(ctx, "SELECT to_regclass('pgduet.conflicts') IS NOT NULL").Scan(&exists); err != nil {
		p.t.Fatal(err)
	}
	if !exists {
		return
	}
	rows, err := p.conn[node].Query(ctx, `SELECT kind, resolution, coalesce(statement, ''), coalesce(detail, '')
		FROM pgduet.conflicts ORDER BY id`)
	if err != nil {
		p.t.Fatal(err)
	}
	type event struct{ kind, resolution, statement, detail string }
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (event, error) {
		var e event
		return e, r.Scan(&e.kind, &e.resolution, &e.statement, &e.detail)
	})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, e := range evs {
		msg := fmt.Sprintf("%s: conflict log: %s (%s): %s: %s", node, e.kind, e.resolution, e.statement, e.detail)
		switch e.kind {
		case "ddl_failed", "ddl_unsupported", "ddl_denied":
			p.t.Error(msg)
		default:
			p.t.Log(msg)
		}
	}
}

// logDDLState logs both agents' direction status and west's conflict log, for
// a failure's diagnosis.
func (p *pair) logDDLState() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range pairNames {
		if a := p.agent(n); a != nil {
			for _, d := range a.Status().Directions {
				p.t.Logf("%s: %+v", n, d)
			}
		}
	}
	var exists bool
	err := p.conn["west"].QueryRow(ctx, "SELECT to_regclass('pgduet.conflicts') IS NOT NULL").Scan(&exists)
	if err != nil || !exists {
		return
	}
	rows, err := p.conn["west"].Query(ctx, `SELECT id::text || ' ' || kind || ' ' || resolution || ': ' || coalesce(statement, '') || ' — ' || coalesce(detail, '')
		FROM pgduet.conflicts ORDER BY id DESC LIMIT 20`)
	if err != nil {
		return
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err == nil && len(lines) > 0 {
		p.t.Logf("west conflict log (newest first):\n%s", strings.Join(lines, "\n"))
	}
}
