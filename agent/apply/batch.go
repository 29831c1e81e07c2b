package apply

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
)

// Set-based statements: a run of consecutive changes that would use the same
// prepared statement (same table, operation and columns) under the fail
// policy is sent as one statement over arrays, one text[] parameter per
// column, unnested server-side:
//
//	INSERT INTO t (a, b) OVERRIDING SYSTEM VALUE SELECT u.p1::int, u.p2::text FROM unnest($1::text[], $2::text[]) AS u(p1, p2)
//	UPDATE ONLY t AS x SET b = u.p1::text FROM unnest($1::text[], $2::text[]) AS u(p1, p2) WHERE x.a = u.p2::int
//	DELETE FROM ONLY t AS x USING unnest($1::text[]) AS u(p1) WHERE x.a = u.p1::int
//
// Values are cast from text with the column's type without its modifier
// (the assignment then applies the modifier as a one-row INSERT does: an
// over-long varchar is an error, never truncated). The statement must
// affect exactly one row per change. Any other outcome (a row count short
// of the run, any error) fails the attempt with errBatch: the transaction
// is rolled back and applied again one statement per change, which
// attributes and records the conflict exactly.
//
// Runs of updates and deletes have distinct keys, and an update in a run
// keeps its key (a set-based UPDATE sees every row as it was before the
// statement, so a key changed or matched twice would not apply in order).
// A table with a user trigger that fires in the apply session (ENABLE
// ALWAYS or REPLICA) is never batched: statement triggers, transition
// tables and AFTER ROW triggers would see the run, not each change. Nor is
// a transaction with DDL: a retry would replay its DDL a second time.

// errBatch: a set-based statement did not apply its run cleanly.
var errBatch = errors.New("a set-based statement did not apply one row per change")

const (
	minBatch      = 4        // shorter runs go row by row
	maxBatch      = 1000     // rows per set-based statement
	maxBatchBytes = 16 << 20 // parameter bytes per set-based statement (PostgreSQL refuses a Bind message over 1 GB, and closes the session)
)

// batchShape reports whether the statement shape of plan p (its key: the
// same for every change of a run) may go in a set-based statement: the fail
// policy, no user trigger in the apply session, no last_write_wins or ON
// CONFLICT form, a key match (not the full old row), and columns written
// (inserts, updates) or matched (updates, deletes).
func batchShape(op change.Op, p *rowPlan) bool {
	if p == nil || p.tbl.policy() != policyFail || p.tbl.target.userTriggers {
		return false
	}
	key := p.key
	if bytes.Contains(key, []byte(" l")) || bytes.Contains(key, []byte(" n")) || bytes.Contains(key, []byte(" f")) {
		return false
	}
	switch op {
	case change.Insert:
		return bytes.Contains(key, []byte(" w,"))
	case change.Update:
		return bytes.Contains(key, []byte(" w,")) && bytes.Contains(key, []byte(" k,"))
	case change.Delete:
		return bytes.Contains(key, []byte(" k,"))
	}
	return false
}

// keyKept reports whether an update sets its key columns (write: the
// columns its statement writes) to the values it matched them by, or
// leaves them alone.
func keyKept(p *rowPlan, write []int) bool {
	nw := len(p.params) - len(p.match)
	for k, j := range p.match {
		for w, c := range write {
			if c == j && !bytes.Equal(p.params[w], p.params[nw+k]) {
				return false
			}
		}
	}
	return true
}

// planWrite returns the written target columns of a plan, from its key.
func planWrite(p *rowPlan) []int {
	for _, part := range strings.Fields(string(p.key))[1:] {
		if part[0] == 'w' {
			return parseCols(part[1:])
		}
	}
	return nil
}

