package agent

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/change"
)

func TestDirectionPendingAndLag(t *testing.T) {
	d := newDirection("east", "west", "send", slog.New(slog.NewTextHandler(io.Discard, nil)))
	old := time.Now().Add(-5 * time.Second)
	d.queue(&change.Tx{EndLSN: 100, CommitTime: old, Changes: make([]change.Change, 2)})
	d.queue(&change.Tx{EndLSN: 200, CommitTime: time.Now(), Changes: make([]change.Change, 3)})
	if s := d.status(); s.LagSeconds < 4.5 || s.Transactions != 0 {
		t.Fatalf("before acks: lag %.1fs, %d transactions; want ≥ 4.5s (the oldest unacked), 0", s.LagSeconds, s.Transactions)
	}
	d.acked(100)
	if s := d.status(); s.LagSeconds > 1 || s.Transactions != 1 || s.Changes != 2 || s.LastLSN != "0/64" {
		t.Fatalf("after ack 100: %+v", s)
	}
	d.acked(250)
	if s := d.status(); s.LagSeconds != 0 || s.Transactions != 2 || s.Changes != 5 {
		t.Fatalf("after ack 250: %+v", s)
	}
	d.queue(&change.Tx{EndLSN: 300, CommitTime: old})
	d.resetPending()
	if s := d.status(); s.LagSeconds != 0 || s.Transactions != 2 {
		t.Fatalf("after reset: %+v", s)
	}
}
