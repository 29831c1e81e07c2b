package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
)

// staticSource serves a fixed status (the endpoint only reads Status()).
type staticSource struct {
	mu sync.Mutex
	st agent.Status
}

func (s *staticSource) Status() agent.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	src := &staticSource{st: agent.Status{Pair: "shop", Node: "east", Digest: "abc", Directions: []agent.DirectionStatus{
		{Direction: "east→west", Role: "send", State: agent.StateRunning, Transactions: 7, Changes: 21, LagBytes: 100, RetainedWAL: 4096, Skipped: 3},
		{Direction: "west→east", Role: "receive", State: agent.StateRunning, Transactions: 5, DeleteMissing: 1, Spilled: 2,
			DDLApplied: 4, DDLSkipped: map[string]int64{"ddl_denied": 2}, Conflicts: map[string]int64{"delete_missing/skipped": 1}},
	}}}
	s := New("127.0.0.1:0", src, slog.New(slog.DiscardHandler))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	base := "http://" + s.Addr().String()

	code, body := get(t, base+"/status")
	var st agent.Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Node != "east" || len(st.Directions) != 2 {
		t.Fatalf("/status: %d %v %s", code, err, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz while running: %d %q", code, body)
	}
	code, body = get(t, base+"/metrics")
	for _, want := range []string{
		`pgduet_direction_up{direction="east→west",node="east",pair="shop",role="send",state="running"} 1`,
		`pgduet_transactions_total{direction="east→west",node="east",pair="shop",role="send"} 7`,
		`pgduet_retained_wal_bytes{direction="east→west",node="east",pair="shop",role="send"} 4096`,
		`pgduet_skipped_changes_total{direction="east→west",node="east",pair="shop",role="send"} 3`,
		`pgduet_delete_missing_total{direction="west→east",node="east",pair="shop",role="receive"} 1`,
		`pgduet_spilled_transactions_total{direction="west→east",node="east",pair="shop",role="receive"} 2`,
		`pgduet_ddl_applied_total{direction="west→east",node="east",pair="shop",role="receive"} 4`,
		`pgduet_ddl_skipped_total{direction="west→east",kind="ddl_denied",node="east",pair="shop",role="receive"} 2`,
		`pgduet_ddl_ignored_total{direction="east→west",node="east",pair="shop",role="send"} 0`,
		`pgduet_conflicts_total{direction="west→east",kind="delete_missing",node="east",pair="shop",resolution="skipped",role="receive"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	src.mu.Lock()
	src.st.Directions[1].State = agent.StateFailed
	src.st.Directions[1].LastError = "update_missing conflict"
	src.mu.Unlock()
	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body, "west→east failed: update_missing conflict") {
		t.Fatalf("/healthz with a failed direction: %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); !strings.Contains(body, `role="receive",state="failed"} 0`) {
		t.Errorf("/metrics for a failed direction: %d\n%s", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
