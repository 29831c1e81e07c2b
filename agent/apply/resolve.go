package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
)

// Resolving conflicts under the policies that survive them (SPEC §7).
//
// The conflict-free path stays one pipeline per run of changes. A table whose
// policy is not fail is written with statements that report a collision as
// an outcome instead of an error where they can (INSERT ... ON CONFLICT DO
// NOTHING: 0 rows), and a pass over such tables starts with SAVEPOINT
// pgduet_pass. What happens on a conflict:
//
//   - ignore: the change had no effect and the pass goes on; the conflict is
//     recorded (skipped). A unique violation on UPDATE (update_exists) aborts
//     the pass: see below.
//   - overwrite, and any unique violation: the change needs a write in its
//     place, at its position. The pass is rolled back to its savepoint, the
//     changes before the conflicting one are applied again (same data, same
//     result), the conflict is resolved with a few statements of its own,
//     and a new pass starts after it. Round trips are spent only on
//     conflicts.

// event is a conflict a transaction survived, written to pgduet.conflicts in
// that transaction.
type event struct {
	idx        int
	kind       string
	resolution string
	detail     string
	local      []byte // the local row(s) it met, JSON
}

// Resolutions beyond skipped and stopped.
const (
	ResolutionOverwritten = "overwritten"        // the remote row replaced the local one(s) (overwrite)
	ResolutionInserted    = "inserted"           // update_missing: the new row was inserted (overwrite)
	ResolutionIncomplete  = "skipped_incomplete" // update_missing: unchanged TOAST values were not sent and no full old row completes them
)

// survivable says whether a server error at step s is a conflict the table's
// policy resolves (a unique violation in a guarded pass) and which kind.
func (a *Applier) survivable(tx *change.Tx, s *step, guarded bool, plans []*rowPlan, pgErr *pgconn.PgError) string {
	if !guarded || s.kind != stepChange {
		return ""
	}
	ch := &tx.Changes[s.idx]
	if ch.Op == change.Truncate || plans[s.idx] == nil || plans[s.idx].tbl.policy() == policyFail {
		return ""
	}
	if pgErr.Code == errTombstone && plans[s.idx].tbl.policy() == policyLWW {
		// The key the row would take was deleted here later: decided in place.
		if ch.Op == change.Insert {
			return KindInsertExists
		}
		return KindUpdateMissing
	}
	return detect(ch.Op, 0, pgErr)
}

// guarded reports whether a pass over changes [lo, hi) needs a savepoint: a
// change among them, on a table whose policy survives conflicts, may need
// the pass rolled back: an UPDATE (a unique violation aborts the pass; under
// overwrite a missing row is resolved in place), an INSERT under overwrite,
// and any change under last_write_wins (a row count of 0 is looked at in
// place). Otherwise DELETEs never do (delete_missing is skipped under every
// policy), nor does an INSERT under ignore (ON CONFLICT DO NOTHING).
func guarded(tx *change.Tx, plans []*rowPlan, lo, hi int) bool {
	for i := lo; i < hi; i++ {
		p := plans[i]
		if p == nil || p.tbl.policy() == policyFail {
			continue
		}
		switch tx.Changes[i].Op {
		case change.Update:
			return true
		case change.Insert:
			if p.tbl.policy() == policyOverwrite || p.tbl.policy() == policyLWW {
				return true
			}
		case change.Delete:
			if p.tbl.policy() == policyLWW {
				return true // a row count of 0 may be a newer local row
			}
		}
	}
	return false
}

