package agent

import (
	"log/slog"
	"sync"
	"time"

	"github.com/pgduet/pgduet/agent/change"
)

// State is a direction's lifecycle state, as `pgduet status` shows it.
type State string

const (
	StateInitializing State = "initializing"
	// StateSyncing: receiving, the initial sync runs; sending, the stream
	// waits for the peer's initial sync to end (not counted as a failure).
	StateSyncing  State = "initial_sync"
	StateRunning  State = "running"
	StateRetrying State = "retrying"
	StateFailed   State = "failed"
)

// direction holds one direction's state and counters. Stages report into it; the
// admin endpoint and the supervisor read it.
type direction struct {
	name string // "east→west"
	role string // "send" (this node's changes) or "receive" (the peer's)
	log  *slog.Logger
	// onState, when set, hears every state change (the alert webhook).
	onState func(direction string, s State, err error)

	mu           sync.Mutex
	state        State
	since        time.Time
	lastErr      error
	retryingFrom time.Time // first failure of the current retry streak; zero when healthy
	txs          int64
	changes      int64
	lastLSN      change.LSN  // last acked (send) or applied (receive) end LSN
	lastCommit   time.Time   // source commit time of that transaction
	pending      []pendingTx // send: shipped, not yet acked, in order
}

// pendingTx is a shipped transaction the peer has not acknowledged yet.
type pendingTx struct {
	end     change.LSN
	commit  time.Time
	changes int
}

func newDirection(from, to, role string, log *slog.Logger) *direction {
	name := from + "→" + to
	return &direction{
		name:  name,
		role:  role,
		log:   log.With("direction", name),
		state: StateInitializing,
		since: time.Now(),
	}
}

// setState records a state change and logs it: Info for progress, Warn while
// retrying, Error when the direction fails.
func (d *direction) setState(s State, err error) {
	d.mu.Lock()
	prev := d.state
	if s != prev {
		d.state, d.since = s, time.Now()
	}
	if err != nil {
		d.lastErr = err
	}
	d.mu.Unlock()
	if s == prev && s != StateRetrying {
		return
	}
	if d.onState != nil {
		d.onState(d.name, s, err)
	}
	switch s {
	case StateFailed:
		d.log.Error("direction failed", "state", s, "err", err)
	case StateRetrying:
		d.log.Warn("direction retrying", "state", s, "err", err)
	default:
		d.log.Info("direction state", "state", s, "was", prev)
	}
}

// healthy ends the current streak of failures: the direction made progress (an
// ack, an applied transaction) or a session stayed up long enough. Connecting
// alone does not count, or a session that fails right after every connect
// would never exhaust its retry window.
func (d *direction) healthy() {
	d.mu.Lock()
	d.retryingFrom = time.Time{}
	d.mu.Unlock()
}

// failing notes a retryable failure and returns how long the current streak of
// failures has lasted.
func (d *direction) failing(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retryingFrom.IsZero() {
		d.retryingFrom = now
	}
	return now.Sub(d.retryingFrom)
}

func (d *direction) failedErr() (error, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr, d.state == StateFailed
}

// queue records a transaction about to be shipped. It is queued before it is
// sent, so its ack can never arrive first.
func (d *direction) queue(tx *change.Tx) {
	d.mu.Lock()
	d.pending = append(d.pending, pendingTx{end: tx.EndLSN, commit: tx.CommitTime, changes: tx.Len()})
	d.mu.Unlock()
}

// acked counts every queued transaction the peer committed (end LSN ≤ lsn).
func (d *direction) acked(lsn change.LSN) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for ; n < len(d.pending) && d.pending[n].end <= lsn; n++ {
		d.countLocked(d.pending[n])
	}
	d.pending = d.pending[n:]
}

// countLocked records one finished transaction (d.mu held).
func (d *direction) countLocked(p pendingTx) {
	d.txs++
	d.changes += int64(p.changes)
	if p.end > d.lastLSN {
		d.lastLSN, d.lastCommit = p.end, p.commit
	}
}

// resetPending forgets unacked transactions when a session ends: the next
// session resumes from the peer's progress and ships them again.
func (d *direction) resetPending() {
	d.mu.Lock()
	d.pending = nil
	d.mu.Unlock()
}

// done records one applied (receive) transaction.
func (d *direction) done(tx *change.Tx) {
	d.mu.Lock()
	d.countLocked(pendingTx{end: tx.EndLSN, commit: tx.CommitTime, changes: tx.Len()})
	d.mu.Unlock()
}

// DirectionStatus is one direction as `pgduet status` and /status report it.
// Field names are stable (JSON output is for scripts).
type DirectionStatus struct {
	Direction     string    `json:"direction"`
	Role          string    `json:"role"`
	State         State     `json:"state"`
	Since         time.Time `json:"since"`
	LastError     string    `json:"last_error,omitempty"`
	Transactions  int64     `json:"transactions"`
	Changes       int64     `json:"changes"`
	LastLSN       string    `json:"last_lsn"`
	LastCommit    time.Time `json:"last_source_commit,omitzero"`
	LagBytes      int64     `json:"lag_bytes"`
	LagSeconds    float64   `json:"lag_seconds"`
	RetainedWAL   int64     `json:"retained_wal_bytes,omitempty"`
	Skipped       int64     `json:"skipped_changes,omitempty"`
	DeleteMissing int64     `json:"delete_missing,omitempty"`
	// Spilled counts transactions bigger than the spill threshold, held in a
	// temporary file instead of memory: captured (send) or applied (receive).
	Spilled int64 `json:"spilled_transactions,omitempty"`
	// DDL (SPEC §6.4): replayed statements and those not replayed, by kind
	// (receive); DDL run on this node that is not shipped because it is not
	// the DDL source (send: queue rows dropped).
	DDLApplied int64            `json:"ddl_applied,omitempty"`
	DDLSkipped map[string]int64 `json:"ddl_skipped,omitempty"`
	DDLIgnored int64            `json:"ddl_ignored,omitempty"`
	// Conflicts counts the events recorded in pgduet.conflicts (receive),
	// by "kind/resolution": delete_missing/skipped, insert_exists/stopped, ...
	Conflicts map[string]int64 `json:"conflicts,omitempty"`
}

func (d *direction) status() DirectionStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := DirectionStatus{
		Direction:    d.name,
		Role:         d.role,
		State:        d.state,
		Since:        d.since,
		Transactions: d.txs,
		Changes:      d.changes,
		LastLSN:      d.lastLSN.String(),
		LastCommit:   d.lastCommit,
	}
	if d.lastErr != nil && d.state != StateRunning {
		s.LastError = d.lastErr.Error()
	}
	if len(d.pending) > 0 {
		s.LagSeconds = time.Since(d.pending[0].commit).Seconds()
	}
	return s
}
