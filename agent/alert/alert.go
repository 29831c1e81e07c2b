package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event kinds, the "event" field of the JSON body.
const (
	KindFailed           = "failed"
	KindRecovered        = "recovered"
	KindLagOverThreshold = "lag_over_threshold"
	KindLagRecovered     = "lag_recovered"
)

const (
	defaultTimeout   = 10 * time.Second
	defaultRetryMin  = time.Second
	defaultRetryMax  = time.Minute
	defaultQueueSize = 100
)

// Config configures a Notifier. Only Webhook is required.
type Config struct {
	// Webhook is the http or https URL events are POSTed to. It may carry a
	// secret (query string, userinfo); it is only ever logged redacted.
	Webhook string
	// LagThreshold is the lag above which "lag_over_threshold" is sent. Zero
	// or negative disables lag events.
	LagThreshold time.Duration
	// Pair and Node are copied into every event.
	Pair, Node string
	// Client sends the POSTs. Nil: a client with a 10 s timeout that does not
	// follow redirects (a 301/302/303 would turn the POST into a body-less GET
	// that could be mistaken for delivery), so a redirect is retried like any
	// other non-2xx answer.
	Client *http.Client
	// Logger receives delivery failures and drops. Nil: slog.Default().
	Logger *slog.Logger
	// RetryMin and RetryMax bound the back-off between delivery attempts of
	// the same event. Defaults 1 s and 1 min; RetryMax is raised to RetryMin
	// if smaller.
	RetryMin, RetryMax time.Duration
	// QueueSize is how many undelivered events are kept; when full, the oldest
	// is dropped and a warning logged. Default 100.
	QueueSize int
}

// Event is one notification, the body of one POST.
//
// JSON: {"pair", "node", "direction", "event" (Kind), "message" (omitted when
// empty), "lag_seconds" and "threshold_seconds" (lag events only), "time"
// (RFC 3339 with nanoseconds, UTC)}.
type Event struct {
	Pair, Node, Direction string
	// Kind is one of KindFailed, KindRecovered, KindLagOverThreshold,
	// KindLagRecovered.
	Kind string
	// Message is the error text for "failed"; empty otherwise.
	Message string
	// LagSeconds and ThresholdSeconds are set on lag events only.
	LagSeconds, ThresholdSeconds float64
	// Time is when the state change was observed, UTC.
	Time time.Time
}

func isLagKind(kind string) bool {
	return kind == KindLagOverThreshold || kind == KindLagRecovered
}

type wireEvent struct {
	Pair             string   `json:"pair"`
	Node             string   `json:"node"`
	Direction        string   `json:"direction"`
	Event            string   `json:"event"`
	Message          string   `json:"message,omitempty"`
	LagSeconds       *float64 `json:"lag_seconds,omitempty"`
	ThresholdSeconds *float64 `json:"threshold_seconds,omitempty"`
	Time             string   `json:"time"`
}

// MarshalJSON encodes the event as the webhook body.
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{
		Pair:      e.Pair,
		Node:      e.Node,
		Direction: e.Direction,
		Event:     e.Kind,
		Message:   e.Message,
		Time:      e.Time.UTC().Format(time.RFC3339Nano),
	}
	if isLagKind(e.Kind) {
		lag, threshold := e.LagSeconds, e.ThresholdSeconds
		w.LagSeconds, w.ThresholdSeconds = &lag, &threshold
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a webhook body (for receivers and tests).
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return fmt.Errorf("alert: event time: %w", err)
	}
	*e = Event{Pair: w.Pair, Node: w.Node, Direction: w.Direction, Kind: w.Event, Message: w.Message, Time: t.UTC()}
	if w.LagSeconds != nil {
		e.LagSeconds = *w.LagSeconds
	}
	if w.ThresholdSeconds != nil {
		e.ThresholdSeconds = *w.ThresholdSeconds
	}
	return nil
}

// Notifier turns direction state changes into webhook events and delivers
// them. Create it with New; all methods are safe for concurrent use and are
// no-ops on a nil *Notifier.
type Notifier struct {
	pair, node string
	threshold  time.Duration
	retryMin   time.Duration
	retryMax   time.Duration
	queueSize  int
	client     *http.Client
	log        *slog.Logger

	rawURL  string
	target  string   // redacted webhook: scheme://host/path
	invalid error    // why the webhook cannot be used (no URL in the text); nil when usable
	secrets []string // substrings of the URL that must never be logged, longest first

	mu      sync.Mutex
	queue   []queued
	nextSeq uint64
	dropped uint64
	failed  map[string]bool
	lagging map[string]bool

	wake      chan struct{} // buffered 1: something was queued
	running   chan struct{} // buffered 1: held by the Run that delivers
	delivered atomic.Uint64
}

