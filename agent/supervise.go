package agent

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/transport"
)

// errClass says how the supervisor treats a session's error.
type errClass int

const (
	// classConnection: a database or peer connection was lost or refused. Retried
	// within retry.connection.
	classConnection errClass = iota
	// classOther: anything else that may go away (a statement that fails). Retried
	// within retry.other.
	classOther
	// classPermanent: retrying cannot help (a conflict under the fail policy, a
	// refused handshake). The direction fails at once.
	classPermanent
)

// classify sorts a session error once, at the boundary (DESIGN.md §5).
func classify(err error) errClass {
	var remote *transport.RemoteError
	if errors.As(err, &remote) {
		if remote.Permanent {
			return classPermanent
		}
		return classConnection
	}
	var conflict *apply.ConflictError
	if errors.As(err, &conflict) {
		return classPermanent
	}
	var perm *permanentError
	if errors.As(err, &perm) {
		return classPermanent
	}
	if isConnErr(err) || apply.Retryable(err) {
		return classConnection
	}
	return classOther
}

// isConnErr reports errors that mean "a connection is lost or cannot be made".
func isConnErr(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08": // connection exception
			return true
		case pe.Code == "28P01", pe.Code == "28000": // auth: may be fixed on the server while we retry (SPEC §10)
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300", pe.Code == "55006":
			return true
		}
		return false
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// backoff is capped exponential back-off with jitter.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur *= 2
	}
	if b.cur > b.max {
		b.cur = b.max
	}
	// ±20 % jitter so two agents restarting together do not stay in lock step.
	j := time.Duration(rand.Int64N(int64(b.cur)/5+1)) - b.cur/10
	return b.cur + j
}

func (b *backoff) reset() { b.cur = 0 }

// stableAfter is how long a session must stay up, without progress, to count as
// healthy: twice the longest back-off, so a session that fails soon after each
// connect keeps its failure streak.
func (a *Agent) stableAfter() time.Duration {
	return max(2*a.opts.BackoffMax, time.Second)
}

// window returns the retry window for an error class.
func (a *Agent) window(c errClass) time.Duration {
	switch c {
	case classConnection:
		return a.cfg.Retry.Connection
	case classOther:
		return a.cfg.Retry.Other
	}
	return 0
}

// supervise runs session again and again until ctx ends. progressed reports
// whether the session made progress (the peer acked something); that, or a
// session that stayed up for stableAfter, ends the failure streak and starts the
// back-off over.
//
// Cases:
//   - the session returns because ctx ended: supervise returns;
//   - a permanent error: the direction fails at once; the supervisor keeps
//     probing at the longest back-off, so a peer that is fixed and restarted is
//     picked up again without restarting this agent;
//   - the peer is busy (its initial sync runs): the direction shows
//     "initial_sync" and waits, with no failure counted;
//   - a retryable error: the direction is "retrying" until the error's retry
//     window (counted from the first failure of the streak) runs out, then
//     "failed", with further probes as above.
func (a *Agent) supervise(ctx context.Context, d *direction, session func(context.Context) (progressed bool, err error)) {
	b := backoff{min: a.opts.BackoffMin, max: a.opts.BackoffMax}
	for {
		start := time.Now()
		progressed, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed || time.Since(start) >= a.stableAfter() {
			d.healthy()
			b.reset()
		}
		if err == nil {
			err = errors.New("session ended without an error")
		}
		class := classify(err)
		switch {
		case transport.IsBusy(err):
			// The peer's initial sync runs: wait for it, however long it
			// takes, without counting a failure.
			d.healthy()
			d.setState(StateSyncing, err)
		case class == classPermanent:
			d.failing(time.Now()) // a later retryable error continues this streak
			d.setState(StateFailed, err)
		case d.failing(time.Now()) >= a.window(class):
			d.setState(StateFailed, err)
		default:
			d.setState(StateRetrying, err)
		}
		wait := b.next()
		if _, failed := d.failedErr(); failed {
			wait = a.opts.BackoffMax
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
