package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
)

// xactSetupSQL tags the local transaction with the source position and commit
// time. pg_current_xact_id() makes sure the transaction has an xid, so COMMIT
// writes a commit record and advances the origin even when nothing else was
// written (an empty or filtered transaction, only DELETEs that found no row):
// progress then moves exactly when Apply returns nil.
const xactSetupSQL = "SELECT pg_catalog.pg_replication_origin_xact_setup($1, $2), pg_catalog.pg_current_xact_id()"

// flushBytes is how much the pipeline queues before writing it to the server
// (without waiting for anything), so a large transaction is not buffered twice.
const flushBytes = 1 << 20

// Apply applies tx in one local transaction together with
// pg_replication_origin_xact_setup(tx.EndLSN, tx.CommitTime), and returns nil only
// once that transaction is committed: with the server's synchronous_commit (on by
// default) the rows and the origin progress are then durable together, so the
// caller may acknowledge tx.EndLSN to the peer.
//
// A tx with EndLSN ≤ Progress() was applied before: Apply does nothing and
// returns nil (exactly once across restarts, since Open reads the progress back).
// On any error the local transaction is rolled back and the progress is
// unchanged. A *ConflictError (errors.As) is a conflict under the fail policy;
// Retryable tells transient errors from permanent ones. When the connection broke
// during COMMIT the outcome is unknown until the next Open reads the progress.
//
// Round trips: one pipeline (BEGIN, xact setup, one prepared statement per
// change, Sync; every row count checked) and one COMMIT or ROLLBACK, plus one
// catalog read when the transaction touches a table the applier has not seen (or
// whose shape changed).
func (a *Applier) Apply(ctx context.Context, tx *change.Tx) error {
	if tx == nil {
		return fmt.Errorf("apply %s: nil transaction", a.direction)
	}
	if a.conn == nil {
		return fmt.Errorf("%s: %w", a.prefix(tx), errNotOpen)
	}
	if tx.EndLSN == 0 {
		return fmt.Errorf("%s: transaction has no end LSN", a.prefix(tx))
	}
	if progress := a.Progress(); tx.EndLSN <= progress {
		a.statsMu.Lock()
		a.stats.TxSkipped++
		a.statsMu.Unlock()
		a.log.Debug("transaction already applied; skipped", "lsn", tx.EndLSN, "xid", tx.Xid, "progress", progress)
		return nil
	}
	run := a.apply
	if tx.Spill != nil {
		if a.needsWhole(tx) {
			a.log.Info("spilled transaction read back into memory: it carries DDL or a change a DBA asked to skip", "lsn", tx.EndLSN, "xid", tx.Xid, "changes", tx.Len())
			if err := tx.Unspill(); err != nil {
				return fmt.Errorf("%s: %w", a.prefix(tx), err)
			}
		} else {
			run = a.applySpilled
		}
	}
	err := run(ctx, tx)
	if errors.Is(err, errBatch) {
		// A set-based statement met a conflict, a missing row or an error:
		// again one statement per change, which says which and records it.
		a.log.Debug("transaction applied again one statement per change", "lsn", tx.EndLSN, "xid", tx.Xid)
		a.noBatch = true
		err = run(ctx, tx)
		a.noBatch = false
	}
	if err != nil {
		a.statsMu.Lock()
		a.stats.TxFailed++
		var ce *ConflictError
		if errors.As(err, &ce) {
			a.stats.Conflicts[ce.Kind]++
		}
		a.statsMu.Unlock()
		return fmt.Errorf("%s: %w", a.prefix(tx), err)
	}
	return nil
}

// needsWhole reports whether a spilled transaction must be applied from
// memory: DDL and DBA skips are planned over the whole transaction (and an
// empty spill has no window to begin the transaction with).
func (a *Applier) needsWhole(tx *change.Tx) bool {
	if tx.Spill.HasDDL() || tx.Spill.Len() == 0 {
		return true
	}
	for k := range a.skips {
		if k.lsn == tx.EndLSN {
			return true
		}
	}
	return false
}

func validate(tx *change.Tx) error {
	for i := range tx.Changes {
		ch := &tx.Changes[i]
		switch ch.Op {
		case change.Insert, change.Update, change.Delete:
			if ch.Rel == nil {
				return fmt.Errorf("change %d (%s) has no relation", i, ch.Op)
			}
		case change.Truncate:
			if len(ch.Rels) == 0 {
				return fmt.Errorf("change %d (truncate) has no relations", i)
			}
			for _, r := range ch.Rels {
				if r == nil {
					return fmt.Errorf("change %d (truncate) has a nil relation", i)
				}
			}
		default:
			return fmt.Errorf("change %d has unknown operation %s", i, ch.Op)
		}
	}
	return nil
}

