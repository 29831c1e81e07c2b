package throttle

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Limits are the rates a Limiter enforces, each in units per second. A zero
// value means that dimension is not limited (+Inf is treated the same way).
// Negative and NaN values are programming errors: New panics on them.
type Limits struct {
	RowsPerSecond    float64
	BytesPerSecond   float64
	QueriesPerSecond float64
}

// Unlimited reports whether no dimension of l is limited.
func (l Limits) Unlimited() bool {
	return !limited(l.RowsPerSecond) && !limited(l.BytesPerSecond) && !limited(l.QueriesPerSecond)
}

// limited reports whether rate r limits its dimension. Negative values count as
// limited so that Unlimited does not hide them from New's validation.
func limited(r float64) bool { return r != 0 && !math.IsInf(r, 1) }

func (l Limits) validate() error {
	for _, d := range []struct {
		name string
		v    float64
	}{{"RowsPerSecond", l.RowsPerSecond}, {"BytesPerSecond", l.BytesPerSecond}, {"QueriesPerSecond", l.QueriesPerSecond}} {
		if d.v < 0 || math.IsNaN(d.v) {
			return fmt.Errorf("throttle: %s must be >= 0, got %v", d.name, d.v)
		}
	}
	return nil
}

const (
	// maxBurst is the longest stretch of the rate callers may run ahead of the
	// budget (unless one unit takes longer, then the burst is one unit).
	maxBurst = 50 * time.Millisecond

	// rebaseAfter bounds how long a dimension keeps accumulating amounts
	// against one anchor before folding them into it, which keeps the float
	// sum small enough to stay exact.
	rebaseAfter = time.Minute
	rebaseUnits = 1 << 40

	// maxDebt caps one dimension's outstanding debt (~73 years) so that
	// absurd amounts cannot overflow time.Duration.
	maxDebt = time.Duration(math.MaxInt64 / 4)
)

// dim is the budget of one dimension. The time at which everything accounted
// so far is paid for (the "theoretical arrival time") is anchor + acc/rate; it
// is recomputed from the sum rather than accumulated call by call, so rounding
// to nanoseconds never compounds.
type dim struct {
	rate   float64       // units per second; 0 = not limited
	burst  time.Duration // how far ahead of the budget callers may run
	anchor time.Time
	acc    float64 // units accounted since anchor
}

func newDim(rate float64, now time.Time) dim {
	if !limited(rate) {
		return dim{}
	}
	burst := maxBurst
	if unit := time.Duration(math.Round(1e9 / rate)); unit > burst {
		burst = unit
	}
	return dim{rate: rate, burst: burst, anchor: now}
}

// tat is the time at which the amounts accounted so far are paid for.
func (d *dim) tat() time.Time {
	ns := d.acc / d.rate * 1e9
	if ns >= float64(maxDebt) {
		return d.anchor.Add(maxDebt)
	}
	return d.anchor.Add(time.Duration(math.Round(ns)))
}

// take accounts amount at time now and returns the earliest time the caller may
// proceed.
func (d *dim) take(now time.Time, amount int64) time.Time {
	t := d.tat()
	switch {
	case !t.After(now):
		// Idle (or merely keeping below the rate): budget not used in the
		// past is forfeited, only the burst is allowed ahead.
		d.anchor, d.acc = now, 0
	case now.Sub(d.anchor) > rebaseAfter || d.acc > rebaseUnits:
		d.anchor, d.acc = t, 0
	}
	d.acc += float64(amount)
	return d.tat().Add(-d.burst)
}

// clock is the time source of a Limiter; tests replace it.
type clock interface {
	Now() time.Time
	// Sleep sleeps for d or until ctx ends, whichever is first, and returns
	// ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Limiter paces callers to Limits. It is safe for concurrent use, and meant to
// be shared by all the workers whose combined rate is limited. A nil *Limiter
// is valid and never waits.
type Limiter struct {
	limits Limits
	clk    clock

	mu                   sync.Mutex
	rows, bytes, queries dim
}

// New returns a Limiter enforcing l, or nil when l.Unlimited(). It panics if a
// limit is negative or NaN.
func New(l Limits) *Limiter {
	if err := l.validate(); err != nil {
		panic(err)
	}
	if l.Unlimited() {
		return nil
	}
	return newLimiter(l, realClock{})
}

// newLimiter is New with an injected clock. Unlike New it returns a non-nil
// Limiter even for unlimited Limits (one that never waits).
func newLimiter(l Limits, clk clock) *Limiter {
	if err := l.validate(); err != nil {
		panic(err)
	}
	now := clk.Now()
	return &Limiter{
		limits:  l,
		clk:     clk,
		rows:    newDim(l.RowsPerSecond, now),
		bytes:   newDim(l.BytesPerSecond, now),
		queries: newDim(l.QueriesPerSecond, now),
	}
}

// Limits returns the limits l enforces (the zero Limits for a nil Limiter).
func (l *Limiter) Limits() Limits {
	if l == nil {
		return Limits{}
	}
	return l.limits
}

// Wait accounts rows, bytes and queries against the shared budget and sleeps
// as long as needed for the long-run rate of each limited dimension to stay at
// its limit. Only the dimensions the call adds to (amount > 0) are waited on;
// non-positive amounts account nothing. Any amount is accepted: one larger than
// a second's worth is debt, paid for by waiting in proportion.
//
// If ctx ends while waiting, Wait returns ctx.Err() at once; the amounts stay
// accounted. When no wait is needed, Wait returns nil without looking at ctx.
func (l *Limiter) Wait(ctx context.Context, rows, bytes, queries int64) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := l.clk.Now()
	until := now
	for _, x := range []struct {
		d      *dim
		amount int64
	}{{&l.rows, rows}, {&l.bytes, bytes}, {&l.queries, queries}} {
		if x.d.rate == 0 || x.amount <= 0 {
			continue
		}
		if t := x.d.take(now, x.amount); t.After(until) {
			until = t
		}
	}
	l.mu.Unlock()

	wait := until.Sub(now)
	if wait <= 0 {
		return nil
	}
	return l.clk.Sleep(ctx, wait)
}
