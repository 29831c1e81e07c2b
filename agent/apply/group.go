package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgduet/pgduet/agent/change"
)

// maxGroupChanges bounds the changes ApplyGroup merges into one local
// transaction (a single source transaction may hold more: it is never split).
const maxGroupChanges = 10000

// errUngroup: a merged group met something that is recorded per source
// transaction (a conflict, a missing row, a failing statement); ApplyGroup
// rolls it back and applies its transactions one by one.
var errUngroup = errors.New("apply the group's transactions one by one")

// ApplyGroup applies txs, consecutive transactions of the stream in order,
// and returns how many of them are committed (a prefix of txs) and the error
// that stopped it, as Apply would for that transaction.
//
// Runs of small transactions are merged into one local transaction
// (invariant 3: whole source transactions, with the last one's end LSN and
// commit time as the origin's progress), which saves a commit and a round
// trip per transaction; the progress still moves only with whole source
// transactions, so exactly-once holds. A transaction is merged only when
// nothing about it is recorded per source transaction: no DDL (queue rows),
// no change a DBA asked to skip, not one that stopped the direction before,
// no table under last_write_wins (which compares each transaction's own
// commit time). A merged group that meets any conflict, missing row or
// failing statement is rolled back and applied one transaction at a time,
// so conflicts are recorded exactly as without grouping.
func (a *Applier) ApplyGroup(ctx context.Context, txs []*change.Tx) (int, error) {
	done := 0
	for done < len(txs) {
		end, changes := done, 0
		for end < len(txs) && a.groupable(txs[end]) && (end == done || changes+len(txs[end].Changes) <= maxGroupChanges && txs[end].EndLSN > txs[end-1].EndLSN) {
			changes += len(txs[end].Changes)
			end++
		}
		if end-done < 2 {
			if err := a.Apply(ctx, txs[done]); err != nil {
				return done, err
			}
			done++
			continue
		}
		err := a.applyMerged(ctx, txs[done:end])
		if err == nil {
			done = end
			continue
		}
		if !errors.Is(err, errUngroup) {
			return done, fmt.Errorf("%s: %w", a.prefix(txs[end-1]), err)
		}
		a.log.Debug("group applied one transaction at a time", "from", txs[done].EndLSN, "to", txs[end-1].EndLSN, "transactions", end-done)
		for ; done < end; done++ {
			if err := a.Apply(ctx, txs[done]); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// groupable reports whether tx may be merged with its neighbours.
func (a *Applier) groupable(tx *change.Tx) bool {
	if tx == nil || tx.Spill != nil || tx.EndLSN <= a.Progress() || a.stopped[tx.EndLSN] {
		return false
	}
	for k := range a.skips {
		if k.lsn == tx.EndLSN {
			return false
		}
	}
	var last change.TableRef
	for i := range tx.Changes {
		ch := &tx.Changes[i]
		if ch.Op == change.Truncate {
			for _, r := range ch.Rels {
				if !a.groupableTable(r.Table) {
					return false
				}
			}
			continue
		}
		if ch.Rel == nil {
			return false
		}
		if ch.Rel.Table == last {
			continue
		}
		if ch.Rel.Table == change.DDLQueue || !a.groupableTable(ch.Rel.Table) {
			return false
		}
		last = ch.Rel.Table
	}
	return true
}

func (a *Applier) groupableTable(ref change.TableRef) bool {
	pol := policyFail
	if t := a.tables[ref]; t != nil {
		pol = t.pol
	} else if a.cfg.Policy != nil {
		pol = policy(a.cfg.Policy(ref))
	}
	return pol != policyLWW
}

// applyMerged applies txs (at least two, all groupable) in one local
// transaction. errUngroup: rolled back, apply them one by one.
func (a *Applier) applyMerged(ctx context.Context, txs []*change.Tx) error {
	if a.conn == nil {
		return errNotOpen
	}
	last := txs[len(txs)-1]
	n := 0
	for _, tx := range txs {
		n += len(tx.Changes)
	}
	merged := &change.Tx{Xid: last.Xid, CommitLSN: last.CommitLSN, EndLSN: last.EndLSN, CommitTime: last.CommitTime, Changes: make([]change.Change, 0, n)}
	for _, tx := range txs {
		merged.Changes = append(merged.Changes, tx.Changes...)
	}
	a.grouped = true
	err := a.apply(ctx, merged)
	a.grouped = false
	switch {
	case err == nil:
		a.statsMu.Lock()
		a.stats.TxApplied += uint64(len(txs) - 1) // apply counted the merged one
		a.stats.TxGroups++
		a.statsMu.Unlock()
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errConnLost), a.conn.IsClosed():
		// Nothing of the group is committed (or the next Open finds out);
		// a conflict seen on the way is the one-by-one apply's to report.
		if !errors.Is(err, errConnLost) {
			err = fmt.Errorf("merged group rolled back: %w", errConnLost)
		}
		return err
	}
	a.rollback(ctx)
	return errUngroup
}
