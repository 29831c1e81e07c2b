package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgduet/pgduet/agent/change"
)

// maxSpillNotes bounds what a spilled transaction keeps in memory about its
// conflicts until COMMIT for the warnings and the kept local rows; counts
// are exact beyond it, and pgduet.conflicts has every row.
const maxSpillNotes = 1000

// spillNote is a conflict of a spilled transaction, reported after COMMIT.
type spillNote struct {
	table      change.TableRef
	kind       string
	resolution string
	policy     policy
	key        string         // delete_missing: the key it did not find
	kept       *change.Change // an ignored INSERT whose local row is to be recorded (a copy)
	seq        int
}

// errWindowStop ends the walk over a spilled transaction's windows at a
// failure (outcome.failure says which).
var errWindowStop = errors.New("window failed")

// applySpilled applies a transaction whose changes are in a spill file, one
// window at a time, all in one local transaction: memory holds one window,
// whatever the transaction's size. It is apply for such a transaction,
// without DDL and DBA skips (Apply reads those back into memory first), and
// keeps apply's guarantees: the origin moves with the COMMIT, a conflict
// under the fail policy stops with the change's index in the whole
// transaction, and a set-based statement that meets anything is applied
// again one statement per change (errBatch).
func (a *Applier) applySpilled(ctx context.Context, tx *change.Tx) error {
	if a.conn.IsClosed() {
		return errConnLost
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	a.txTime = []byte(originTime(tx.CommitTime))
	a.evictStatements()
	defer func() { a.base = 0 }()

	total := &outcome{}
	var notes []spillNote
	var missing, events int
	var failed *change.Tx // the window that failed, valid until the walk's next read
	counts := map[[2]string]int{}
	begin := true
	err := tx.Each(func(base int, cs []change.Change) error {
		w := &change.Tx{Xid: tx.Xid, CommitLSN: tx.CommitLSN, EndLSN: tx.EndLSN, CommitTime: tx.CommitTime, Changes: cs}
		a.base = base
		if err := validate(w); err != nil {
			return fmt.Errorf("window at change %d: %w", base, err)
		}
		plans := make([]*rowPlan, len(cs))
		stmts := make([]*stmt, len(cs))
		if err := a.prepareSegment(ctx, w, 0, len(cs), plans, stmts); err != nil {
			return err
		}
		out := &outcome{}
		if err := a.runSegment(ctx, w, 0, len(cs), begin, plans, stmts, out); err != nil {
			return err // the connection is gone: the server rolls back
		}
		begin = false
		if out.failure == nil && a.conn.PgConn().TxStatus() != 'T' {
			out.failure = fmt.Errorf("transaction not open after the pipeline (status %q)", a.conn.PgConn().TxStatus())
		}
		if out.failure != nil {
			total.failure, failed = out.failure, w
			return errWindowStop
		}
		if len(out.missing) > 0 || len(out.events) > 0 {
			if err := a.recordEvents(ctx, w, plans, out); err != nil {
				return err
			}
		}
		missing += len(out.missing)
		events += len(out.events)
		for _, i := range out.missing {
			if len(notes) < maxSpillNotes {
				ch := &cs[i]
				notes = append(notes, spillNote{table: ch.Rel.Table, kind: KindDeleteMissing, resolution: ResolutionSkipped, key: plans[i].keyString(), seq: base + i})
			}
		}
		for _, e := range out.events {
			ch := &cs[e.idx]
			counts[[2]string{e.kind, e.resolution}]++
			if len(notes) < maxSpillNotes {
				n := spillNote{table: ch.Rel.Table, kind: e.kind, resolution: e.resolution, policy: plans[e.idx].tbl.policy(), seq: base + e.idx}
				if e.local == nil && e.resolution == ResolutionSkipped && ch.Op == change.Insert {
					cp := ch.Clone()
					n.kept = &cp
				}
				notes = append(notes, n)
			}
		}
		total.rows.Insert += out.rows.Insert
		total.rows.Update += out.rows.Update
		total.rows.Delete += out.rows.Delete
		total.rows.Truncate += out.rows.Truncate
		total.batched += out.batched
		return nil
	})
	if errors.Is(err, errWindowStop) {
		err = nil
	}
	if err != nil {
		a.rollback(ctx)
		if a.conn.IsClosed() && !errors.Is(err, errConnLost) {
			err = fmt.Errorf("%w (%w)", err, errConnLost)
		}
		a.markAllStale()
		return err
	}
	if errors.Is(total.failure, errBatch) {
		a.rollback(ctx)
		return errBatch
	}
	if total.failure != nil {
		a.rollback(ctx)
		a.invalidate(failed, total.failure)
		// a.base still names the failed window, whose changes recordStop
		// reads: it runs before the deferred reset.
		a.recordStop(failed, total.failure)
		return total.failure
	}
	if err := a.resolveStops(ctx, tx); err != nil {
		a.rollback(ctx)
		return err
	}
	if err := a.commit(ctx, func(error) { a.markAllStale() }); err != nil {
		return err
	}
	// The missing deletes are counted here, as committed() counts them
	// from outcome.missing for a transaction in memory.
	a.committed(tx, total)
	a.statsMu.Lock()
	a.stats.DeleteMissing += uint64(missing)
	a.stats.TxSpilled++
	a.statsMu.Unlock()
	a.count(KindDeleteMissing, ResolutionSkipped, missing)
	for k, n := range counts {
		a.count(k[0], k[1], n)
	}

	var kept []keptRow
	for _, n := range notes {
		if n.kind == KindDeleteMissing {
			a.warnConflict(n.table, KindDeleteMissing, "delete found no row; skipped (delete_missing, recorded in pgduet.conflicts)",
				"table", n.table.String(), "key", n.key, "lsn", tx.EndLSN, "xid", tx.Xid)
			continue
		}
		a.warnConflict(n.table, n.kind, "conflict resolved by policy "+string(n.policy)+" (recorded in pgduet.conflicts)",
			"kind", n.kind, "resolution", n.resolution, "table", n.table.String(), "lsn", tx.EndLSN, "xid", tx.Xid)
		if n.kept != nil {
			kept = append(kept, keptRow{seq: n.seq, kind: n.kind, ch: n.kept})
		}
	}
	a.fillKept(tx.EndLSN, kept)
	a.pruneTombstones(ctx, tx)
	a.log.Debug("spilled transaction applied", "lsn", tx.EndLSN, "xid", tx.Xid, "changes", tx.Len(), "rows", total.rows.Total(), "conflicts", missing+events)
	return nil
}
