package apply

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
)

// stmt is one prepared statement on the apply connection. Statements are
// prepared per (table, op, columns written, columns matched, match mode) and
// reused; parameters are sent as text with type OID 0 (unknown), so the server
// infers each parameter's type from the target column and runs that type's input
// function on the source's text output. User-defined types (enums, composites,
// ranges, domains, arrays of them) therefore never depend on OIDs.
//
// A statement has at most 2 parameters per column (SET and WHERE), so with
// PostgreSQL's 1,600-column limit it stays far below the protocol's 65,535.
type stmt struct {
	name     string
	sql      string
	ready    bool // the server has it (its Parse succeeded)
	inflight bool // its Parse is queued in the current pipeline
	lastUse  uint64
}

// maxStatements bounds the prepared statements kept on the connection; the least
// recently used are deallocated beyond it. The set of written columns varies with
// unchanged TOAST values, so the number of shapes is not bounded by the tables.
const maxStatements = 1000

// rowPlan is how one row change is applied: the statement's shape (its cache
// key) and the parameters for this row.
type rowPlan struct {
	key    []byte   // statement cache key within the table
	params [][]byte // text-format values, nil for NULL
	tbl    *table   // the target
	match  []int    // target columns identifying the old row
	vals   []change.Value
	srcIdx []int // for each match column, its index in vals (to print the key)
}

// keyString prints the old key the plan matched, for conflicts and logs.
func (p *rowPlan) keyString() string {
	names := make([]string, len(p.match))
	vals := make([]change.Value, len(p.match))
	for i, j := range p.match {
		names[i] = p.tbl.target.cols[j].name
		vals[i] = p.vals[p.srcIdx[i]]
	}
	return formatKey(names, vals)
}

// param turns a value into a text-format parameter. An empty string is a
// non-nil empty slice: nil would be sent as NULL.
func param(v change.Value) []byte {
	if v.Kind == change.Null {
		return nil
	}
	if v.Data == nil {
		return []byte{}
	}
	return v.Data
}

// plan works out how to apply one INSERT, UPDATE or DELETE.
func (a *Applier) plan(ch *change.Change) (*rowPlan, error) {
	t := a.tables[ch.Rel.Table]
	b, err := t.bind(ch.Rel, a.cfg.Node)
	if err != nil {
		return nil, err
	}
	p := &rowPlan{tbl: t, key: make([]byte, 0, 64)}
	p.key = append(p.key, ch.Op.String()[0])
	switch ch.Op {
	case change.Insert:
		if len(ch.New) != len(ch.Rel.Columns) {
			return nil, fmt.Errorf("insert has %d values for %d columns", len(ch.New), len(ch.Rel.Columns))
		}
		p.key = append(p.key, " w"...)
		for i, v := range ch.New {
			j := b.srcToTgt[i]
			if j < 0 || v.Kind == change.Unchanged {
				continue
			}
			p.key = strconv.AppendInt(append(p.key, ','), int64(j), 10)
			p.params = append(p.params, param(v))
		}
		if t.policy() != policyFail {
			// A collision is an outcome (0 rows), not an error that aborts
			// the transaction: the policy decides what happens next.
			p.key = append(p.key, " n"...)
		}
		return p, a.lwwPlan(p, b, ch)

	case change.Update:
		if len(ch.New) != len(ch.Rel.Columns) || (ch.Old != nil && len(ch.Old) != len(ch.Rel.Columns)) {
			return nil, fmt.Errorf("update has %d new and %d old values for %d columns", len(ch.New), len(ch.Old), len(ch.Rel.Columns))
		}
		if err := a.match(p, b, ch); err != nil {
			return nil, err
		}
		// SET every column the source sent, except an unchanged TOAST value (left
		// exactly as it is), a column the target generates, and a GENERATED ALWAYS
		// identity column, which UPDATE can only set to DEFAULT.
		newVals := ch.New
		if t.policy() == policyLWW {
			// The newer version replaces the whole row, or the nodes could
			// keep different values of a column one of them did not send:
			// a full old row (REPLICA IDENTITY FULL) has the unchanged ones.
			if row, _ := completeRow(ch); row != nil {
				newVals = row
			}
		}
		var set []int
		var setParams [][]byte
		for i, v := range newVals {
			j := b.srcToTgt[i]
			if j < 0 || v.Kind == change.Unchanged {
				continue
			}
			if t.target.cols[j].identityAlways {
				if old, ok := oldValue(ch, i); ok && !sameValue(old, v) {
					return nil, fmt.Errorf("column %q is GENERATED ALWAYS AS IDENTITY on node %s: an UPDATE cannot change it (from %s to %s)",
						t.target.cols[j].name, a.cfg.Node, old, v)
				}
				continue // unchanged, or not known to change: an identity value is stable once inserted
			}
			set = append(set, j)
			setParams = append(setParams, param(v))
		}
		p.key = append(p.key, " w"...)
		for _, j := range set {
			p.key = strconv.AppendInt(append(p.key, ','), int64(j), 10)
		}
		p.params = append(setParams, p.params...)
		return p, a.lwwPlan(p, b, ch)

	case change.Delete:
		if ch.Old == nil {
			return nil, fmt.Errorf("delete without an old row (replica identity NOTHING on the source?)")
		}
		if len(ch.Old) != len(ch.Rel.Columns) {
			return nil, fmt.Errorf("delete has %d old values for %d columns", len(ch.Old), len(ch.Rel.Columns))
		}
		if err := a.match(p, b, ch); err != nil {
			return nil, err
		}
		return p, a.lwwPlan(p, b, ch)
	}
	return nil, fmt.Errorf("unknown operation %s", ch.Op)
}

