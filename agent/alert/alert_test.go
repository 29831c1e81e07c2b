package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Secrets carried by the webhook URLs of the redaction tests.
const (
	token    = "SECRET"
	password = "PASSW0RD"
)

// logBuffer collects slog output; safe for the concurrent writes of Run and
// the reads of the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// request is what the test webhook received.
type request struct {
	method, contentType string
	query               string
	user, pass          string
	raw                 map[string]any
	ev                  Event
}

// hook is a test webhook on 127.0.0.1. status decides the answer to the i-th
// request (0-based); nil answers 200.
type hook struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	status func(i int, ev Event) int
	// pre, when set, sees each request first; true means it answered.
	pre func(w http.ResponseWriter, r *http.Request) bool
}

func newHook(t *testing.T, status func(i int, ev Event) int) *hook {
	t.Helper()
	return newHookPre(t, status, nil)
}

func newHookPre(t *testing.T, status func(i int, ev Event) int, pre func(w http.ResponseWriter, r *http.Request) bool) *hook {
	t.Helper()
	h := &hook{t: t, status: status, pre: pre}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	if h.pre != nil && h.pre(w, r) {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.t.Errorf("read body: %v", err)
		return
	}
	rq := request{method: r.Method, contentType: r.Header.Get("Content-Type"), query: r.URL.RawQuery}
	rq.user, rq.pass, _ = r.BasicAuth()
	if err := json.Unmarshal(body, &rq.raw); err != nil {
		h.t.Errorf("body %q: %v", body, err)
	}
	if err := json.Unmarshal(body, &rq.ev); err != nil {
		h.t.Errorf("body %q: %v", body, err)
	}
	h.mu.Lock()
	i := len(h.reqs)
	h.reqs = append(h.reqs, rq)
	status := h.status
	h.mu.Unlock()
	code := http.StatusOK
	if status != nil {
		code = status(i, rq.ev)
	}
	if code >= 300 && code < 400 {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(code)
}

func (h *hook) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// hangUp answers nothing until the client goes away. The body is read first:
// the server notices a closed connection only once it reads in the background,
// which it starts after the body.
func hangUp(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// url is the webhook URL with an optional suffix (path and query).
func (h *hook) url(suffix string) string { return h.srv.URL + suffix }

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// run starts n.Run and returns a function that stops it and waits for it to
// return; the test cleanup calls it too.
func run(t *testing.T, n *Notifier) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testConfig(webhook string, logger *slog.Logger) Config {
	return Config{
		Webhook:      webhook,
		LagThreshold: 30 * time.Second,
		Pair:         "shop",
		Node:         "east",
		Logger:       logger,
		RetryMin:     time.Millisecond,
		RetryMax:     5 * time.Millisecond,
	}
}

// summary renders events as "direction/kind" for order comparisons.
func summary(reqs []request) []string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.ev.Direction+"/"+r.ev.Kind)
	}
	return s
}

func keys(m map[string]any) []string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

