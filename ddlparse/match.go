package ddlparse

import (
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// Event is one queue row captured by the event triggers: one row of
// pg_event_trigger_ddl_commands() (event "ddl_command_end") or of
// pg_event_trigger_dropped_objects() (event "sql_drop").
type Event struct {
	// Event is "ddl_command_end" or "sql_drop".
	Event string
	// Tag is TG_TAG: the command tag of the top-level command that fired.
	Tag string
	// ObjectType, Schema and Identity are the row's object_type,
	// schema_name and object_identity ("" for NULL, as GRANT reports).
	ObjectType string
	Schema     string
	Identity   string
	// Command, when the capture records it, numbers the DDL command within
	// the client's query message that fired this row, from 1: the n-th
	// ddl_command_end firing, counting firings with no rows and commands run
	// inside routines, but not the commands an extension script runs (their
	// rows are all in_extension); sql_drop rows take the number of the
	// command they precede. The capture can keep the count in a session
	// setting reset whenever statement_timestamp() changes (see
	// testdata/capture-events.sh). 0 means unknown. With it, matching is
	// exact even for strings whose statements fire no rows or that span
	// several transactions.
	Command int
}

const (
	eventCommandEnd = "ddl_command_end"
	eventSQLDrop    = "sql_drop"
)

func (e Event) String() string {
	id := e.Identity
	if id == "" {
		id = "(no identity)"
	}
	return fmt.Sprintf("%s %s %s %s", e.Event, e.Tag, e.ObjectType, id)
}

// Replay is one statement to replay, placed in the stream.
type Replay struct {
	Statement Statement
	// At is the index (into the events given to Match) of the statement's
	// first event: replay the statement when the apply reaches that queue
	// row, after the row changes before it and before the ones after it.
	// Exception: CREATE TABLE AS and SELECT INTO write their rows before the
	// event trigger fires (verified on 15.18), so when the new table is
	// replicated its row changes precede At; replay the statement before
	// the first of them.
	At int
	// Events are the indexes of all events attributed to the statement.
	Events []int
}

// strongTypes are object types a ddl_command_end row can only report for an
// object its statement names: a row of one of these types whose identity
// names nothing in the statement came from somewhere else (a routine body).
// Dependent objects (sequences of serial columns, indexes of constraints,
// row types, toast tables) are not in the list, and sql_drop rows are never
// checked, since CASCADE drops anything.
var strongTypes = map[string]bool{
	"table": true, "view": true, "materialized view": true, "foreign table": true,
	"function": true, "procedure": true, "aggregate": true, "schema": true,
	"domain": true, "trigger": true, "rule": true, "policy": true,
}

// Match decides which statements of one query string to replay, given the
// queue rows of one (txid, pid, query) group in queue order. stmts is
// Split(query).
//
// Each DDL statement fires a run of rows (sql_drop rows, then
// ddl_command_end rows) whose tag is its own; a statement fires no row when
// it did nothing (CREATE TABLE IF NOT EXISTS on an existing table) or when
// its objects are filtered out (temporary objects, which are never
// replicated; rows on them are ignored here too). Match attributes the rows
// to statements in order, by tag, and by the object identities the rows
// carry. Every statement that gets rows is returned once, in order; BEGIN,
// COMMIT, DML, queries and utility statements never are.
//
// When rows cannot be attributed (their tag appears in no statement, or
// they name an object no statement with that tag names), the DDL ran inside
// a routine body (DO, CALL, a function or trigger) or the string is not what
// PostgreSQL ran: Match returns an *UnsupportedError and no replays.
func Match(stmts []Statement, events []Event) ([]Replay, error) {
	if err := savepointAfterDDL(stmts); err != nil {
		return nil, err
	}
	var rel []int // events on replicable objects
	ext := extensionTags(stmts)
	scripted := false
	for i, e := range events {
		if ext != nil && e.Event == eventSQLDrop && !ext[normTag(e.Tag)] {
			scripted = true
			continue
		}
		if isTempEvent(e) {
			continue
		}
		rel = append(rel, i)
	}
	if scripted {
		// The script's DROP commands fire ddl_command_end with no rows,
		// which the capture cannot tell from the client's commands, so the
		// command numbers are off: match by tags and identities instead.
		events = slices.Clone(events)
		for i := range events {
			events[i].Command = 0
		}
	}
	if len(rel) == 0 {
		return nil, nil
	}

	// Statements that fire event triggers, in order; Command numbers count
	// these (temporary ones included, since they fire too).
	var capable []int
	for i, s := range stmts {
		if firesEventTriggers(s.Tag, s.Kind) {
			capable = append(capable, i)
		}
	}
	m := &matcher{stmts: stmts, events: events, capable: capable}
	for _, i := range rel {
		if err := m.checkTag(i); err != nil {
			return nil, err
		}
	}
	m.units = makeUnits(events, rel)
	m.index()

	// All rows of one group come from one transaction: try each
	// transaction of the string and keep the best attribution.
	var best *attribution
	tie := false
	for tx := 0; len(stmts) > 0 && tx <= stmts[len(stmts)-1].Tx; tx++ {
		if rolledBack(stmts, tx) {
			continue // its rows never reach the queue
		}
		a := m.solve(tx)
		if a == nil {
			continue
		}
		switch {
		case best == nil || best.score.less(a.score):
			best, tie = a, false
		case !a.score.less(best.score):
			tie = true
		}
	}
	if best == nil {
		return nil, m.unmatched()
	}
	if tie {
		return nil, &UnsupportedError{Statement: -1, Reason: ReasonUnmatched,
			Detail: "the query string runs several transactions whose DDL would match these events equally well; the capture must record command numbers (Event.Command) to tell them apart"}
	}
	return best.replays(m), nil
}

// savepointAfterDDL refuses a string that rolls back to a savepoint after a
// DDL statement: the rolled-back DDL fired no rows that reach the peer, but
// the capture's command numbers were rolled back with it (they live in a
// session setting), and a kept statement may name the same objects as the
// undone one (ALTER TABLE t ADD COLUMN x, undone, then ... ADD COLUMN y), so
// which statement survived cannot be told from the rows.
func savepointAfterDDL(stmts []Statement) error {
	ddl := map[int]bool{}
	for _, s := range stmts {
		if s.Kind == KindDDL {
			ddl[s.Tx] = true
			continue
		}
		if ddl[s.Tx] && s.raw != nil && s.raw.Stmt.GetTransactionStmt().GetKind() == pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO {
			return &UnsupportedError{Statement: s.Index, Tag: s.Tag, Reason: ReasonUnmatched,
				Detail: "the query string rolls back to a savepoint after DDL: which of its DDL statements took effect cannot be told from the captured rows"}
		}
	}
	return nil
}

// rolledBack reports whether the string ends transaction tx with ROLLBACK.
func rolledBack(stmts []Statement, tx int) bool {
	for _, s := range stmts {
		if s.Tx == tx && s.raw != nil && endsTransaction(s.raw.Stmt) {
			return s.raw.Stmt.GetTransactionStmt().Kind == pg.TransactionStmtKind_TRANS_STMT_ROLLBACK
		}
	}
	return false
}

// Temporary reports whether the row is about a temporary object, which is
// session-local: Match ignores such rows, and nothing of them is replicated.
func (e Event) Temporary() bool { return isTempEvent(e) }

// isTempEvent reports rows about temporary objects, which are session-local
// and never replicated.
// extensionTags returns the tags of the statements of a query that runs
// CREATE EXTENSION or ALTER EXTENSION, or nil for other queries. An
// extension script's commands fire event triggers too: their ddl_command_end
// rows are in_extension (the capture leaves them out), but their sql_drop
// rows cannot be told apart (hstore's script drops an operator), so Match
// ignores sql_drop rows whose tag no statement of such a query has. The
// extension's objects are the peer's CREATE EXTENSION's to make.
func extensionTags(stmts []Statement) map[string]bool {
	var tags map[string]bool
	for _, s := range stmts {
		switch normTag(s.Tag) {
		case "CREATE EXTENSION", "ALTER EXTENSION":
			tags = map[string]bool{}
		}
	}
	if tags != nil {
		for _, s := range stmts {
			tags[normTag(s.Tag)] = true
		}
	}
	return tags
}

func isTempEvent(e Event) bool {
	return e.Schema == "pg_temp" || strings.HasPrefix(e.Schema, "pg_temp_") ||
		strings.HasPrefix(e.Schema, "pg_toast_temp_") || strings.HasPrefix(e.Identity, "pg_temp.") ||
		strings.HasPrefix(e.Identity, "pg_temp_") || strings.HasPrefix(e.Identity, "pg_toast_temp_")
}

// unit is a run of events that must go to one statement: one event, or all
// consecutive rows of one firing when Command numbers are known.
type unit struct {
	events  []int
	tag     string
	drop    bool
	command int
	ids     []identity
	strong  []bool // per event: a ddl_command_end row of a strong type
}

func makeUnits(events []Event, rel []int) []unit {
	var us []unit
	for _, i := range rel {
		e := events[i]
		tag := normTag(e.Tag)
		drop := e.Event == eventSQLDrop
		if n := len(us); n > 0 && e.Command > 0 {
			last := &us[n-1]
			if last.command == e.Command && last.drop == drop && last.tag == tag {
				last.add(i, e)
				continue
			}
		}
		u := unit{tag: tag, drop: drop, command: e.Command}
		u.add(i, e)
		us = append(us, u)
	}
	return us
}

func (u *unit) add(i int, e Event) {
	u.events = append(u.events, i)
	var id identity
	if e.Identity != "" {
		id = parseIdentity(e.Identity)
	}
	u.ids = append(u.ids, id)
	u.strong = append(u.strong, e.Event == eventCommandEnd && e.Identity != "" && strongTypes[e.ObjectType] &&
		!strings.HasSuffix(normTag(e.Tag), " EXTENSION"))
}

type matcher struct {
	stmts   []Statement
	events  []Event
	capable []int
	units   []unit
	// evidence[e][s] is what event e's identity says about statement s
	// (absent: nothing); namedBy[e] counts the statements it names.
	evidence []map[int]level
	namedBy  []int
}

// level is how strongly an event's identity points at a statement.
type level int8

const (
	levelDerived level = 1 // named after one of its objects (orders_id_seq)
	levelNamed   level = 2 // names one of its objects
)

// index computes the evidence of every event once, looking statements up
// by the names their objects carry, so that matching stays fast on long
// migration scripts.
func (m *matcher) index() {
	byName := map[string][]int{}
	for _, si := range m.capable {
		for _, o := range m.stmts[si].Objects {
			if l := byName[o.Name]; len(l) == 0 || l[len(l)-1] != si {
				byName[o.Name] = append(l, si)
			}
		}
	}
	m.evidence = make([]map[int]level, len(m.events))
	m.namedBy = make([]int, len(m.events))
	for _, u := range m.units {
		for k, ev := range u.events {
			id := u.ids[k]
			if len(id.parts) == 0 {
				continue
			}
			keys := append([]string{}, id.parts...)
			last := id.parts[len(id.parts)-1]
			for i := 1; i < len(last); i++ {
				if last[i] == '_' {
					keys = append(keys, last[:i])
				}
			}
			for _, key := range keys {
				for _, si := range byName[key] {
					s := &m.stmts[si]
					if normTag(s.Tag) != u.tag || m.evidence[ev][si] == levelNamed {
						continue
					}
					l := level(0)
					for _, o := range s.Objects {
						switch {
						case id.names(o):
							l = levelNamed
						case l == 0 && !o.Ref && id.derived(o):
							l = levelDerived
						}
						if l == levelNamed {
							break
						}
					}
					if l == 0 {
						continue
					}
					if m.evidence[ev] == nil {
						m.evidence[ev] = map[int]level{}
					}
					m.evidence[ev][si] = l
					if l == levelNamed {
						m.namedBy[ev]++
					}
				}
			}
		}
	}
}

// score orders attributions: more rows that name their statement (a), more
// statements backed by such rows (b), fewer statements with rows that do
// not name them (c), more rows named after an object of their statement
// such as a serial column's sequence (p), then earlier statements (d).
type score struct{ a, b, c, p, d int }

func (s score) add(t score) score {
	return score{s.a + t.a, s.b + t.b, s.c + t.c, s.p + t.p, s.d + t.d}
}

func (s score) less(t score) bool {
	switch {
	case s.a != t.a:
		return s.a < t.a
	case s.b != t.b:
		return s.b < t.b
	case s.c != t.c:
		return s.c < t.c
	case s.p != t.p:
		return s.p < t.p
	}
	return s.d < t.d
}

type attribution struct {
	score score
	cands []int   // statement indexes
	spans [][]int // per candidate: unit indexes
}

func (a *attribution) replays(m *matcher) []Replay {
	var out []Replay
	for ci, us := range a.spans {
		if len(us) == 0 {
			continue
		}
		r := Replay{Statement: m.stmts[a.cands[ci]]}
		for _, u := range us {
			r.Events = append(r.Events, m.units[u].events...)
		}
		r.At = r.Events[0]
		out = append(out, r)
	}
	return out
}

// solve attributes all units to the candidate statements of transaction tx
// (dynamic programming over statements × units), or returns nil when no
// attribution satisfies the hard rules: a unit goes to a statement with its
// tag (and its command number, when known), in order; a statement's
// sql_drop rows come before its ddl_command_end rows; a ddl_command_end row
// of a strong type names its statement.
func (m *matcher) solve(tx int) *attribution {
	var cands []int
	capIdx := map[int]int{}
	for ci, si := range m.capable {
		capIdx[si] = ci + 1
		s := &m.stmts[si]
		if s.Tx == tx && !s.IsTemporary() {
			cands = append(cands, si)
		}
	}
	nc, nu := len(cands), len(m.units)
	if nc == 0 {
		return nil
	}
	// Two rows of scores; from[j][k] remembers where candidate j's span
	// began for the best way to have assigned k units to candidates ≤ j.
	type cell struct {
		ok bool
		sc score
	}
	cur, next := make([]cell, nu+1), make([]cell, nu+1)
	from := make([][]int32, nc)
	cur[0] = cell{ok: true}
	for j := 0; j < nc; j++ {
		for k := range next {
			next[k] = cell{}
		}
		from[j] = make([]int32, nu+1)
		tag := normTag(m.stmts[cands[j]].Tag)
		for i := 0; i <= nu; i++ {
			if !cur[i].ok {
				continue
			}
			relax := func(k int, add score) {
				c := cur[i].sc.add(add)
				if !next[k].ok || next[k].sc.less(c) {
					next[k] = cell{ok: true, sc: c}
					from[j][k] = int32(i)
				}
			}
			relax(i, score{})
			var acc score
			named, anonymous, sawEnd := false, true, false
			for k := i; k < nu; k++ {
				u := &m.units[k]
				if u.tag != tag || (u.command > 0 && u.command != capIdx[cands[j]]) || (u.drop && sawEnd) {
					break
				}
				sawEnd = sawEnd || !u.drop
				bad := false
				for e, ev := range u.events {
					l := m.evidence[ev][cands[j]]
					if u.strong[e] && l != levelNamed {
						bad = true
						break
					}
					acc.d -= j
					if u.ids[e].parts == nil {
						continue
					}
					anonymous = false
					switch {
					case l == levelNamed:
						acc.a++
						named = true
					case m.namedBy[ev] > 0: // names another statement with this tag
						acc.a--
					case l == levelDerived:
						acc.p++
					}
				}
				if bad {
					break
				}
				add := acc
				if named || anonymous {
					add.b++
				} else {
					add.c--
				}
				relax(k+1, add)
			}
		}
		cur, next = next, cur
	}
	if !cur[nu].ok {
		return nil
	}
	a := &attribution{score: cur[nu].sc, cands: cands, spans: make([][]int, nc)}
	for j, k := nc, nu; j > 0; j-- {
		i := int(from[j-1][k])
		for x := i; x < k; x++ {
			a.spans[j-1] = append(a.spans[j-1], x)
		}
		k = i
	}
	return a
}

// checkTag fails when event i's tag belongs to no statement that fires
// event triggers.
func (m *matcher) checkTag(i int) error {
	tag := normTag(m.events[i].Tag)
	for _, si := range m.capable {
		if normTag(m.stmts[si].Tag) == tag {
			return nil
		}
	}
	return m.routineError(fmt.Sprintf("event %d (%s) has a tag no statement of the query has", i, m.events[i]))
}

// unmatched explains why no attribution exists.
func (m *matcher) unmatched() error {
	return m.routineError("the events cannot be attributed in order to the statements of the query (an event names an object no statement with its tag names, or the tags come in another order)")
}

func (m *matcher) routineError(what string) error {
	for _, s := range m.stmts {
		if s.RunsCode() {
			return &UnsupportedError{Statement: -1, Reason: ReasonRoutineBody,
				Detail: fmt.Sprintf("%s; statement %d (%s) runs code, so the DDL probably ran inside a routine body and has no text to replay", what, s.Index, s.Tag)}
		}
	}
	return &UnsupportedError{Statement: -1, Reason: ReasonUnmatched, Detail: what}
}
