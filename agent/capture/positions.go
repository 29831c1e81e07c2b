package capture

import (
	"fmt"

	"github.com/pgduet/pgduet/agent/change"
)

// flushQueue decides the flush position reported to the slot (DESIGN.md §2,
// invariants 1 and 8). It is the ordered list of stream positions received but
// not yet confirmable:
//
//   - a delivered transaction's EndLSN, pending until the peer acks it;
//   - a position-only entry, "done" from the start: the end of an echo
//     transaction, of a transaction the filter emptied, or a keepalive's
//     ServerWALEnd received between transactions.
//
// The confirmable position is the end of the longest prefix of entries that are
// all done. A position-only entry behind a pending transaction therefore waits for
// that transaction's ack; with nothing pending it is confirmable at once, which is
// how an idle or fully filtered database keeps advancing its slot (the keepalive
// rule of PostgreSQL's own apply worker, worker.c send_feedback).
//
// Why a keepalive position is safe: the walsender sends a keepalive carrying
// sentPtr only after everything decoded before sentPtr has been sent, so every
// transaction ending at or before it is already in the queue, ahead of it.
//
// Not safe for concurrent use; Capture guards it with its mutex.
type flushQueue struct {
	entries   []flushEntry
	confirmed change.LSN // highest confirmable position computed so far; never decreases
}

type flushEntry struct {
	end  change.LSN
	done bool
}

// last returns the highest position the queue has seen.
func (q *flushQueue) last() change.LSN {
	if n := len(q.entries); n > 0 {
		return q.entries[n-1].end
	}
	return q.confirmed
}

// pending records a delivered transaction that the peer has yet to ack.
func (q *flushQueue) pending(end change.LSN) error {
	if end <= q.confirmed {
		return fmt.Errorf("transaction ends at %s, at or before the already confirmed %s", end, q.confirmed)
	}
	// Positions are strictly increasing in a stream. Should a position-only entry
	// ever claim more than this transaction's end, lower it rather than let it
	// confirm past a transaction the peer has not committed.
	for n := len(q.entries); n > 0 && q.entries[n-1].done && q.entries[n-1].end >= end; n-- {
		q.entries = q.entries[:n-1]
	}
	if n := len(q.entries); n > 0 && q.entries[n-1].end >= end {
		return fmt.Errorf("transaction ends at %s, at or before the previous transaction's end %s", end, q.entries[n-1].end)
	}
	q.entries = append(q.entries, flushEntry{end: end})
	return nil
}

// free records a position that needs no ack. Consecutive free positions collapse
// into one entry, so the queue stays as small as the number of pending
// transactions.
func (q *flushQueue) free(end change.LSN) {
	if end <= q.last() {
		return
	}
	if n := len(q.entries); n > 0 && q.entries[n-1].done {
		q.entries[n-1].end = end
		return
	}
	q.entries = append(q.entries, flushEntry{end: end, done: true})
}

// ack marks every entry ending at or before lsn as done.
func (q *flushQueue) ack(lsn change.LSN) {
	for i := range q.entries {
		if q.entries[i].end > lsn {
			break
		}
		q.entries[i].done = true
	}
}

// advance drops the done prefix and returns the confirmable position.
func (q *flushQueue) advance() change.LSN {
	i := 0
	for ; i < len(q.entries) && q.entries[i].done; i++ {
		q.confirmed = max(q.confirmed, q.entries[i].end)
	}
	if i > 0 {
		q.entries = append(q.entries[:0], q.entries[i:]...)
	}
	return q.confirmed
}