// apply runs tx; see Apply.
func (a *Applier) apply(ctx context.Context, tx *change.Tx) error {
	if a.conn.IsClosed() {
		return errConnLost
	}
	if err := ctx.Err(); err != nil {
		return err // before anything is sent: the connection stays usable
	}
	if err := validate(tx); err != nil {
		return err
	}
	a.txTime = []byte(originTime(tx.CommitTime))
	ddl, err := a.planDDL(tx)
	if err != nil {
		return err
	}
	if ddl != nil && !a.noBatch {
		// One statement per change: an errBatch retry would run the DDL twice.
		a.noBatch = true
		defer func() { a.noBatch = false }()
	}
	a.evictStatements()
	plans := make([]*rowPlan, len(tx.Changes))
	stmts := make([]*stmt, len(tx.Changes))
	out := &outcome{}
	if ddl == nil {
		// Plan every change before anything is sent: a change that cannot be
		// applied at all fails here, with nothing to roll back.
		if err := a.prepareSegment(ctx, tx, 0, len(tx.Changes), plans, stmts); err != nil {
			return err
		}
		if err := a.runSegment(ctx, tx, 0, len(tx.Changes), true, plans, stmts, out); err != nil {
			return err // the connection is gone: the server rolls back
		}
	} else {
		if err := a.applySegments(ctx, tx, ddl, plans, stmts, out); err != nil {
			return err
		}
	}
	if errors.Is(out.failure, errBatch) {
		a.rollback(ctx)
		if ddl != nil {
			a.markAllStale() // the catalog read inside the transaction saw its DDL
		}
		return errBatch
	}
	if out.failure != nil && !a.grouped {
		// After the rollback below: a stopped conflict or DDL event is
		// recorded for the DBA on a connection of its own.
		defer a.recordStop(tx, out.failure)
	}

	pc := a.conn.PgConn()
	if out.failure == nil && pc.TxStatus() != 'T' {
		out.failure = fmt.Errorf("transaction not open after the pipeline (status %q)", pc.TxStatus())
	}
	if out.failure != nil {
		a.rollback(ctx)
		a.invalidate(tx, out.failure)
		if ddl != nil {
			a.markAllStale() // the catalog read inside the transaction saw its DDL
		}
		return out.failure
	}

	if a.grouped && (len(out.missing) > 0 || len(out.events) > 0 || out.hasRedo) {
		// Conflicts are recorded per source transaction: ApplyGroup
		// applies these one by one.
		a.rollback(ctx)
		return errUngroup
	}
	if len(out.missing) > 0 || len(out.events) > 0 {
		if err := a.recordEvents(ctx, tx, plans, out); err != nil {
			a.rollback(ctx)
			return err
		}
	}
	if err := a.resolveStops(ctx, tx); err != nil {
		a.rollback(ctx)
		return err
	}

	if err := a.commit(ctx, func(err error) {
		a.invalidate(tx, err)
		if ddl != nil {
			a.markAllStale()
		}
	}); err != nil {
		return err
	}
	a.committed(tx, out)

	a.reportEvents(tx, plans, out)
	a.fillKeptRows(tx, out)
	a.pruneTombstones(ctx, tx)
	for _, i := range out.missing {
		ch := &tx.Changes[i]
		a.warnConflict(ch.Rel.Table, KindDeleteMissing, "delete found no row; skipped (delete_missing, recorded in pgduet.conflicts)",
			"table", ch.Rel.Table.String(), "key", plans[i].keyString(), "lsn", tx.EndLSN, "xid", tx.Xid)
	}
	a.log.Debug("transaction applied", "lsn", tx.EndLSN, "xid", tx.Xid, "changes", len(tx.Changes), "rows", out.rows.Total())
	return nil
}