// oldValue returns the old value of source column i when the change carries it.
func oldValue(ch *change.Change, i int) (change.Value, bool) {
	if ch.Old == nil {
		if ch.Rel.Columns[i].Key {
			return ch.New[i], true // the key did not change
		}
		return change.Value{}, false
	}
	if ch.OldIsKey && !ch.Rel.Columns[i].Key {
		return change.Value{}, false
	}
	v := ch.Old[i]
	return v, v.Kind != change.Unchanged
}

func sameValue(a, b change.Value) bool {
	return a.Kind == b.Kind && bytes.Equal(a.Data, b.Data)
}

// match chooses how an UPDATE or DELETE finds its row, and appends the match
// mode and columns to the key and the old values to the parameters.
//
// The old values known are: Old when present (the replica-identity columns when
// OldIsKey, else the whole row), otherwise the replica-identity columns of New
// (the key did not change). Then:
//   - If the target has a key (replica identity index, else primary key) and all
//     its columns are known: WHERE key = $n, by the target's key only.
//   - Otherwise (no key on the target, e.g. REPLICA IDENTITY FULL without a
//     primary key, or keys that differ between the nodes): match every known old
//     column NULL-safely and as text, so that types without an equality operator
//     (json, xml, point) work, and touch exactly one row even if several are
//     identical: WHERE (tableoid, ctid) = (SELECT ... LIMIT 1 FOR UPDATE).
//     Both sides are printed by the target type's output function in this
//     session, so differences in the source's settings do not matter.
func (a *Applier) match(p *rowPlan, b *binding, ch *change.Change) error {
	t := p.tbl
	vals := ch.New
	if ch.Old != nil {
		vals = ch.Old
	}
	p.vals = vals
	known := func(i int) bool {
		if i < 0 || vals[i].Kind == change.Unchanged {
			return false
		}
		if ch.Old == nil || ch.OldIsKey {
			return ch.Rel.Columns[i].Key
		}
		return true
	}
	if key := t.target.key; len(key) > 0 {
		usable := true
		for _, j := range key {
			i := b.tgtToSrc[j]
			if !known(i) || vals[i].Kind != change.Text {
				usable = false
				break
			}
		}
		if usable {
			p.key = append(p.key, " k"...)
			for _, j := range key {
				i := b.tgtToSrc[j]
				p.key = strconv.AppendInt(append(p.key, ','), int64(j), 10)
				p.match = append(p.match, j)
				p.srcIdx = append(p.srcIdx, i)
				p.params = append(p.params, param(vals[i]))
			}
			return nil
		}
	}
	p.key = append(p.key, " f"...)
	for i := range ch.Rel.Columns {
		j := b.srcToTgt[i]
		if j < 0 || !known(i) {
			continue
		}
		p.key = strconv.AppendInt(append(p.key, ','), int64(j), 10)
		p.match = append(p.match, j)
		p.srcIdx = append(p.srcIdx, i)
		p.params = append(p.params, param(vals[i]))
	}
	if len(p.match) == 0 {
		return fmt.Errorf("no old key to find the row by (replica identity NOTHING on the source?)")
	}
	return nil
}

