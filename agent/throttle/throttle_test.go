package throttle

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose time only moves when a caller sleeps (or the test
// advances it). When frozen, Sleep records the duration but time stands still,
// which makes every sleep of concurrent callers relative to the same instant.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	frozen bool
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if !c.frozen {
		c.now = c.now.Add(d)
	}
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) numSleeps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleeps)
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*want {
		t.Errorf("%s = %.3f, want %.3f ±%.1f%%", what, got, want, tol*100)
	}
}

// TestLongRunRate drives one caller for a long (fake) run and checks each
// dimension's achieved rate against its limit: within 1% for the tightest
// dimension, never above the limit by more than that for the others.
func TestLongRunRate(t *testing.T) {
	type amounts struct{ rows, bytes, queries int64 }
	cases := []struct {
		name   string
		limits Limits
		step   func(i int) amounts
		tight  int // index of the dimension expected to set the pace
	}{
		{"rows", Limits{RowsPerSecond: 1000}, func(i int) amounts { return amounts{7, 1 << 20, 1} }, 0},
		{"rows uneven", Limits{RowsPerSecond: 250}, func(i int) amounts { return amounts{int64(1 + i*7919%97), 0, 0} }, 0},
		{"bytes", Limits{BytesPerSecond: 1 << 20}, func(i int) amounts { return amounts{100, int64(1 + i*104729%65536), 1} }, 1},
		{"queries", Limits{QueriesPerSecond: 50}, func(i int) amounts { return amounts{1000, 1 << 20, 1} }, 2},
		{"queries slow", Limits{QueriesPerSecond: 2}, func(i int) amounts { return amounts{0, 0, 1} }, 2},
		// Combined: per call rows cost 10 ms, bytes 20 ms, queries 10 ms.
		{"combined bytes tightest", Limits{RowsPerSecond: 1000, BytesPerSecond: 100000, QueriesPerSecond: 100},
			func(i int) amounts { return amounts{10, 2000, 1} }, 1},
		// rows 10 ms, bytes 5 ms, queries 25 ms.
		{"combined queries tightest", Limits{RowsPerSecond: 1000, BytesPerSecond: 100000, QueriesPerSecond: 40},
			func(i int) amounts { return amounts{10, 500, 1} }, 2},
		// rows 40 ms, bytes 20 ms, queries 10 ms.
		{"combined rows tightest", Limits{RowsPerSecond: 500, BytesPerSecond: 100000, QueriesPerSecond: 100},
			func(i int) amounts { return amounts{20, 2000, 1} }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			l := newLimiter(tc.limits, clk)
			start := clk.Now()
			var total [3]float64
			const calls = 10000
			for i := 0; i < calls; i++ {
				a := tc.step(i)
				if err := l.Wait(context.Background(), a.rows, a.bytes, a.queries); err != nil {
					t.Fatal(err)
				}
				total[0] += float64(a.rows)
				total[1] += float64(a.bytes)
				total[2] += float64(a.queries)
			}
			elapsed := clk.Now().Sub(start).Seconds()
			if elapsed < 10 {
				t.Fatalf("run too short to measure: %.3fs", elapsed)
			}
			lim := [3]float64{tc.limits.RowsPerSecond, tc.limits.BytesPerSecond, tc.limits.QueriesPerSecond}
			names := [3]string{"rows/s", "bytes/s", "queries/s"}
			for i := range lim {
				if lim[i] == 0 {
					continue
				}
				rate := total[i] / elapsed
				if i == tc.tight {
					within(t, names[i], rate, lim[i], 0.01)
				} else if rate > lim[i]*1.01 {
					t.Errorf("%s = %.3f exceeds limit %.3f", names[i], rate, lim[i])
				}
			}
		})
	}
}

// TestShortRunRate is the product's acceptance in miniature: a run of a few
// seconds, started from a fresh limiter, stays well within 10% of the limit.
func TestShortRunRate(t *testing.T) {
	for _, rate := range []float64{5, 100, 1000, 50000} {
		clk := newFakeClock()
		l := newLimiter(Limits{RowsPerSecond: rate}, clk)
		start := clk.Now()
		batch := int64(math.Max(1, rate/100))
		var rows int64
		for float64(rows) < 3*rate {
			if err := l.Wait(context.Background(), batch, 0, 0); err != nil {
				t.Fatal(err)
			}
			rows += batch
		}
		got := float64(rows) / clk.Now().Sub(start).Seconds()
		// The burst allows 50 ms ahead of 3 s (1.7%) for the larger rates;
		// at 5 rows/s one unit (200 ms) is the burst: 15 rows in 2.8 s.
		tol := 0.02
		if rate < 20 {
			tol = 0.08
		}
		within(t, "short run rows/s", got, rate, tol)
	}
}