type queued struct {
	seq uint64
	ev  Event
}

// New returns a Notifier for cfg, or nil when cfg.Webhook is empty (alerts
// not configured). A webhook that is not an absolute http(s) URL is logged
// (without its text) when New is called, and every event is then dropped with
// an error in the log, as an event rejected by the webhook would be.
func New(cfg Config) *Notifier {
	if cfg.Webhook == "" {
		return nil
	}
	n := &Notifier{
		pair:      cfg.Pair,
		node:      cfg.Node,
		threshold: cfg.LagThreshold,
		retryMin:  cfg.RetryMin,
		retryMax:  cfg.RetryMax,
		queueSize: cfg.QueueSize,
		client:    cfg.Client,
		rawURL:    cfg.Webhook,
		failed:    map[string]bool{},
		lagging:   map[string]bool{},
		wake:      make(chan struct{}, 1),
		running:   make(chan struct{}, 1),
	}
	if n.retryMin <= 0 {
		n.retryMin = defaultRetryMin
	}
	if n.retryMax <= 0 {
		n.retryMax = defaultRetryMax
	}
	if n.retryMax < n.retryMin {
		n.retryMax = n.retryMin
	}
	if n.queueSize <= 0 {
		n.queueSize = defaultQueueSize
	}
	if n.client == nil {
		n.client = &http.Client{
			Timeout: defaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	n.secrets = []string{cfg.Webhook}
	u, err := url.Parse(cfg.Webhook)
	switch {
	case err != nil:
		// url.Parse's error quotes the URL: keep only a generic reason.
		n.target = "<unparsable URL>"
		n.invalid = errors.New("webhook is not a valid URL")
	default:
		n.target = redact(u)
		if u.User != nil {
			n.secrets = append(n.secrets, u.User.String()+"@")
			if _, ok := u.User.Password(); ok {
				// What net/http puts in its errors instead (password starred).
				n.secrets = append(n.secrets, url.UserPassword(u.User.Username(), "***").String()+"@")
			}
		}
		if u.RawQuery != "" {
			n.secrets = append(n.secrets, "?"+u.RawQuery)
		}
		if u.Fragment != "" {
			n.secrets = append(n.secrets, "#"+u.EscapedFragment())
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			n.invalid = errors.New("webhook scheme must be http or https")
		} else if u.Host == "" {
			n.invalid = errors.New("webhook has no host")
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	n.log = logger.With("pair", cfg.Pair, "node", cfg.Node, "webhook", n.target)
	if n.invalid != nil {
		n.log.Error("alert: webhook unusable, events will be dropped", "error", n.invalid)
	}
	return n
}

// redact keeps scheme://host/path: no userinfo, query or fragment.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// scrub renders err for a log without any part of the webhook URL beyond its
// redacted form. net/http's *url.Error quotes the request URL, query included.
func (n *Notifier) scrub(err error) string {
	var s string
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		s = fmt.Sprintf("%s %s: %v", ue.Op, n.target, ue.Err)
	} else {
		s = err.Error()
	}
	for _, secret := range n.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	return s
}

// Failed records that direction failed with message. It queues a "failed"
// event only if the direction was not already failed.
func (n *Notifier) Failed(direction, message string) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if n.failed[direction] {
		n.mu.Unlock()
		return
	}
	n.failed[direction] = true
	n.pushLocked(direction, KindFailed, message, 0)
}

// Recovered records that direction runs again. It queues a "recovered" event
// only if the direction was failed.
func (n *Notifier) Recovered(direction string) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if !n.failed[direction] {
		n.mu.Unlock()
		return
	}
	delete(n.failed, direction)
	n.pushLocked(direction, KindRecovered, "", 0)
}

// Lag records a lag sample of direction. It queues "lag_over_threshold" when
// the lag goes above the threshold and "lag_recovered" when it comes back at
// or below it; samples that do not change that state queue nothing. Without
// a positive LagThreshold it does nothing.
func (n *Notifier) Lag(direction string, lag time.Duration) {
	if n == nil || n.threshold <= 0 {
		return
	}
	over := lag > n.threshold
	n.mu.Lock()
	if n.lagging[direction] == over {
		n.mu.Unlock()
		return
	}
	kind := KindLagRecovered
	if over {
		kind = KindLagOverThreshold
		n.lagging[direction] = true
	} else {
		delete(n.lagging, direction)
	}
	n.pushLocked(direction, kind, "", lag)
}

// Delivered reports how many events the webhook accepted (2xx) so far.
func (n *Notifier) Delivered() uint64 {
	if n == nil {
		return 0
	}
	return n.delivered.Load()
}

// pushLocked queues an event and unlocks n.mu. The time is taken under the
// lock, so queue order and event times agree.
func (n *Notifier) pushLocked(direction, kind, message string, lag time.Duration) {
	ev := Event{
		Pair:      n.pair,
		Node:      n.node,
		Direction: direction,
		Kind:      kind,
		Message:   message,
		Time:      time.Now().UTC(),
	}
	if isLagKind(kind) {
		ev.LagSeconds = lag.Seconds()
		ev.ThresholdSeconds = n.threshold.Seconds()
	}
	var lost *Event
	var dropped uint64
	if len(n.queue) >= n.queueSize {
		old := n.queue[0].ev
		lost = &old
		n.queue[0] = queued{}
		n.queue = n.queue[1:]
		n.dropped++
		dropped = n.dropped
	}
	n.nextSeq++
	n.queue = append(n.queue, queued{seq: n.nextSeq, ev: ev})
	n.mu.Unlock()

	select {
	case n.wake <- struct{}{}:
	default:
	}
	if lost != nil {
		n.log.Warn("alert: queue full, dropped the oldest undelivered event",
			"event", lost.Kind, "direction", lost.Direction, "time", lost.Time,
			"queue_size", n.queueSize, "dropped_total", dropped)
	}
}

func (n *Notifier) head() (queued, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return queued{}, false
	}
	return n.queue[0], true
}