// commit commits the open transaction. When the server refuses the COMMIT
// (a serialization failure, a constraint trigger enabled ALWAYS) it has
// rolled back and the session is usable: refused runs, to drop what may be
// stale. Otherwise an error means the outcome is unknown and the connection
// is closed.
func (a *Applier) commit(ctx context.Context, refused func(error)) error {
	pc := a.conn.PgConn()
	a.roundTrip()
	res, err := pc.Exec(ctx, "COMMIT").ReadAll()
	if err == nil && (len(res) != 1 || res[0].CommandTag.String() != "COMMIT") {
		tag := ""
		if len(res) > 0 {
			tag = res[0].CommandTag.String()
		}
		err = fmt.Errorf("the server answered %q to COMMIT", tag)
	}
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !pc.IsClosed() && pc.TxStatus() == 'I' {
		refused(err)
		return fmt.Errorf("commit: %w", err)
	}
	a.breakConn()
	return fmt.Errorf("commit: outcome unknown, the next Open reads the origin progress: %w (%w)", err, errConnLost)
}

// committed records a committed transaction's progress and counts.
func (a *Applier) committed(tx *change.Tx, out *outcome) {
	now := time.Now()
	a.statsMu.Lock()
	if tx.EndLSN > a.progress {
		a.progress = tx.EndLSN
	}
	a.stats.TxApplied++
	a.stats.RowsApplied.Insert += out.rows.Insert
	a.stats.RowsApplied.Update += out.rows.Update
	a.stats.RowsApplied.Delete += out.rows.Delete
	a.stats.RowsApplied.Truncate += out.rows.Truncate
	a.stats.RowsBatched += out.batched
	a.stats.DeleteMissing += uint64(len(out.missing))
	a.stats.LastEndLSN = tx.EndLSN
	a.stats.LastCommitTime = tx.CommitTime
	a.stats.LastAppliedAt = now
	a.statsMu.Unlock()
	delete(a.stopped, tx.EndLSN)
}

// rollback ends a failed transaction. If even that fails, the connection is
// closed, which rolls back on the server: it is never left inside a transaction.
func (a *Applier) rollback(ctx context.Context) {
	pc := a.conn.PgConn()
	if pc.IsClosed() || pc.TxStatus() == 'I' {
		return
	}
	a.roundTrip()
	if _, err := pc.Exec(ctx, "ROLLBACK").ReadAll(); err != nil || pc.TxStatus() != 'I' {
		a.breakConn()
	}
}

// invalidate drops what a failed transaction may have shown to be stale: after
// "cached plan must not change result type" every prepared statement and table;
// after another server error the catalog of the tables the transaction touched
// (read again, and their statements rebuilt if they changed). Conflicts are about
// data, not shapes, and drop nothing.
func (a *Applier) invalidate(tx *change.Tx, err error) {
	var ce *ConflictError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &ce):
	case isCachedPlanChange(err):
		for _, t := range a.tables {
			a.dropStatements(t)
			t.stale = true
		}
	case errors.As(err, &pgErr):
		for i := range tx.Changes {
			ch := &tx.Changes[i]
			if ch.Rel != nil {
				if t := a.tables[ch.Rel.Table]; t != nil {
					t.stale = true
				}
			}
			for _, r := range ch.Rels {
				if t := a.tables[r.Table]; t != nil {
					t.stale = true
				}
			}
		}
	}
}

type stepKind uint8

const (
	stepClose     stepKind = iota // deallocate a statement no longer wanted
	stepBegin                     // BEGIN
	stepSetup                     // pg_replication_origin_xact_setup
	stepPrepare                   // Parse + Describe of a new statement
	stepChange                    // one change's statement
	stepSync                      // the end of the pipeline
	stepSavepoint                 // SAVEPOINT / RELEASE around a pass that a conflict may roll back
)

// step is one queued request of the pipeline; results come back in this order.
type step struct {
	kind stepKind
	idx  int   // the change (stepPrepare, stepChange)
	n    int   // stepChange, stepPrepare: a set-based statement for changes idx..idx+n-1 when n > 0
	stmt *stmt // stepPrepare
}

// outcome is what one transaction's pipeline did.
type outcome struct {
	rows    OpCounts
	batched uint64  // rows written by set-based statements
	missing []int   // changes that were delete_missing (skipped)
	events  []event // other conflicts the transaction survives, recorded before COMMIT
	failure error   // the first thing that failed the transaction: a *ConflictError or a statement error
	// redo is the first change whose conflict needs a write in its place
	// (overwrite), or that hit a unique violation under a policy that
	// survives it: the pass is rolled back to its savepoint, the changes
	// before it applied again, and the conflict resolved there (runSegment).
	redo     int
	hasRedo  bool
	redoKind string
}