// runSegment applies changes [lo, hi) (already planned) in the open
// transaction, or opens it (begin), resolving conflicts as the tables'
// policies say. An error returned means the connection is gone; a failed
// transaction is reported in out.failure.
func (a *Applier) runSegment(ctx context.Context, tx *change.Tx, lo, hi int, begin bool, plans []*rowPlan, stmts []*stmt, out *outcome) error {
	pos := lo
	// After a conflict the next passes are short and grow while they are
	// clean, so a run of conflicts costs a bounded resend each, not the whole
	// rest of the segment every time.
	window := 0 // 0: the whole rest
	for {
		end := hi
		if window > 0 && pos+window < hi {
			end = pos + window
		}
		g := guarded(tx, plans, pos, end)
		pass := &outcome{}
		if err := a.pipeline(ctx, tx, pos, end, begin, g, plans, stmts, pass); err != nil {
			return err
		}
		begin = false
		if pass.failure != nil {
			out.merge(pass)
			return nil
		}
		if !pass.hasRedo {
			out.merge(pass)
			if end == hi {
				return nil
			}
			pos, window = end, min(window*2, 4096)
			continue
		}
		at := pass.redo
		a.roundTrip()
		if _, err := a.conn.PgConn().Exec(ctx, "ROLLBACK TO SAVEPOINT pgduet_pass").ReadAll(); err != nil {
			out.failure = fmt.Errorf("roll back to the savepoint before a conflict: %w", err)
			return nil
		}
		if at > pos {
			pre := &outcome{}
			if err := a.pipeline(ctx, tx, pos, at, false, false, plans, stmts, pre); err != nil {
				return err
			}
			if pre.failure == nil && pre.hasRedo {
				pre.failure = fmt.Errorf("the changes before a conflict did not apply the same way twice (change %d)", pre.redo)
			}
			out.merge(pre)
			if out.failure != nil {
				return nil
			}
		}
		if err := a.resolveAt(ctx, tx, at, pass.redoKind, plans, stmts, out); err != nil {
			if errors.Is(err, errConnLost) {
				return err
			}
			out.failure = err
			return nil
		}
		pos, window = at+1, 16
		if pos >= hi {
			return nil
		}
	}
}

// resolveAt resolves the conflict of change i, after every change before it
// was applied and nothing after it.
func (a *Applier) resolveAt(ctx context.Context, tx *change.Tx, i int, kind string, plans []*rowPlan, stmts []*stmt, out *outcome) error {
	ch := &tx.Changes[i]
	p := plans[i]
	if p.tbl.policy() == policyLWW {
		return a.lwwResolve(ctx, tx, i, kind, p, out)
	}
	if p.tbl.policy() == policyIgnore {
		// Only a unique violation gets here under ignore (update_exists): the
		// change is left out.
		out.events = append(out.events, event{idx: i, kind: kind, resolution: ResolutionSkipped, detail: "kept the local data (policy ignore)"})
		return nil
	}
	switch kind {
	case KindInsertExists:
		return a.overwriteInsert(ctx, tx, i, ch.New, kind, out)
	case KindUpdateMissing:
		row, why := completeRow(ch)
		if row == nil {
			out.events = append(out.events, event{idx: i, kind: kind, resolution: ResolutionIncomplete, detail: why})
			return nil
		}
		return a.overwriteInsert(ctx, tx, i, row, kind, out)
	case KindUpdateExists:
		return a.overwriteUpdate(ctx, tx, i, out)
	}
	return fmt.Errorf("%s %s: no resolution for %s under policy %s", ch.Op, ch.Rel.Table, kind, p.tbl.policy())
}

// completeRow returns the whole new row of an UPDATE, to insert it when the
// row is missing here. An unchanged TOAST value was not sent: it is taken
// from the old row when the source sent a full one (REPLICA IDENTITY FULL);
// otherwise there is no whole row, and nothing is made up.
func completeRow(ch *change.Change) ([]change.Value, string) {
	row := make([]change.Value, len(ch.New))
	for i, v := range ch.New {
		if v.Kind != change.Unchanged {
			row[i] = v
			continue
		}
		if ch.Old == nil || ch.OldIsKey || i >= len(ch.Old) || ch.Old[i].Kind == change.Unchanged {
			return nil, fmt.Sprintf("the row is missing here and column %q was not sent (an unchanged TOAST value) and no full old row has it (REPLICA IDENTITY FULL on the source would); not inserted", ch.Rel.Columns[i].Name)
		}
		row[i] = ch.Old[i]
	}
	return row, ""
}