// statement returns the cached statement for p, creating it (not yet prepared)
// on first use.
func (a *Applier) statement(op change.Op, p *rowPlan) *stmt {
	return a.cachedStatement(p.tbl, string(p.key), func() string { return buildSQL(p.tbl, op, string(p.key)) })
}

// cachedStatement returns table t's statement cached under key, creating it
// (not yet prepared) with build on first use.
func (a *Applier) cachedStatement(t *table, key string, build func() string) *stmt {
	a.stmtClock++
	if s, ok := t.stmts[key]; ok {
		s.lastUse = a.stmtClock
		return s
	}
	a.stmtSeq++
	s := &stmt{
		name:    "pgduet_apply_" + strconv.FormatUint(a.stmtSeq, 10),
		sql:     build(),
		lastUse: a.stmtClock,
	}
	t.stmts[key] = s
	a.stmtCount++
	a.statsMu.Lock()
	a.stats.StatementsPrepared++
	a.statsMu.Unlock()
	return s
}

// buildSQL writes the statement for a plan key ("u w,1,2 k,0": op, written
// target columns, then k (key) or f (full old row) and the matched columns).
func buildSQL(t *table, op change.Op, key string) string {
	var write, match []int
	full, nothing := false, false
	var lww *lwwShape
	for _, part := range strings.Fields(key)[1:] {
		cols := parseCols(part[1:])
		switch part[0] {
		case 'w':
			write = cols
		case 'k':
			match = cols
		case 'f':
			match, full = cols, true
		case 'n':
			nothing = true
		case 'l':
			lww = parseLWW(part[1:])
		}
	}
	ident := func(j int) string { return pgx.Identifier{t.target.cols[j].name}.Sanitize() }
	var b strings.Builder
	n := 0
	next := func() string { n++; return "$" + strconv.Itoa(n) }

	switch op {
	case change.Insert:
		if lww != nil {
			return lwwInsertSQL(t, write, lww)
		}
		return insertSQL(t, write, nothing, next)

	case change.Update:
		if len(write) == 0 {
			// Nothing to set (every sent column is unchanged TOAST or
			// identity): still find and lock the row, so that a missing row is
			// an update_missing conflict. Setting a column to itself would also
			// tag the row with our origin, so prefer that when one can be set.
			j := slices.IndexFunc(t.target.cols, func(c column) bool { return !c.generated && !c.identityAlways })
			if j < 0 {
				if lww != nil {
					return "SELECT 1 FROM " + t.from + " WHERE " + keyMatch(t, match, next) + lwwGuard(lww, next()) + " FOR UPDATE"
				}
				return selectForUpdate(t, match, full, next)
			}
			b.WriteString("UPDATE " + t.from + " SET " + ident(j) + " = " + ident(j))
		} else {
			b.WriteString("UPDATE " + t.from + " SET ")
			for k, j := range write {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString(ident(j) + " = " + next())
			}
		}
		b.WriteString(whereClause(t, match, full, next))
		if lww != nil {
			ts := next()
			b.WriteString(lwwGuard(lww, ts))
			if lww.move {
				b.WriteString(lwwReturning(t, lww, ts))
			}
		}
		return b.String()

	case change.Delete:
		b.WriteString("DELETE FROM " + t.from + whereClause(t, match, full, next))
		if lww != nil {
			b.WriteString(lwwGuard(lww, next()))
		}
		return b.String()
	}
	panic("apply: buildSQL for " + op.String())
}

