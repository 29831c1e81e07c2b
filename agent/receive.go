package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/initial"
	"github.com/pgduet/pgduet/agent/transport"
)

// Open is the inbound direction's handshake (transport.Receiver): the peer's
// agent wants to stream its changes to us. It hands back our origin progress, so
// the peer resumes exactly after the last transaction we committed.
//
// Only one inbound session may hold the origin (PostgreSQL allows one session per
// origin): a new stream replaces the old one, which is aborted and closed first.
// A failed inbound direction refuses every stream until the agent is restarted.
func (a *Agent) Open(ctx context.Context, h transport.Hello) (change.LSN, transport.Session, error) {
	if err, failed := a.in.failedErr(); failed {
		return 0, nil, transport.Permanent(fmt.Errorf("direction %s failed on node %s: %v; fix the cause, then restart the agent on %s",
			a.in.name, a.node.Name, err, a.node.Name))
	}
	if a.syncing.Load() {
		return 0, nil, transport.Busy(fmt.Errorf("%w on %s (%s): the stream from %s starts when it is done", errSyncing, a.node.Name, a.initial.State(), a.peer.Name))
	}
	a.closeInbound() // the transport ends an old stream before a new Open; be sure
	skips, err := a.loadSkips(ctx)
	if err != nil {
		err = fmt.Errorf("node %s: %w", a.node.Name, err)
		a.inboundError(err)
		return 0, nil, a.refusal(err)
	}
	// Open the applier without holding inMu: connecting can take long, and
	// Status() must not wait for it.
	var folded func(string) string
	if a.cfg.Names.Folds() && a.node.Name == a.cfg.Pair.DDLSource {
		// The peer spells this node's tables and columns as names.case
		// folds them, and only this node knows the original spelling.
		folded = a.cfg.Names.Fold
	}
	ap := apply.New(apply.Config{
		ConnString: a.connString,
		Pair:       a.cfg.Pair.Name,
		Node:       a.node.Name,
		Peer:       a.peer.Name,
		Logger:     a.log.With("direction", a.in.name),
		DDL:        ddlRules(a.cfg, a.peer.Name),
		Policy: func(t change.TableRef) string {
			return a.cfg.PolicyOn(a.node.Name, t.Schema, t.Name)
		},
		FoldedNames: folded,
	})
	progress, err := ap.Open(ctx)
	if err != nil {
		ap.Close(context.Background())
		err = fmt.Errorf("node %s: open apply session for %s: %w", a.node.Name, a.in.name, err)
		a.inboundError(err)
		return 0, nil, a.refusal(err)
	}
	s := &inSession{a: a, ap: ap, opened: time.Now(), skips: skips}
	s.abortCtx, s.abortFn = context.WithCancel(context.Background())
	a.inMu.Lock()
	old := a.inSess
	a.inSess = s
	a.inMu.Unlock()
	if old != nil {
		old.abort()
	}
	a.in.setState(StateRunning, nil)
	a.log.Info("inbound stream opened", "direction", a.in.name, "resume_lsn", progress)
	return progress, s, nil
}

// refusal turns an inbound error into what the sender should do about it:
// permanent errors (and a direction that has now failed) stop it; the rest make
// it reconnect and resume.
func (a *Agent) refusal(err error) error {
	if _, failed := a.in.failedErr(); failed || classify(err) == classPermanent {
		return transport.Permanent(err)
	}
	return err
}

// inboundError records an inbound failure: permanent errors fail the direction at
// once; others keep it retrying until their retry window runs out.
func (a *Agent) inboundError(err error) {
	class := classify(err)
	streak := a.in.failing(time.Now())
	if class == classPermanent || streak >= a.window(class) {
		a.in.setState(StateFailed, err)
		return
	}
	a.in.setState(StateRetrying, err)
}

func (a *Agent) closeInbound() {
	a.inMu.Lock()
	s := a.inSess
	a.inSess = nil
	a.inMu.Unlock()
	if s != nil {
		s.abort()
	}
}

// inSession applies one inbound stream's transactions (transport.Session).
type inSession struct {
	a        *Agent
	abortCtx context.Context
	abortFn  context.CancelFunc

	mu         sync.Mutex // held while applying; abort takes it to wait for the apply to end
	ap         *apply.Applier
	closed     bool
	opened     time.Time
	progressed bool           // a transaction was applied in this session
	skips      *initial.Skips // what the initial sync copied already
}

var errReplaced = errors.New("inbound session replaced by a newer stream from the peer")

// Apply returns nil only when tx and its origin progress are committed locally;
// the transport acks it after that.
func (s *inSession) Apply(ctx context.Context, tx *change.Tx) error {
	_, err := s.ApplyGroup(ctx, []*change.Tx{tx})
	return err
}

// ApplyGroup applies consecutive transactions, merging runs of small ones
// into one local transaction (apply.Applier.ApplyGroup); it returns how many
// are committed, a prefix of txs.
func (s *inSession) ApplyGroup(ctx context.Context, txs []*change.Tx) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errReplaced
	}
	ctx, stop := mergeCancel(ctx, s.abortCtx)
	defer stop()
	a := s.a
	for _, tx := range txs {
		if tx.EndLSN <= s.ap.Progress() {
			continue // applied before: Apply skips it
		}
		n, err := s.skips.Filter(tx)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			a.log.Debug("changes already copied by the initial sync skipped", "direction", a.in.name, "tx", tx.EndLSN, "changes", n)
		}
	}
	var n int
	var err error
	if len(txs) == 1 {
		if err = s.ap.Apply(ctx, txs[0]); err == nil {
			n = 1
		}
	} else {
		n, err = s.ap.ApplyGroup(ctx, txs)
	}
	for i, tx := range txs[:n] {
		a.in.done(tx)
		if !s.progressed {
			s.progressed = true
			a.in.healthy()
			a.in.setState(StateRunning, nil)
		}
		if k := a.opts.Knobs.AfterApplyCommit; k != nil {
			if kerr := k(tx); kerr != nil {
				return i, kerr // committed, not acked: as a crash right after the commit
			}
		}
	}
	if err != nil {
		switch {
		case s.abortCtx.Err() != nil:
			return n, errReplaced
		case ctx.Err() != nil:
			// The stream ended under us (the sender went away, or we are
			// shutting down): not a failure of this direction.
			return n, ctx.Err()
		}
		if s.progressed || time.Since(s.opened) >= a.stableAfter() {
			a.in.healthy() // this session was healthy: a new streak starts here
		}
		a.inboundError(err)
		return n, a.refusal(err)
	}
	return n, nil
}

// Close releases the origin and the connection (called by the transport when
// the stream ends, however it ends).
func (s *inSession) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *inSession) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ap.Close(ctx); err != nil {
		s.a.log.Debug("close apply session", "err", err)
	}
}

// abort ends the session from our side: an apply in progress is cancelled, then
// the origin is released so a new session can take it.
func (s *inSession) abort() {
	s.abortFn()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

// mergeCancel returns a context cancelled when either parent is.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}
