package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/change"
)

func TestFlushQueue(t *testing.T) {
	type step struct {
		op   string // pending, free, ack
		lsn  change.LSN
		want change.LSN // confirmable after the step
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"nothing pending: keepalives confirm at once", []step{
			{"free", 100, 100}, {"free", 150, 150},
		}},
		{"pending blocks later free positions until acked", []step{
			{"free", 100, 100},
			{"pending", 200, 100},
			{"free", 250, 100}, // echo or keepalive behind the pending tx
			{"pending", 300, 100},
			{"free", 350, 100},
			{"ack", 200, 250}, // tx 200 acked: up to the free 250, not past tx 300
			{"ack", 299, 250}, // acks nothing new
			{"ack", 300, 350},
		}},
		{"ack beyond everything covers only what was received", []step{
			{"pending", 200, 0},
			{"ack", 1000, 200},
			{"pending", 300, 200}, // arrives after the ack: not covered by it
			{"free", 400, 200},
			{"ack", 300, 400},
		}},
		{"stale free positions are ignored", []step{
			{"free", 100, 100}, {"free", 50, 100}, {"pending", 200, 100}, {"free", 150, 100}, {"ack", 200, 200},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var q flushQueue
			for i, s := range tc.steps {
				switch s.op {
				case "pending":
					if err := q.pending(s.lsn); err != nil {
						t.Fatalf("step %d: pending(%s): %v", i, s.lsn, err)
					}
				case "free":
					q.free(s.lsn)
				case "ack":
					q.ack(s.lsn)
				}
				if got := q.advance(); got != s.want {
					t.Fatalf("step %d (%s %s): confirmable %s, want %s", i, s.op, s.lsn, got, s.want)
				}
			}
		})
	}
}

func TestFlushQueueStaysSmall(t *testing.T) {
	var q flushQueue
	if err := q.pending(10); err != nil {
		t.Fatal(err)
	}
	for i := change.LSN(11); i < 10000; i++ {
		q.free(i) // a long run of echoes and keepalives behind one pending tx
	}
	if len(q.entries) != 2 {
		t.Fatalf("queue has %d entries, want 2 (consecutive free positions collapse)", len(q.entries))
	}
	q.ack(10)
	if got := q.advance(); got != 9999 {
		t.Fatalf("confirmable %s, want 0/270F", got)
	}
}

func TestFlushQueueRefusesGoingBack(t *testing.T) {
	var q flushQueue
	q.free(500)
	q.advance()
	if err := q.pending(400); err == nil || !strings.Contains(err.Error(), "already confirmed") {
		t.Fatalf("pending before the confirmed position: err = %v", err)
	}
	// A free position beyond a tx that arrives later must not confirm past it.
	var r flushQueue
	if err := r.pending(100); err != nil {
		t.Fatal(err)
	}
	r.free(300)
	if err := r.pending(200); err != nil {
		t.Fatal(err)
	}
	r.ack(100)
	if got := r.advance(); got != 100 {
		t.Fatalf("confirmable %s, want 0/64: the free 300 must not pass the pending 200", got)
	}
}

func TestStandbyStatusSetsEveryPosition(t *testing.T) {
	now := time.Now()
	got := standbyStatus(500, 300, now)
	if got.WALWritePosition != 500 || got.WALFlushPosition != 300 || got.WALApplyPosition != 300 {
		t.Fatalf("standbyStatus(500, 300) = %+v", got)
	}
	// Nothing confirmable: pglogrepl would turn flush 0 into write; write must be 0 too.
	got = standbyStatus(500, 0, now)
	if got.WALWritePosition != 0 || got.WALFlushPosition != 0 || got.WALApplyPosition != 0 {
		t.Fatalf("standbyStatus(500, 0) = %+v, want all zero", got)
	}
	if got = standbyStatus(100, 300, now); got.WALWritePosition != 300 {
		t.Fatalf("write below flush: %+v", got)
	}
}

func TestParseGUCDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"60s": time.Minute, "2s": 2 * time.Second, "1min": time.Minute, "500ms": 500 * time.Millisecond,
		"0": 0, "1500": 1500 * time.Millisecond, "1h": time.Hour, "1d": 24 * time.Hour,
	} {
		got, err := parseGUCDuration(in)
		if err != nil || got != want {
			t.Errorf("parseGUCDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "s", "10 parsecs"} {
		if _, err := parseGUCDuration(bad); err == nil {
			t.Errorf("parseGUCDuration(%q): no error", bad)
		}
	}
}

func TestNames(t *testing.T) {
	if got := SlotName("shop", "east"); got != "pgduet_shop_east" {
		t.Errorf("SlotName = %q", got)
	}
	if got := PublicationName("shop"); got != "pgduet_shop" {
		t.Errorf("PublicationName = %q", got)
	}
	for _, ok := range []string{"a", "shop", "east_2", "a1234567890123456789"} {
		if err := checkName("node", ok); err != nil {
			t.Errorf("checkName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "East", "1a", "_a", "a-b", "a b", "a123456789012345678901", `a"b`} {
		if err := checkName("node", bad); err == nil {
			t.Errorf("checkName(%q): no error", bad)
		}
	}
}