// overwriteInsert writes row in place of every local row it collides with on
// any unique key: those are deleted (their images recorded), then it is
// inserted.
func (a *Applier) overwriteInsert(ctx context.Context, tx *change.Tx, i int, row []change.Value, kind string, out *outcome) error {
	ch := &tx.Changes[i]
	t := a.tables[ch.Rel.Table]
	b, err := t.bind(ch.Rel, a.cfg.Node)
	if err != nil {
		return err
	}
	local, err := a.deleteColliding(ctx, t, b, row, nil, out)
	if err != nil {
		return fmt.Errorf("%s %s: %s: delete the colliding rows: %w", ch.Op, ch.Rel.Table, kind, err)
	}
	var write []int
	var args []any
	for k, v := range row {
		j := b.srcToTgt[k]
		if j < 0 {
			continue
		}
		write = append(write, j)
		args = append(args, textArg(v))
	}
	n := 0
	sql := insertSQL(t, write, false, func() string { n++; return fmt.Sprintf("$%d", n) })
	a.roundTrip()
	if _, err := a.conn.Exec(ctx, sql, args...); err != nil {
		if c := a.unresolvable(tx, i, kind, err); c != nil {
			return c
		}
		return fmt.Errorf("%s %s: %s: insert the remote row: %w", ch.Op, ch.Rel.Table, kind, err)
	}
	res := ResolutionOverwritten
	if kind == KindUpdateMissing && local == nil {
		res = ResolutionInserted
	}
	out.rows.Insert++
	out.events = append(out.events, event{idx: i, kind: kind, resolution: res, local: local})
	return nil
}

// overwriteUpdate applies an UPDATE whose new values collided with other
// local rows: those rows are deleted (images recorded), then the update runs.
func (a *Applier) overwriteUpdate(ctx context.Context, tx *change.Tx, i int, out *outcome) error {
	ch := &tx.Changes[i]
	t := a.tables[ch.Rel.Table]
	b, err := t.bind(ch.Rel, a.cfg.Node)
	if err != nil {
		return err
	}
	p, err := a.plan(ch)
	if err != nil {
		return err
	}
	// The row being updated is not a collision with itself.
	self := keyCond{cols: p.match, vals: make([]change.Value, len(p.match))}
	for k := range p.match {
		self.vals[k] = p.vals[p.srcIdx[k]]
	}
	if len(t.target.key) == 0 || !slicesEqualInts(p.match, t.target.key) {
		return fmt.Errorf("%s %s: update_exists: overwrite needs the table's key to tell the updated row from the colliding ones", ch.Op, ch.Rel.Table)
	}
	local, err := a.deleteColliding(ctx, t, b, ch.New, &self, out)
	if err != nil {
		return fmt.Errorf("%s %s: update_exists: delete the colliding rows: %w", ch.Op, ch.Rel.Table, err)
	}
	s := a.statement(ch.Op, p)
	args := make([]any, len(p.params))
	for k, v := range p.params {
		if v == nil {
			args[k] = nil
		} else {
			args[k] = string(v)
		}
	}
	a.roundTrip()
	tag, err := a.conn.Exec(ctx, s.sql, args...)
	if err != nil {
		if c := a.unresolvable(tx, i, KindUpdateExists, err); c != nil {
			return c
		}
		return fmt.Errorf("%s %s: update_exists: update after removing the colliding rows: %w", ch.Op, ch.Rel.Table, err)
	}
	out.rows.Update += uint64(tag.RowsAffected())
	out.events = append(out.events, event{idx: i, kind: KindUpdateExists, resolution: ResolutionOverwritten, local: local})
	return nil
}