func TestDeliversInOrder(t *testing.T) {
	h := newHook(t, nil)
	logger, _ := newLogger()
	n := New(testConfig(h.url("/hook"), logger))
	run(t, n)

	before := time.Now().UTC()
	n.Failed("east→west", "connection refused")
	n.Recovered("east→west")
	n.Lag("west→east", 45*time.Second)
	n.Lag("west→east", 1500*time.Millisecond)
	waitFor(t, "4 deliveries", func() bool { return n.Delivered() == 4 })

	reqs := h.requests()
	want := []string{"east→west/failed", "east→west/recovered", "west→east/lag_over_threshold", "west→east/lag_recovered"}
	if got := summary(reqs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i, r := range reqs {
		if r.method != http.MethodPost || r.contentType != "application/json" {
			t.Errorf("request %d: %s with Content-Type %q", i, r.method, r.contentType)
		}
		if r.raw["pair"] != "shop" || r.raw["node"] != "east" {
			t.Errorf("request %d: pair/node %v/%v", i, r.raw["pair"], r.raw["node"])
		}
		ts, _ := r.raw["time"].(string)
		parsed, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasSuffix(ts, "Z") || parsed.Before(before.Add(-time.Second)) || parsed.After(time.Now().Add(time.Second)) {
			t.Errorf("request %d: time %q (%v)", i, ts, err)
		}
		if i > 0 && parsed.Before(reqs[i-1].ev.Time) {
			t.Errorf("request %d: time %v before the previous event's %v", i, parsed, reqs[i-1].ev.Time)
		}
	}

	base := []string{"direction", "event", "node", "pair", "time"}
	wantKeys := [][]string{
		append(slices.Clone(base), "message"),
		base,
		append(slices.Clone(base), "lag_seconds", "threshold_seconds"),
		append(slices.Clone(base), "lag_seconds", "threshold_seconds"),
	}
	for i, r := range reqs {
		w := slices.Clone(wantKeys[i])
		slices.Sort(w)
		if got := keys(r.raw); !slices.Equal(got, w) {
			t.Errorf("request %d: fields %v, want %v", i, got, w)
		}
	}
	if reqs[0].raw["message"] != "connection refused" {
		t.Errorf("failed message %v", reqs[0].raw["message"])
	}
	if reqs[2].raw["lag_seconds"] != 45.0 || reqs[2].raw["threshold_seconds"] != 30.0 {
		t.Errorf("lag_over_threshold: %v", reqs[2].raw)
	}
	if reqs[3].raw["lag_seconds"] != 1.5 || reqs[3].raw["threshold_seconds"] != 30.0 {
		t.Errorf("lag_recovered: %v", reqs[3].raw)
	}
}

func TestEventJSON(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		ev   Event
		want string
	}{
		{
			Event{Pair: "p", Node: "n", Direction: "a→b", Kind: KindFailed, Message: "boom", Time: at},
			`{"pair":"p","node":"n","direction":"a→b","event":"failed","message":"boom","time":"2025-01-02T02:04:05.123456789Z"}`,
		},
		{
			// Lag fields are dropped on a non-lag event even if set.
			Event{Pair: "p", Node: "n", Direction: "a→b", Kind: KindRecovered, LagSeconds: 3, Time: at},
			`{"pair":"p","node":"n","direction":"a→b","event":"recovered","time":"2025-01-02T02:04:05.123456789Z"}`,
		},
		{
			// A lag event keeps a zero lag.
			Event{Pair: "p", Node: "n", Direction: "a→b", Kind: KindLagRecovered, ThresholdSeconds: 30, Time: at},
			`{"pair":"p","node":"n","direction":"a→b","event":"lag_recovered","lag_seconds":0,"threshold_seconds":30,"time":"2025-01-02T02:04:05.123456789Z"}`,
		},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.ev)
		if err != nil || string(b) != c.want {
			t.Errorf("Marshal(%+v) = %s, %v\nwant %s", c.ev, b, err, c.want)
			continue
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil || !back.Time.Equal(at) || back.Time.Location() != time.UTC {
			t.Errorf("Unmarshal(%s): %+v, %v", b, back, err)
		}
	}
}

// sentinel queues a last event and waits for it: everything queued before it
// has then been delivered or dropped, so the test can compare without sleeping.
func sentinel(t *testing.T, n *Notifier, h *hook) []request {
	t.Helper()
	n.Failed("sentinel", "end")
	waitFor(t, "the sentinel event", func() bool {
		r := h.requests()
		return len(r) > 0 && r[len(r)-1].ev.Direction == "sentinel"
	})
	r := h.requests()
	return r[:len(r)-1]
}