// batchRun returns how many changes from i on (at most hi) form one
// set-based statement, or 0 when fewer than minBatch do. The changes of a
// run share one statement, so its shape is checked once; each update must
// keep its key, and updates and deletes must have distinct keys.
func (a *Applier) batchRun(tx *change.Tx, plans []*rowPlan, stmts []*stmt, i, hi int) int {
	op := tx.Changes[i].Op
	if a.noBatch || op == change.Truncate || hi-i < minBatch || !batchShape(op, plans[i]) {
		return 0
	}
	var write []int
	var keys map[string]bool
	if op != change.Insert {
		keys = map[string]bool{}
	}
	if op == change.Update {
		write = planWrite(plans[i])
	}
	n, size := 0, 0
	for j := i; j < hi && n < maxBatch; j++ {
		p := plans[j]
		if tx.Changes[j].Op != op || stmts[j] != stmts[i] || op == change.Update && !keyKept(p, write) {
			break
		}
		for _, v := range p.params {
			size += 3 + 2*len(v) // quoted, every byte escaped at worst
		}
		if size > maxBatchBytes {
			break
		}
		if keys != nil {
			k := string(bytes.Join(p.params[len(p.params)-len(p.match):], []byte{0}))
			if keys[k] {
				break
			}
			keys[k] = true
		}
		n++
	}
	if n < minBatch {
		return 0
	}
	return n
}

// batchStatement returns the cached set-based statement for plan p.
func (a *Applier) batchStatement(op change.Op, p *rowPlan) *stmt {
	return a.cachedStatement(p.tbl, "B"+string(p.key), func() string { return buildBatchSQL(p.tbl, op, string(p.key)) })
}

// buildBatchSQL writes the set-based statement for a plan key (see buildSQL):
// parameter k is the text[] of the k-th parameter of the one-row statement.
func buildBatchSQL(t *table, op change.Op, key string) string {
	var write, match []int
	for _, part := range strings.Fields(key)[1:] {
		switch part[0] {
		case 'w':
			write = parseCols(part[1:])
		case 'k':
			match = parseCols(part[1:])
		}
	}
	ident := func(j int) string { return pgx.Identifier{t.target.cols[j].name}.Sanitize() }
	cols := append(append([]int{}, write...), match...)
	if op == change.Delete {
		cols = match
	}
	val := func(k int) string { return "u.p" + strconv.Itoa(k+1) + "::" + t.target.cols[cols[k]].base }
	var from strings.Builder
	from.WriteString("unnest(")
	for k := range cols {
		if k > 0 {
			from.WriteString(", ")
		}
		from.WriteString("$" + strconv.Itoa(k+1) + "::pg_catalog.text[]")
	}
	from.WriteString(") AS u(")
	for k := range cols {
		if k > 0 {
			from.WriteString(", ")
		}
		from.WriteString("p" + strconv.Itoa(k+1))
	}
	from.WriteString(")")
	where := func(off int) string {
		parts := make([]string, len(match))
		for k, j := range match {
			parts[k] = "x." + ident(j) + " = " + val(off+k)
		}
		return strings.Join(parts, " AND ")
	}
	var b strings.Builder
	switch op {
	case change.Insert:
		b.WriteString("INSERT INTO " + t.name + " (")
		for k, j := range write {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ident(j))
		}
		b.WriteString(") OVERRIDING SYSTEM VALUE SELECT ")
		for k := range write {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(val(k))
		}
		b.WriteString(" FROM " + from.String())
	case change.Update:
		b.WriteString("UPDATE " + t.from + " AS x SET ")
		for k, j := range write {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ident(j) + " = " + val(k))
		}
		b.WriteString(" FROM " + from.String() + " WHERE " + where(len(write)))
	case change.Delete:
		b.WriteString("DELETE FROM " + t.from + " AS x USING " + from.String() + " WHERE " + where(0))
	}
	return b.String()
}

// batchParams builds the text[] parameters of a run: the k-th array holds
// the k-th parameter of each change's one-row statement.
func batchParams(plans []*rowPlan) [][]byte {
	width := len(plans[0].params)
	out := make([][]byte, width)
	for k := 0; k < width; k++ {
		n := 2
		for _, p := range plans {
			n += 3 + 2*len(p.params[k])
		}
		buf := make([]byte, 0, n)
		buf = append(buf, '{')
		for r, p := range plans {
			if r > 0 {
				buf = append(buf, ',')
			}
			buf = appendArrayElem(buf, p.params[k])
		}
		out[k] = append(buf, '}')
	}
	return out
}

// appendArrayElem appends one element of an array literal: NULL for a nil
// value, else the value double-quoted with " and \ escaped.
func appendArrayElem(buf, v []byte) []byte {
	if v == nil {
		return append(buf, "NULL"...)
	}
	buf = append(buf, '"')
	for _, c := range v {
		if c == '"' || c == '\\' {
			buf = append(buf, '\\')
		}
		buf = append(buf, c)
	}
	return append(buf, '"')
}