// unresolvable turns a unique violation that remains after overwrite removed
// every row colliding on the keys it knows (a partial or expression unique
// index) into a conflict: the direction stops, the event is recorded, and a
// DBA can fix the data or pgduet.skip it.
func (a *Applier) unresolvable(tx *change.Tx, i int, kind string, err error) *ConflictError {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return nil
	}
	return a.conflict(tx, i, kind, keyFromDetail(pgErr.Detail),
		fmt.Sprintf("overwrite cannot resolve it: the collision is on unique index %s, a partial or expression index whose colliding row pgduet cannot look up: %s", pgErr.ConstraintName, pgErr.Message), pgErr)
}

// keyCond is a row identified by the values of some target columns.
type keyCond struct {
	cols []int
	vals []change.Value
}

func slicesEqualInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// deleteColliding deletes the local rows that share a unique key with row
// (source column order), except the row except names, and returns their
// images as a JSON array (nil when there were none), counting them in out.
// NULLs never collide
// (except under NULLS NOT DISTINCT).
func (a *Applier) deleteColliding(ctx context.Context, t *table, b *binding, row []change.Value, except *keyCond, out *outcome) ([]byte, error) {
	where, args := collidingWhere(t, b, row, except)
	if where == "" {
		return nil, nil
	}
	q := "WITH d AS (DELETE FROM " + t.from + " AS t WHERE " + where + " RETURNING pg_catalog.to_jsonb(t) AS r) SELECT pg_catalog.jsonb_agg(r)::text, count(*) FROM d"
	var images *string
	var n int64
	a.roundTrip()
	if err := a.conn.QueryRow(ctx, q, args...).Scan(&images, &n); err != nil {
		return nil, err
	}
	out.rows.Delete += uint64(n)
	if images == nil {
		return nil, nil
	}
	return []byte(*images), nil
}

// collidingWhere is the condition for the local rows that share a unique key
// with row (source column order), except the row except names, with its
// parameters; "" when no key of row can collide.
func collidingWhere(t *table, b *binding, row []change.Value, except *keyCond) (string, []any) {
	var ors []string
	var args []any
	for _, u := range t.target.uniques {
		var ands []string
		var vals []any
		for _, j := range u.cols {
			src := b.tgtToSrc[j]
			if src < 0 || src >= len(row) || row[src].Kind == change.Unchanged ||
				row[src].Kind == change.Null && !u.nullsEqual {
				ands = nil // a value not sent, or a NULL (unless NULLS NOT DISTINCT), cannot collide on this key
				break
			}
			vals = append(vals, textArg(row[src]))
			op := " = "
			if row[src].Kind == change.Null {
				op = " IS NOT DISTINCT FROM "
			}
			ands = append(ands, pgx.Identifier{t.target.cols[j].name}.Sanitize()+op+fmt.Sprintf("$%d", len(args)+len(vals)))
		}
		if len(ands) > 0 {
			args = append(args, vals...)
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
	}
	if len(ors) == 0 {
		return "", nil
	}
	where := "(" + strings.Join(ors, " OR ") + ")"
	if except != nil {
		var ands []string
		for k, j := range except.cols {
			args = append(args, textArg(except.vals[k]))
			ands = append(ands, pgx.Identifier{t.target.cols[j].name}.Sanitize()+fmt.Sprintf(" = $%d", len(args)))
		}
		where += " AND NOT (" + strings.Join(ands, " AND ") + ")"
	}
	return where, args
}

// textArg passes a value as text (or NULL) for the server to read with the
// column's type.
func textArg(v change.Value) any {
	if v.Kind != change.Text {
		return nil
	}
	return string(v.Data)
}

// recordEvents writes the conflicts the transaction survived (and its
// delete_missing) to pgduet.conflicts inside it, in one round trip; they are
// counted and logged once it commits (reportEvents).
func (a *Applier) recordEvents(ctx context.Context, tx *change.Tx, plans []*rowPlan, out *outcome) error {
	b := &pgx.Batch{}
	for _, i := range out.missing {
		ch := &tx.Changes[i]
		b.Queue(insertConflictPlainSQL, a.cfg.Pair, a.cfg.Peer, KindDeleteMissing, string(plans[i].tbl.policy()), ResolutionSkipped,
			ch.Rel.Table.String(), nil, "no row matches the old key "+plans[i].keyString(), nil, jsonArg(remoteRow(ch)),
			tx.EndLSN.String(), int64(tx.Xid), a.base+i)
	}
	for _, e := range out.events {
		ch := &tx.Changes[e.idx]
		b.Queue(insertConflictPlainSQL, a.cfg.Pair, a.cfg.Peer, e.kind, string(plans[e.idx].tbl.policy()), e.resolution,
			ch.Rel.Table.String(), nil, e.detail, jsonArg(e.local), jsonArg(remoteRow(ch)),
			tx.EndLSN.String(), int64(tx.Xid), a.base+e.idx)
	}
	a.roundTrip()
	if err := a.conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record conflicts in pgduet.conflicts: %w", err)
	}
	return nil
}