// remove takes seq off the head of the queue, unless the overflow already
// dropped it while it was being sent.
func (n *Notifier) remove(seq uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) > 0 && n.queue[0].seq == seq {
		n.queue[0] = queued{}
		n.queue = n.queue[1:]
	}
}

func (n *Notifier) pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

type outcome int

const (
	sent   outcome = iota // 2xx
	retry                 // try the same event again later
	reject                // retrying cannot help: drop the event
)

// Run delivers queued events in order, one POST at a time, until ctx ends.
// Events queued before Run starts are delivered too. Only one Run delivers
// at a time; a second concurrent call waits for the first to return.
func (n *Notifier) Run(ctx context.Context) {
	if n == nil {
		return
	}
	select {
	case n.running <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-n.running }()
	defer func() {
		if p := n.pending(); p > 0 {
			n.log.Warn("alert: stopping with undelivered events", "pending", p)
		}
	}()

	backoff := n.retryMin
	attempt := 0
	for {
		q, ok := n.head()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-n.wake:
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		res, err := n.post(ctx, q.ev)
		if res != sent && ctx.Err() != nil {
			return // interrupted: the event stays queued, nothing to report
		}
		attempt++
		switch res {
		case sent:
			n.remove(q.seq)
			n.delivered.Add(1)
			n.log.Debug("alert: event delivered", "event", q.ev.Kind, "direction", q.ev.Direction, "attempts", attempt)
			backoff, attempt = n.retryMin, 0
		case reject:
			n.remove(q.seq)
			n.log.Error("alert: event dropped, retrying would not help",
				"event", q.ev.Kind, "direction", q.ev.Direction, "error", n.scrub(err))
			backoff, attempt = n.retryMin, 0
		case retry:
			n.log.Warn("alert: event delivery failed, will retry",
				"event", q.ev.Kind, "direction", q.ev.Direction, "attempt", attempt,
				"retry_in", backoff, "error", n.scrub(err))
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, n.retryMax)
		}
	}
}

// post sends one event. The error says why it was not sent.
func (n *Notifier) post(ctx context.Context, ev Event) (outcome, error) {
	if n.invalid != nil {
		return reject, n.invalid
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return reject, fmt.Errorf("encode event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.rawURL, bytes.NewReader(body))
	if err != nil {
		return reject, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pgduet-alert")
	resp, err := n.client.Do(req)
	if err != nil {
		return retry, err
	}
	// Drain a little so the connection can be reused; the body is not logged
	// (it is the receiver's text, not ours to vouch for).
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		return sent, nil
	case code >= 400 && code <= 499 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return reject, fmt.Errorf("webhook answered %d %s", code, http.StatusText(code))
	default:
		return retry, fmt.Errorf("webhook answered %d %s", code, http.StatusText(code))
	}
}
