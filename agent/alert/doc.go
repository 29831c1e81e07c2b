// Package alert tells an operator's webhook when a direction of a pair goes
// wrong or comes back (SPEC §4):
//
//	alert { lag_threshold = "30s", webhook = "https://alerts.example/pgduet" }
//
// The agent reports state changes to a Notifier: a direction failed or
// recovered (Failed, Recovered), and its lag as it is sampled (Lag). The
// Notifier turns those into edge events: "failed" only when a direction was
// not already failed, "recovered" only when it was, "lag_over_threshold" when
// the lag rises above the threshold and "lag_recovered" when it is back at or
// below it. Calling a method again with the same state sends nothing, so the
// agent can call Failed on every failed session and Lag on every sample.
//
// These calls only append to an in-memory queue; they never wait for the
// network. Run delivers the queue in order, one POST of one JSON object at a
// time. A 2xx answer is delivery. A 4xx other than 408 and 429 means the
// webhook will never accept that event, so it is logged and dropped; any other
// answer, or no answer, keeps the event at the head of the queue and retries it
// with capped exponential back-off. While the webhook is down the queue keeps
// at most Config.QueueSize events and drops the oldest, with a warning. Events
// still queued when the agent stops are lost: alerts are best effort and
// nothing about them is durable.
//
// The webhook URL may carry a secret (a token in the query string, or
// user:password@). The package never logs it or puts it in an error: it names
// the webhook by scheme://host/path only, and transport errors, which quote the
// URL, are rewritten before they are logged.
//
// A nil *Notifier is valid and does nothing, so an agent without an alert
// block can call it unconditionally.
package alert