// merge adds a pass's outcome to the transaction's.
func (o *outcome) merge(p *outcome) {
	o.rows.Insert += p.rows.Insert
	o.rows.Update += p.rows.Update
	o.rows.Delete += p.rows.Delete
	o.rows.Truncate += p.rows.Truncate
	o.batched += p.batched
	o.missing = append(o.missing, p.missing...)
	o.events = append(o.events, p.events...)
	if o.failure == nil {
		o.failure = p.failure
	}
}

// pipeline sends the whole transaction in one round trip and reads every result:
//
//	Close* BEGIN; SELECT pg_replication_origin_xact_setup(...); (Parse? Bind Execute)*; Sync
//
// The server runs the requests in order. After an error it skips everything up
// to the Sync (no results come for those), and the transaction block is left
// aborted; a row count of 0 is an outcome, not an error, and the statements
// after it still run. Either way nothing is committed here: the caller commits or
// rolls back in a second round trip, once every result was checked.
//
// An error returned means the connection is gone; a failed transaction is
// reported in outcome.failure.
func (a *Applier) pipeline(ctx context.Context, tx *change.Tx, lo, hi int, begin, guarded bool, plans []*rowPlan, stmts []*stmt, out *outcome) error {
	pc := a.conn.PgConn()
	closing := a.closing
	a.closing = nil
	steps := make([]step, 0, len(closing)+2*(hi-lo)+3)
	defer func() {
		for _, s := range steps {
			if s.kind == stepPrepare {
				s.stmt.inflight = false
			}
		}
	}()

	p := pc.StartPipeline(ctx)
	for _, name := range closing {
		p.SendDeallocate(name)
		steps = append(steps, step{kind: stepClose})
	}
	if begin {
		p.SendQueryParams("BEGIN", nil, nil, nil, nil)
		steps = append(steps, step{kind: stepBegin})
		p.SendQueryParams(xactSetupSQL, [][]byte{[]byte(tx.EndLSN.String()), []byte(originTime(tx.CommitTime))}, nil, nil, nil)
		steps = append(steps, step{kind: stepSetup})
		a.savepoint = false
	}
	if guarded {
		if a.savepoint {
			p.SendQueryParams("RELEASE SAVEPOINT pgduet_pass", nil, nil, nil, nil)
			steps = append(steps, step{kind: stepSavepoint})
		}
		p.SendQueryParams("SAVEPOINT pgduet_pass", nil, nil, nil, nil)
		steps = append(steps, step{kind: stepSavepoint})
		a.savepoint = true
	}
	queued := 0
	for i := lo; i < hi; i++ {
		ch := &tx.Changes[i]
		if ch.Op == change.Truncate {
			p.SendQueryParams(a.truncateSQL(ch), nil, nil, nil, nil)
			steps = append(steps, step{kind: stepChange, idx: i})
			continue
		}
		s := stmts[i]
		params := plans[i].params
		n := a.batchRun(tx, plans, stmts, i, hi)
		if n > 0 {
			s = a.batchStatement(ch.Op, plans[i])
			params = batchParams(plans[i : i+n])
		}
		if !s.ready && !s.inflight {
			p.SendPrepare(s.name, s.sql, nil) // parameter types inferred by the server
			s.inflight = true
			steps = append(steps, step{kind: stepPrepare, idx: i, stmt: s, n: n})
		}
		p.SendQueryPrepared(s.name, params, nil, nil) // all parameters and results in text format
		steps = append(steps, step{kind: stepChange, idx: i, n: n})
		queued += 32
		for _, v := range params {
			queued += 4 + len(v)
		}
		if n > 0 {
			i += n - 1
		}
		if queued >= flushBytes {
			if err := p.Flush(); err != nil {
				return a.lost(p, "send", err)
			}
			queued = 0
		}
	}
	p.SendPipelineSync()
	steps = append(steps, step{kind: stepSync})
	a.roundTrip()
	if err := p.Flush(); err != nil {
		return a.lost(p, "send", err)
	}

	last := len(steps) - 1
	for si := 0; si <= last; si++ {
		s := &steps[si]
		res, err := p.GetResults()
		var tag pgconn.CommandTag
		if err == nil {
			switch r := res.(type) {
			case *pgconn.ResultReader:
				if s.kind != stepBegin && s.kind != stepSetup && s.kind != stepChange && s.kind != stepSavepoint {
					err = fmt.Errorf("pipeline: a command result for step kind %d", s.kind)
				} else {
					tag, err = r.Close()
				}
			case *pgconn.StatementDescription:
				if s.kind != stepPrepare {
					err = fmt.Errorf("pipeline: a statement description for step kind %d", s.kind)
				}
			case *pgconn.CloseComplete:
				if s.kind != stepClose {
					err = fmt.Errorf("pipeline: a close result for step kind %d", s.kind)
				}
			case *pgconn.PipelineSync:
				if s.kind != stepSync {
					err = fmt.Errorf("pipeline: sync reached at step kind %d", s.kind)
				}
			default:
				err = fmt.Errorf("pipeline: unexpected result %T at step kind %d", res, s.kind)
			}
		}
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || s.kind == stepSync || pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC" {
				return a.lost(p, "read results", err)
			}
			if s.n > 0 {
				if out.failure == nil && !out.hasRedo {
					out.failure = errBatch
				}
			} else if out.failure == nil && !out.hasRedo {
				if kind := a.survivable(tx, s, guarded, plans, pgErr); kind != "" {
					out.hasRedo, out.redo, out.redoKind = true, s.idx, kind
				} else {
					out.failure = a.stepError(tx, s, pgErr)
				}
			}
			si = last - 1 // the server skipped everything up to the Sync
			continue
		}
		switch s.kind {
		case stepPrepare:
			s.stmt.ready = true
		case stepChange:
			if s.n == 0 {
				a.changeDone(tx, plans, s.idx, tag.RowsAffected(), out)
				break
			}
			if tag.RowsAffected() != int64(s.n) {
				if out.failure == nil && !out.hasRedo {
					out.failure = errBatch
				}
				break
			}
			for j := s.idx; j < s.idx+s.n; j++ {
				a.changeDone(tx, plans, j, 1, out)
			}
			out.batched += uint64(s.n)
		}
	}
	if err := p.Close(); err != nil {
		return a.lost(nil, "end pipeline", err)
	}
	return nil
}

