package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
)

// TestAlertWebhook: with an alert block, a direction that fails (a conflict
// under the fail policy) is POSTed to the webhook, naming the direction and
// the error.
func TestAlertWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var events []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	p := newPair(t, pairOpts{schema: "CREATE TABLE t (id int PRIMARY KEY, v text);",
		selection: fmt.Sprintf("schema \"public\" {}\n\nalert {\n  webhook = %q\n  lag_threshold = \"1m\"\n}", srv.URL+"/hook?token=x")})
	// The same key on both nodes before the agents run: east's insert is an
	// insert_exists conflict on west, which stops east→west under "fail".
	p.exec(ctx, "west", "INSERT INTO t VALUES (1, 'west')")
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	p.exec(ctx, "east", "INSERT INTO t VALUES (1, 'east')")
	p.waitState(ctx, "west", "receive", agent.StateFailed)
	err := pgtest.WaitFor(ctx, "the failed event", func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev["event"] == "failed" && ev["node"] == "west" && ev["direction"] == "east→west" && ev["pair"] == p.name {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		mu.Lock()
		t.Fatalf("%v; received %v", err, events)
	}
}