// TestNoRoundingDrift checks that tiny amounts at a high rate, each costing a
// fraction of a nanosecond more than a whole number, do not drift: the budget is
// computed from the running sum, not from per-call durations.
func TestNoRoundingDrift(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	d := newDim(3e8, now) // 3.33 ns per byte
	const n = 300_000
	for i := 0; i < n; i++ {
		d.take(now, 1)
	}
	if got, want := d.tat().Sub(now), time.Millisecond; got != want {
		t.Errorf("%d bytes at 3e8/s = %v of budget, want %v", n, got, want)
	}
}

// TestSlowCallerIsNotSlowed checks that a caller below the limit never waits.
func TestSlowCallerIsNotSlowed(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(Limits{RowsPerSecond: 1000}, clk)
	for i := 0; i < 1000; i++ {
		if err := l.Wait(context.Background(), 5, 0, 0); err != nil {
			t.Fatal(err)
		}
		clk.advance(10 * time.Millisecond) // 500 rows/s of own pace
	}
	if n := clk.numSleeps(); n != 0 {
		t.Fatalf("caller below the limit slept %d times", n)
	}
}

// freeCalls counts how many one-unit calls pass before the first sleep.
func freeCalls(t *testing.T, l *Limiter, clk *fakeClock, q bool) int {
	t.Helper()
	before := clk.numSleeps()
	for n := 0; n < 1e6; n++ {
		var err error
		if q {
			err = l.Wait(context.Background(), 0, 0, 1)
		} else {
			err = l.Wait(context.Background(), 1, 0, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		if clk.numSleeps() > before {
			return n
		}
	}
	t.Fatal("never slept")
	return 0
}

// TestBurstBounded checks that at the start and after idle periods of any
// length only the allowed burst passes without waiting.
func TestBurstBounded(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(Limits{RowsPerSecond: 1000, QueriesPerSecond: 2}, clk)
	// 50 ms of 1000 rows/s = 50 rows.
	if n := freeCalls(t, l, clk, false); n != 50 {
		t.Errorf("fresh limiter: %d free rows, want 50", n)
	}
	for _, idle := range []time.Duration{time.Second, time.Hour, 30 * 24 * time.Hour} {
		clk.advance(idle)
		if n := freeCalls(t, l, clk, false); n != 50 {
			t.Errorf("after %v idle: %d free rows, want 50", idle, n)
		}
	}
	// 50 ms of 2 queries/s is less than one query: the burst is one unit.
	clk.advance(time.Hour)
	if n := freeCalls(t, l, clk, true); n != 1 {
		t.Errorf("after idle: %d free queries, want 1", n)
	}

	// After idle, the rate over the next second is the limit plus the burst,
	// not a catch-up of the idle time.
	clk.advance(10 * time.Minute)
	start := clk.Now()
	var rows int64
	for clk.Now().Sub(start) < time.Second {
		if err := l.Wait(context.Background(), 10, 0, 0); err != nil {
			t.Fatal(err)
		}
		rows += 10
	}
	if rows > 1000+50+10 {
		t.Errorf("first second after idle moved %d rows, want ≤ 1060", rows)
	}
}

// TestHugeAmount checks that an amount of many seconds' worth is accepted and
// waits in proportion, and that the debt carries over to the next callers.
func TestHugeAmount(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(Limits{RowsPerSecond: 1000, BytesPerSecond: 1 << 20}, clk)
	if err := l.Wait(context.Background(), 1_000_000, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.sleeps[0], 1000*time.Second-maxBurst; got != want {
		t.Errorf("1e6 rows at 1000/s slept %v, want %v", got, want)
	}
	// The limiter is now caught up to the burst: the next row waits one row.
	if err := l.Wait(context.Background(), 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.sleeps[1], time.Millisecond; got != want {
		t.Errorf("next row slept %v, want %v", got, want)
	}

	// Debt is shared: with a frozen clock, a second caller waits behind the first.
	clk.frozen = true
	_ = l.Wait(context.Background(), 0, 10<<20, 0)
	_ = l.Wait(context.Background(), 0, 1<<20, 0)
	if got, want := clk.sleeps[2], 10*time.Second-maxBurst; got != want {
		t.Errorf("10 MiB at 1 MiB/s slept %v, want %v", got, want)
	}
	if got, want := clk.sleeps[3], 11*time.Second-maxBurst; got != want {
		t.Errorf("following 1 MiB slept %v, want %v", got, want)
	}

	// Absurd amounts neither overflow nor panic: the wait is long and positive.
	clk2 := newFakeClock()
	l2 := newLimiter(Limits{BytesPerSecond: 1e-3}, clk2)
	for i := 0; i < 3; i++ {
		if err := l2.Wait(context.Background(), 0, math.MaxInt64, 0); err != nil {
			t.Fatal(err)
		}
		if d := clk2.sleeps[i]; d < 50*365*24*time.Hour {
			t.Fatalf("MaxInt64 bytes at 0.001/s slept only %v", d)
		}
	}
}

// TestConcurrentAccounting runs goroutines against a frozen fake clock: every
// call sleeps relative to the same instant, so the sleeps must be exactly the
// successive multiples of amount/rate (less the burst) — one per call, none
// lost or duplicated, whatever the interleaving.
func TestConcurrentAccounting(t *testing.T) {
	clk := newFakeClock()
	clk.frozen = true
	l := newLimiter(Limits{RowsPerSecond: 1000, BytesPerSecond: 1e6}, clk)
	const workers, calls, rows = 8, 500, 3
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				// bytes cost 1 µs per call, far below the rows' 3 ms
				if err := l.Wait(context.Background(), rows, 1, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := append([]time.Duration(nil), clk.sleeps...)
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	var want []time.Duration
	for k := 1; k <= workers*calls; k++ {
		if d := time.Duration(k)*rows*time.Millisecond - maxBurst; d > 0 {
			want = append(want, d)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d sleeps, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sleep #%d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestConcurrentRealClock shares one limiter between goroutines on the real
// clock with a high rate, mostly for the race detector. The only timing check
// is a lower bound, which holds on any machine.
func TestConcurrentRealClock(t *testing.T) {
	const rate = 1e6
	l := New(Limits{RowsPerSecond: rate, BytesPerSecond: 1e9, QueriesPerSecond: 1e6})
	const workers, calls, rows = 8, 250, 50
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				if err := l.Wait(context.Background(), rows, 4096, 1); err != nil {
					t.Error(err)
					return
				}
				_ = l.Limits()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	min := time.Duration(float64(workers*calls*rows)/rate*float64(time.Second)) - maxBurst
	if elapsed < min {
		t.Errorf("moved %d rows in %v, faster than the limit allows (≥ %v)", workers*calls*rows, elapsed, min)
	}
}

// TestUnlimited checks the nil limiter and unlimited dimensions never wait.
func TestUnlimited(t *testing.T) {
	if !(Limits{}).Unlimited() || !(Limits{RowsPerSecond: math.Inf(1)}).Unlimited() {
		t.Error("zero/Inf limits not Unlimited")
	}
	for _, lim := range []Limits{{RowsPerSecond: 1}, {BytesPerSecond: 1}, {QueriesPerSecond: 1}} {
		if lim.Unlimited() {
			t.Errorf("%+v reported Unlimited", lim)
		}
	}

	l := New(Limits{})
	if l != nil {
		t.Fatal("New(Limits{}) != nil")
	}
	if err := l.Wait(context.Background(), math.MaxInt64, math.MaxInt64, math.MaxInt64); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 1, 1, 1); err != nil {
		t.Errorf("nil limiter with ended ctx: %v", err)
	}
	if got := l.Limits(); got != (Limits{}) {
		t.Errorf("nil Limits() = %+v", got)
	}

	clk := newFakeClock()
	zero := newLimiter(Limits{}, clk)
	rowsOnly := newLimiter(Limits{RowsPerSecond: 10}, clk)
	for i := 0; i < 1000; i++ {
		_ = zero.Wait(context.Background(), 1<<40, 1<<40, 1<<40)
		_ = rowsOnly.Wait(context.Background(), 0, 1<<40, 1<<40)
		_ = rowsOnly.Wait(context.Background(), -5, 0, 0) // non-positive: nothing accounted
	}
	if n := clk.numSleeps(); n != 0 {
		t.Errorf("unlimited dimensions slept %d times", n)
	}
	if got, want := rowsOnly.Limits(), (Limits{RowsPerSecond: 10}); got != want {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
}

func TestNewPanicsOnInvalid(t *testing.T) {
	for _, lim := range []Limits{{RowsPerSecond: -1}, {BytesPerSecond: math.NaN()}, {QueriesPerSecond: math.Inf(-1)}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", lim)
				}
			}()
			New(lim)
		}()
	}
}

// TestCancelKeepsAccounting: a Wait whose ctx has ended returns ctx.Err()
// without sleeping, and its amounts still count against later callers.
func TestCancelKeepsAccounting(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(Limits{RowsPerSecond: 100}, clk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 1000, 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if clk.numSleeps() != 0 {
		t.Fatal("time advanced for a cancelled wait")
	}
	if err := l.Wait(context.Background(), 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.sleeps[0], 10*time.Second+10*time.Millisecond-maxBurst; got != want {
		t.Errorf("after a cancelled 1000-row wait, next row slept %v, want %v", got, want)
	}
}

// TestCancelWhileSleeping uses the real clock: a wait of many minutes ends
// promptly when its ctx is cancelled or times out.
func TestCancelWhileSleeping(t *testing.T) {
	l := New(Limits{RowsPerSecond: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- l.Wait(ctx, 1000, 0, 0) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}

	tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer tcancel()
	if err := l.Wait(tctx, 1, 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled waits took %v", d)
	}
}