func TestNoRepeatedEvents(t *testing.T) {
	h := newHook(t, nil)
	logger, _ := newLogger()
	n := New(testConfig(h.url("/hook"), logger))
	run(t, n)

	n.Recovered("a")     // never failed: nothing
	n.Failed("a", "one") // failed
	n.Failed("a", "two") // already failed: nothing
	n.Failed("b", "one") // another direction: failed
	n.Failed("a", "three")
	n.Recovered("a") // recovered
	n.Recovered("a")
	n.Failed("a", "four") // failed again after recovering
	n.Recovered("b")      // recovered
	n.Recovered("b")

	n.Lag("a", 10*time.Second) // under: nothing
	n.Lag("a", 30*time.Second) // at the threshold is not over: nothing
	n.Lag("a", 31*time.Second) // over
	n.Lag("a", 40*time.Second)
	n.Lag("a", 35*time.Second)
	n.Lag("a", 30*time.Second) // at the threshold again: recovered
	n.Lag("a", 5*time.Second)
	n.Lag("a", time.Minute) // over again

	want := []string{"a/failed", "b/failed", "a/recovered", "a/failed", "b/recovered", "a/lag_over_threshold", "a/lag_recovered", "a/lag_over_threshold"}
	reqs := sentinel(t, n, h)
	if got := summary(reqs); !slices.Equal(got, want) {
		t.Fatalf("events %v\nwant   %v", got, want)
	}
	if reqs[0].ev.Message != "one" || reqs[3].ev.Message != "four" {
		t.Errorf("messages %q %q, want the first failure's", reqs[0].ev.Message, reqs[3].ev.Message)
	}
	if reqs[5].ev.LagSeconds != 31 || reqs[6].ev.LagSeconds != 30 {
		t.Errorf("lag seconds %v %v", reqs[5].ev.LagSeconds, reqs[6].ev.LagSeconds)
	}
}

func TestLagDisabledWithoutThreshold(t *testing.T) {
	h := newHook(t, nil)
	logger, _ := newLogger()
	cfg := testConfig(h.url("/hook"), logger)
	cfg.LagThreshold = 0
	n := New(cfg)
	run(t, n)
	n.Lag("a", time.Hour)
	n.Lag("a", 0)
	if reqs := sentinel(t, n, h); len(reqs) != 0 {
		t.Fatalf("events %v without a threshold", summary(reqs))
	}
}

func TestRetriesUntilAccepted(t *testing.T) {
	// Retried answers; 302: the default client does not follow redirects.
	for _, code := range []int{500, 502, 503, 408, 429, 302} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := newHook(t, func(i int, ev Event) int {
				if i < 3 {
					return code
				}
				return http.StatusNoContent // any 2xx
			})
			logger, logs := newLogger()
			n := New(testConfig(h.url("/hook"), logger))
			n.Failed("a", "first")
			n.Failed("b", "second")
			run(t, n)
			waitFor(t, "2 deliveries", func() bool { return n.Delivered() == 2 })

			want := []string{"a/failed", "a/failed", "a/failed", "a/failed", "b/failed"}
			if got := summary(h.requests()); !slices.Equal(got, want) {
				t.Fatalf("requests %v, want %v", got, want)
			}
			if c := strings.Count(logs.String(), "will retry"); c != 3 {
				t.Errorf("%d retry warnings, want 3:\n%s", c, logs)
			}
			if !strings.Contains(logs.String(), fmt.Sprint(code)) {
				t.Errorf("status %d not logged:\n%s", code, logs)
			}
		})
	}
}