// prepareSegment resolves the tables of changes [lo, hi) and plans their
// statements. Queue rows are not there: they are never applied as rows.
func (a *Applier) prepareSegment(ctx context.Context, tx *change.Tx, lo, hi int, plans []*rowPlan, stmts []*stmt) error {
	if err := a.resolveTables(ctx, tx.Changes[lo:hi]); err != nil {
		if a.conn.IsClosed() {
			return fmt.Errorf("%w (%w)", err, errConnLost)
		}
		return err
	}
	for i := lo; i < hi; i++ {
		ch := &tx.Changes[i]
		if ch.Op == change.Truncate {
			continue
		}
		p, err := a.plan(ch)
		if err != nil {
			return fmt.Errorf("%s %s: %w", ch.Op, ch.Rel.Table, err)
		}
		plans[i], stmts[i] = p, a.statement(ch.Op, p)
	}
	return nil
}

// applySegments runs a transaction that carries DDL: BEGIN and the origin
// setup, then, in order, each run of row changes between queue rows (one
// pipeline each, its tables read after the DDL before it) and the DDL
// actions placed before them. The transaction is left open (or aborted, with
// out.failure set) for the caller to commit or roll back. An error returned
// means the transaction cannot go on and was not started or was rolled back.
func (a *Applier) applySegments(ctx context.Context, tx *change.Tx, ddl *ddlPlan, plans []*rowPlan, stmts []*stmt, out *outcome) error {
	if err := a.pipeline(ctx, tx, 0, 0, true, false, plans, stmts, out); err != nil {
		return err
	}
	for _, sk := range ddl.dbaSkips {
		ch := &tx.Changes[sk.idx]
		a.log.Warn("change skipped as the DBA asked (pgduet.skip)", "id", sk.id, "table", ch.Rel.Table.String(), "op", ch.Op.String(), "lsn", tx.EndLSN)
		a.roundTrip()
		if _, err := a.conn.Exec(ctx, `UPDATE pgduet.conflicts SET resolution = 'skipped_by_dba', resolved_at = pg_catalog.clock_timestamp() WHERE id = $1`, sk.id); err != nil {
			out.failure = fmt.Errorf("mark pgduet.conflicts row %d skipped: %w", sk.id, err)
			return nil
		}
	}
	fail := func(err error) error {
		out.failure = err
		return nil
	}
	n := len(tx.Changes)
	for lo := 0; lo <= n && out.failure == nil; {
		for _, act := range ddl.actions[lo] {
			if err := a.runDDL(ctx, tx, act); err != nil {
				if errors.Is(err, errConnLost) {
					return err
				}
				return fail(err)
			}
		}
		if lo == n {
			break
		}
		if ddl.queue[lo] {
			lo++
			continue
		}
		hi := lo + 1
		for hi < n && !ddl.queue[hi] && len(ddl.actions[hi]) == 0 {
			hi++
		}
		if err := a.prepareSegment(ctx, tx, lo, hi, plans, stmts); err != nil {
			if errors.Is(err, errConnLost) {
				return err
			}
			return fail(err)
		}
		if err := a.runSegment(ctx, tx, lo, hi, false, plans, stmts, out); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// changeDone records one change's successful statement: its rows, or the
// conflict a row count of 0 means.
func (a *Applier) changeDone(tx *change.Tx, plans []*rowPlan, i int, rows int64, out *outcome) {
	ch := &tx.Changes[i]
	switch ch.Op {
	case change.Insert:
		out.rows.Insert += uint64(rows)
	case change.Update:
		out.rows.Update += uint64(rows)
	case change.Delete:
		out.rows.Delete += uint64(rows)
	case change.Truncate:
		out.rows.Truncate += uint64(len(ch.Rels))
		return
	}
	kind := detect(ch.Op, rows, nil)
	if kind == "" {
		return
	}
	switch resolve(plans[i].tbl.policy(), kind) {
	case resolveSkip:
		if kind == KindDeleteMissing {
			out.missing = append(out.missing, i)
		} else {
			out.events = append(out.events, event{idx: i, kind: kind, resolution: ResolutionSkipped, detail: "kept the local data (policy ignore)"})
		}
	case resolveWrite:
		if !out.hasRedo {
			out.hasRedo, out.redo, out.redoKind = true, i, kind
		}
	case resolveFail:
		if out.failure == nil {
			detail := "no row matches the old key"
			out.failure = a.conflict(tx, i, kind, plans[i].keyString(), detail, nil)
		}
	}
}

// stepError turns a server error at step s into the transaction's failure: a
// conflict when it is one (a unique violation), else the error with where it
// happened.
func (a *Applier) stepError(tx *change.Tx, s *step, pgErr *pgconn.PgError) error {
	switch s.kind {
	case stepBegin:
		return fmt.Errorf("begin: %w", pgErr)
	case stepSetup:
		return fmt.Errorf("replication origin xact setup: %w", pgErr)
	case stepClose:
		return fmt.Errorf("deallocate: %w", pgErr)
	case stepSavepoint:
		return fmt.Errorf("savepoint: %w", pgErr)
	}
	ch := &tx.Changes[s.idx]
	if ch.Op == change.Truncate {
		return fmt.Errorf("truncate: %w", pgErr)
	}
	if s.kind == stepPrepare {
		return fmt.Errorf("%s %s: prepare: %w", ch.Op, ch.Rel.Table, pgErr)
	}
	if kind := detect(ch.Op, 0, pgErr); kind != "" {
		// A unique violation aborts the transaction whatever the policy, so it
		// always fails it: a policy that survives the conflict will use a
		// statement that does not raise it (see policy).
		return a.conflict(tx, s.idx, kind, keyFromDetail(pgErr.Detail), pgErr.Error(), pgErr)
	}
	return fmt.Errorf("%s %s: %w", ch.Op, ch.Rel.Table, pgErr)
}

func (a *Applier) conflict(tx *change.Tx, idx int, kind, key, detail string, err error) *ConflictError {
	ch := &tx.Changes[idx]
	return &ConflictError{Kind: kind, Table: ch.Rel.Table, Key: key, Detail: detail, Op: ch.Op, EndLSN: tx.EndLSN, Xid: tx.Xid, err: err, seq: a.base + idx}
}

// lost handles a failure of the connection itself in the middle of a pipeline:
// its state is unknown, so it is closed (the server rolls back).
func (a *Applier) lost(p *pgconn.Pipeline, what string, err error) error {
	if p != nil {
		_ = p.Close()
	}
	a.breakConn()
	return fmt.Errorf("%s: %w (%w)", what, err, errConnLost)
}

// policy returns the table's conflict policy (looked up when its catalog was read).
func (t *table) policy() policy {
	if t.pol == "" {
		return policyFail
	}
	return t.pol
}

// originTime formats a source commit time for pg_replication_origin_xact_setup.
// A zero time becomes PostgreSQL's timestamp 0 (2000-01-01 UTC), which makes
// the server record the local commit time instead.
func originTime(t time.Time) string {
	if t.IsZero() {
		return "2000-01-01 00:00:00+00"
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999-07")
}