// reportEvents counts and logs the conflicts of a committed transaction.
func (a *Applier) reportEvents(tx *change.Tx, plans []*rowPlan, out *outcome) {
	a.count(KindDeleteMissing, ResolutionSkipped, len(out.missing))
	for _, e := range out.events {
		a.count(e.kind, e.resolution, 1)
		ch := &tx.Changes[e.idx]
		a.warnConflict(ch.Rel.Table, e.kind, "conflict resolved by policy "+string(plans[e.idx].tbl.policy())+" (recorded in pgduet.conflicts)",
			"kind", e.kind, "resolution", e.resolution, "table", ch.Rel.Table.String(), "lsn", tx.EndLSN, "xid", tx.Xid)
	}
}

// fillKeptRows records, after COMMIT and on a connection of its own, the
// local rows that ignored INSERTs met (kept as they were): read inside the
// transaction, a failure there (the table changed by later DDL of the same
// transaction) would abort it. Failures are logged, never fatal.
func (a *Applier) fillKeptRows(tx *change.Tx, out *outcome) {
	var todo []keptRow
	for _, e := range out.events {
		if e.local == nil && e.resolution == ResolutionSkipped && tx.Changes[e.idx].Op == change.Insert {
			todo = append(todo, keptRow{seq: a.base + e.idx, kind: e.kind, ch: &tx.Changes[e.idx]})
		}
	}
	a.fillKept(tx.EndLSN, todo)
}

// keptRow is an ignored INSERT whose local row is still to be recorded.
type keptRow struct {
	seq  int // the change's index in its source transaction
	kind string
	ch   *change.Change
}

// fillKept does fillKeptRows's work for the rows todo of the transaction
// ending at lsn.
func (a *Applier) fillKept(lsn change.LSN, todo []keptRow) {
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, a.cfg.ConnString)
	if err != nil {
		a.log.Warn("could not record the kept local rows in pgduet.conflicts", "err", err, "lsn", lsn)
		return
	}
	defer conn.Close(ctx)
	for _, e := range todo {
		local := a.localRow(ctx, conn, e.ch)
		if local == nil {
			continue
		}
		if _, err := conn.Exec(ctx, `UPDATE pgduet.conflicts SET local_row = $1::jsonb WHERE pair = $2 AND origin_node = $3
			AND source_lsn = $4::pg_lsn AND source_seq = $5 AND kind = $6`, string(local), a.cfg.Pair, a.cfg.Peer, lsn.String(), e.seq, e.kind); err != nil {
			a.log.Warn("could not record a kept local row in pgduet.conflicts", "err", err, "lsn", lsn)
			return
		}
	}
}