func TestClientErrorDropsEvent(t *testing.T) {
	for _, code := range []int{400, 401, 404, 410, 422} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := newHook(t, func(i int, ev Event) int {
				if ev.Direction == "a" {
					return code
				}
				return http.StatusOK
			})
			logger, logs := newLogger()
			n := New(testConfig(h.url("/hook"), logger))
			run(t, n)
			n.Failed("a", "rejected")
			n.Failed("b", "accepted")
			reqs := sentinel(t, n, h)
			if got, want := summary(reqs), []string{"a/failed", "b/failed"}; !slices.Equal(got, want) {
				t.Fatalf("requests %v, want %v (the rejected event sent once)", got, want)
			}
			waitFor(t, "delivery count", func() bool { return n.Delivered() == 2 }) // b and the sentinel
			if !strings.Contains(logs.String(), "event dropped, retrying would not help") {
				t.Errorf("drop not logged:\n%s", logs)
			}
		})
	}
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	h := newHook(t, nil)
	logger, logs := newLogger()
	cfg := testConfig(h.url("/hook"), logger)
	cfg.QueueSize = 3
	n := New(cfg)
	for _, d := range []string{"d1", "d2", "d3", "d4", "d5"} {
		n.Failed(d, "down") // queued while nothing delivers
	}
	if c := strings.Count(logs.String(), "queue full"); c != 2 {
		t.Fatalf("%d overflow warnings, want 2:\n%s", c, logs)
	}
	if !strings.Contains(logs.String(), "dropped_total=2") || !strings.Contains(logs.String(), "direction=d2") {
		t.Errorf("overflow warning lacks the count or the event:\n%s", logs)
	}
	run(t, n)
	waitFor(t, "3 deliveries", func() bool { return n.Delivered() == 3 })
	if got, want := summary(h.requests()), []string{"d3/failed", "d4/failed", "d5/failed"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// The event being sent is the oldest; if the overflow drops it meanwhile, the
// answer to that POST must not take the next event off the queue.
func TestOverflowDuringDelivery(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := newHook(t, func(i int, ev Event) int {
		if i == 0 {
			close(entered)
			<-release
		}
		return http.StatusOK
	})
	logger, _ := newLogger()
	cfg := testConfig(h.url("/hook"), logger)
	cfg.QueueSize = 1
	n := New(cfg)
	run(t, n)
	n.Failed("a", "in flight")
	<-entered
	n.Failed("b", "pushes a out of the queue") // returns at once although the webhook hangs
	close(release)
	waitFor(t, "2 deliveries", func() bool { return n.Delivered() == 2 })
	if got, want := summary(h.requests()), []string{"a/failed", "b/failed"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

func TestRunStopsAndKeepsEvent(t *testing.T) {
	var mu sync.Mutex
	hang := true
	entered := make(chan struct{}, 1)
	h := newHookPre(t, nil, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		hung := hang
		mu.Unlock()
		if hung {
			entered <- struct{}{}
			hangUp(r)
		}
		return hung
	})
	logger, logs := newLogger()
	n := New(testConfig(h.url("/hook"), logger))
	stop := run(t, n)
	n.Failed("a", "kept")
	<-entered
	stop() // returns although the POST is in flight
	if n.Delivered() != 0 || n.pending() != 1 {
		t.Fatalf("delivered %d, pending %d after stop", n.Delivered(), n.pending())
	}
	if !strings.Contains(logs.String(), "stopping with undelivered events") {
		t.Errorf("undelivered events not logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), "will retry") {
		t.Errorf("an interrupted POST was logged as a failure:\n%s", logs)
	}

	mu.Lock()
	hang = false
	mu.Unlock()
	run(t, n)
	waitFor(t, "delivery by a new Run", func() bool { return n.Delivered() == 1 })
	if got := summary(h.requests()); !slices.Equal(got, []string{"a/failed"}) {
		t.Fatalf("delivered %v", got)
	}
}

func TestRedaction(t *testing.T) {
	secretOK := func(t *testing.T, logs *logBuffer) {
		t.Helper()
		for _, s := range []string{token, password} {
			if strings.Contains(logs.String(), s) {
				t.Errorf("log contains %q:\n%s", s, logs)
			}
		}
	}

	t.Run("answers", func(t *testing.T) {
		h := newHook(t, func(i int, ev Event) int {
			switch ev.Direction {
			case "a":
				if i == 0 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			case "b":
				return http.StatusBadRequest
			}
			return http.StatusOK
		})
		logger, logs := newLogger()
		webhook := strings.Replace(h.url("/hook?token="+token), "http://", "http://user:"+password+"@", 1)
		n := New(testConfig(webhook, logger))
		run(t, n)
		n.Failed("a", "retried")
		n.Failed("b", "rejected")
		reqs := sentinel(t, n, h)
		if len(reqs) != 3 {
			t.Fatalf("requests %v", summary(reqs))
		}
		// The secrets do reach the webhook...
		if r := reqs[0]; r.query != "token="+token || r.user != "user" || r.pass != password {
			t.Errorf("webhook got query %q, user %q, password %q", r.query, r.user, r.pass)
		}
		// ...and only the redacted URL reaches the log.
		if !strings.Contains(logs.String(), "webhook="+h.url("/hook")+" ") {
			t.Errorf("log lacks the redacted webhook %s:\n%s", h.url("/hook"), logs)
		}
		secretOK(t, logs)
	})

	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now: connection refused
		logger, logs := newLogger()
		n := New(testConfig("http://user:"+password+"@"+addr+"/hook?token="+token, logger))
		run(t, n)
		n.Failed("a", "down")
		waitFor(t, "two failed attempts", func() bool { return strings.Count(logs.String(), "will retry") >= 2 })
		if !strings.Contains(logs.String(), "http://"+addr+"/hook") {
			t.Errorf("log lacks the redacted webhook:\n%s", logs)
		}
		secretOK(t, logs)
	})

	t.Run("timeout", func(t *testing.T) {
		h := newHookPre(t, nil, func(w http.ResponseWriter, r *http.Request) bool {
			hangUp(r)
			return true
		})
		logger, logs := newLogger()
		cfg := testConfig(h.url("/hook?token="+token), logger)
		cfg.Client = &http.Client{Timeout: 20 * time.Millisecond}
		n := New(cfg)
		run(t, n)
		n.Failed("a", "slow")
		waitFor(t, "a timed-out attempt", func() bool { return strings.Contains(logs.String(), "Timeout") })
		secretOK(t, logs)
	})

	t.Run("invalid", func(t *testing.T) {
		for _, webhook := range []string{
			"ftp://user:" + password + "@example.invalid/hook?token=" + token,
			"http://user:" + password + "@[::1/hook?token=" + token, // does not parse
			"http:///hook?token=" + token,                           // no host
			"/hook?token=" + token,                                  // not absolute
		} {
			logger, logs := newLogger()
			n := New(testConfig(webhook, logger))
			if n == nil {
				t.Fatalf("New(%q) = nil", webhook)
			}
			run(t, n)
			n.Failed("a", "x")
			waitFor(t, "the event dropped", func() bool { return strings.Contains(logs.String(), "dropped") })
			if n.Delivered() != 0 || !strings.Contains(logs.String(), "webhook unusable") {
				t.Errorf("%d delivered; log:\n%s", n.Delivered(), logs)
			}
			secretOK(t, logs)
		}
	})
}

func TestNilNotifier(t *testing.T) {
	if n := New(Config{LagThreshold: time.Second, Pair: "p", Node: "n"}); n != nil {
		t.Fatal("New without a webhook is not nil")
	}
	var n *Notifier
	n.Failed("a", "x")
	n.Recovered("a")
	n.Lag("a", time.Hour)
	if n.Delivered() != 0 {
		t.Fatal("nil Delivered")
	}
	done := make(chan struct{})
	go func() { n.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run on a nil Notifier blocks")
	}
}

func TestDefaults(t *testing.T) {
	n := New(Config{Webhook: "https://alerts.example/pgduet"})
	if n.retryMin != time.Second || n.retryMax != time.Minute || n.queueSize != 100 ||
		n.client == nil || n.client.Timeout != 10*time.Second || n.log == nil {
		t.Fatalf("defaults: retry %v..%v, queue %d, client %+v", n.retryMin, n.retryMax, n.queueSize, n.client)
	}
	n = New(Config{Webhook: "https://alerts.example/pgduet", RetryMin: time.Minute, RetryMax: time.Second})
	if n.retryMax != time.Minute {
		t.Fatalf("RetryMax %v below RetryMin %v", n.retryMax, n.retryMin)
	}
}

// Many goroutines report at once: no race, and each direction's events still
// alternate (failed/recovered, over/recovered) in delivery order.
func TestConcurrentCallers(t *testing.T) {
	h := newHook(t, nil)
	logger, logs := newLogger()
	cfg := testConfig(h.url("/hook"), logger)
	cfg.QueueSize = 1 << 20
	n := New(cfg)
	run(t, n)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				d := fmt.Sprintf("d%d", (g+i)%3)
				switch i % 4 {
				case 0:
					n.Failed(d, "x")
				case 1:
					n.Recovered(d)
				case 2:
					n.Lag(d, time.Minute)
				case 3:
					n.Lag(d, time.Second)
				}
			}
		})
	}
	wg.Wait()
	reqs := sentinel(t, n, h)
	last := map[string]string{}
	for _, r := range reqs {
		key := r.ev.Direction
		if strings.HasPrefix(r.ev.Kind, "lag") {
			key += "/lag"
		}
		if last[key] == r.ev.Kind {
			t.Fatalf("%s repeated for %s", r.ev.Kind, r.ev.Direction)
		}
		last[key] = r.ev.Kind
	}
	waitFor(t, "delivery count", func() bool { return n.Delivered() == uint64(len(reqs)+1) })
	if strings.Contains(logs.String(), "queue full") {
		t.Error("unexpected overflow")
	}
}