// insertSQL writes an INSERT of the target columns write; nothing adds ON
// CONFLICT DO NOTHING (any unique key), so a collision is a row count of 0.
func insertSQL(t *table, write []int, nothing bool, next func() string) string {
	var b strings.Builder
	if len(write) == 0 {
		b.WriteString("INSERT INTO " + t.name + " DEFAULT VALUES")
	} else {
		b.WriteString("INSERT INTO " + t.name + " (")
		for k, j := range write {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pgx.Identifier{t.target.cols[j].name}.Sanitize())
		}
		// OVERRIDING SYSTEM VALUE: GENERATED ALWAYS identity columns keep the
		// source's values (it is accepted, and ignored, on tables without one).
		b.WriteString(") OVERRIDING SYSTEM VALUE VALUES (")
		for k := range write {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(next())
		}
		b.WriteString(")")
	}
	if nothing {
		b.WriteString(" ON CONFLICT DO NOTHING")
	}
	return b.String()
}

func parseCols(s string) []int {
	var cols []int
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		j, _ := strconv.Atoi(f)
		cols = append(cols, j)
	}
	return cols
}

// whereClause finds the old row: by key equality, or (full) by a NULL-safe text
// comparison of every known old column, touching exactly one row.
func whereClause(t *table, match []int, full bool, next func() string) string {
	if !full {
		return " WHERE " + keyMatch(t, match, next)
	}
	return " WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM " + t.from +
		" WHERE " + textMatch(t, match, next) + " LIMIT 1 FOR UPDATE)"
}

func selectForUpdate(t *table, match []int, full bool, next func() string) string {
	if !full {
		return "SELECT 1 FROM " + t.from + " WHERE " + keyMatch(t, match, next) + " FOR UPDATE"
	}
	return "SELECT 1 FROM " + t.from + " WHERE " + textMatch(t, match, next) + " LIMIT 1 FOR UPDATE"
}

func keyMatch(t *table, match []int, next func() string) string {
	parts := make([]string, len(match))
	for k, j := range match {
		parts[k] = pgx.Identifier{t.target.cols[j].name}.Sanitize() + " = " + next()
	}
	return strings.Join(parts, " AND ")
}

// textMatch compares col::text with the parameter read by the column's own type
// and printed back ($n::type::text), NULL-safely.
func textMatch(t *table, match []int, next func() string) string {
	parts := make([]string, len(match))
	for k, j := range match {
		c := t.target.cols[j]
		parts[k] = pgx.Identifier{c.name}.Sanitize() + "::text IS NOT DISTINCT FROM " + next() + "::" + c.typ + "::text"
	}
	return strings.Join(parts, " AND ")
}

// truncateSQL builds one TRUNCATE for all the change's tables.
func (a *Applier) truncateSQL(ch *change.Change) string {
	var names []string
	for _, r := range ch.Rels {
		t := a.tables[r.Table]
		n := t.from // ONLY: exactly the tables the source truncated (it lists each one)
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	s := "TRUNCATE " + strings.Join(names, ", ")
	if ch.RestartIdentity {
		s += " RESTART IDENTITY"
	}
	// Never CASCADE, whatever the source did: pgoutput already lists every
	// published table the source's cascade reached, and the filter may have left
	// some out on purpose. CASCADE here would empty tables on the peer that are
	// not selected (or do not replicate truncate). Without it, a referencing table
	// that is not in the list makes the statement fail, which stops the direction
	// with PostgreSQL's error instead of deleting rows silently — as PostgreSQL's
	// own apply worker does (DROP_RESTRICT).
	return s
}

// dropStatements forgets a table's statements; the prepared ones are
// deallocated at the start of the next pipeline.
func (a *Applier) dropStatements(t *table) {
	for k, s := range t.stmts {
		if s.ready {
			a.closing = append(a.closing, s.name)
		}
		delete(t.stmts, k)
		a.stmtCount--
	}
}

// evictStatements deallocates the least recently used statements beyond
// maxStatements (down to 3/4 of it, so eviction is not paid on every call).
func (a *Applier) evictStatements() {
	if a.stmtCount <= maxStatements {
		return
	}
	type entry struct {
		t   *table
		key string
		s   *stmt
	}
	var all []entry
	for _, t := range a.tables {
		for k, s := range t.stmts {
			all = append(all, entry{t, k, s})
		}
	}
	slices.SortFunc(all, func(x, y entry) int { return cmp.Compare(x.s.lastUse, y.s.lastUse) })
	for _, e := range all[:len(all)-maxStatements*3/4] {
		if e.s.ready {
			a.closing = append(a.closing, e.s.name)
		}
		delete(e.t.stmts, e.key)
		a.stmtCount--
	}
}
