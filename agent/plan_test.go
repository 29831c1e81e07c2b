package agent_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
	"github.com/pgduet/pgduet/policies"
)

var updatePlan = flag.Bool("update-plan", false, "rewrite testdata/plan/*.json from `pgduet plan --offline --format json`")

// TestPlanGolden: `pgduet plan --offline --format json` for every example
// config matches its golden file (go test -run TestPlanGolden ./agent/ -update-plan
// rewrites them after a deliberate change).
func TestPlanGolden(t *testing.T) {
	for _, v := range []string{"PGDUET_DEMO_PASSWORD", "PGDUET_EAST_PASSWORD", "PGDUET_WEST_PASSWORD",
		"PGDUET_EAST_KEY_PASSWORD", "PGDUET_WEST_KEY_PASSWORD"} {
		t.Setenv(v, "secret")
	}
	for k, v := range map[string]string{"PGDUET_ALERT_WEBHOOK": "https://alerts.example/pgduet", "PGDUET_EAST_PGPORT": "5432", "PGDUET_WEST_PGPORT": "5433",
		"PGDUET_EAST_PORT": "7420", "PGDUET_WEST_PORT": "7430", "PGDUET_EAST_ADMIN": "7421", "PGDUET_WEST_ADMIN": "7431"} {
		t.Setenv(k, v)
	}
	examples, err := filepath.Glob("../examples/*.hcl")
	if err != nil || len(examples) < 2 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".hcl")
		t.Run(name, func(t *testing.T) {
			code, out, errOut := pgduetCmd(t, "plan", "--config", ex, "--offline", "--format", "json")
			if code != 0 {
				t.Fatalf("plan: exit %d: %s", code, errOut)
			}
			golden := filepath.Join("testdata", "plan", name+".json")
			if *updatePlan {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update-plan to create it)", err)
			}
			if out != string(want) {
				t.Errorf("plan of %s differs from %s (run with -update-plan after a deliberate change):\n%s", ex, golden, out)
			}
			if strings.Contains(out, "secret") {
				t.Error("the plan shows a secret")
			}
		})
	}
}

// TestPlanLive: with the databases, plan lists each node's selected tables,
// marks the ones the next start adds to the publication, and warns about a
// table without a key and one missing on the peer; once the agents ran, the
// same tables are kept.
func TestPlanLive(t *testing.T) {
	p := newPair(t, pairOpts{
		schema:    `CREATE TABLE public.items (id int PRIMARY KEY, note text); CREATE TABLE public.nokey (v text);`,
		selection: "schema \"public\" { tables = [\"*\"] }\nconflicts { policy = \"overwrite\" }",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.exec(ctx, "east", `CREATE TABLE public.only_east (id int PRIMARY KEY)`)

	plan := func() *policies.Plan {
		t.Helper()
		code, out, errOut := pgduetCmd(t, "plan", "--config", p.cfgPath, "--format", "json")
		if code != 0 {
			t.Fatalf("plan: exit %d: %s", code, errOut)
		}
		var pl policies.Plan
		if err := json.Unmarshal([]byte(out), &pl); err != nil {
			t.Fatalf("plan output: %v\n%s", err, out)
		}
		return &pl
	}
	table := func(pl *policies.Plan, node, name string) policies.PlanTable {
		t.Helper()
		for _, n := range pl.Nodes {
			if n.Name != node {
				continue
			}
			if n.Live != "read" {
				t.Fatalf("node %s: tables %q", node, n.Live)
			}
			for _, tb := range n.Tables {
				if tb.Name == name {
					return tb
				}
			}
		}
		t.Fatalf("node %s: no table %s in the plan", node, name)
		return policies.PlanTable{}
	}
	warned := func(tb policies.PlanTable, words string) bool {
		for _, w := range tb.Warnings {
			if strings.Contains(w, words) {
				return true
			}
		}
		return false
	}

	before := plan()
	items := table(before, "west", "public.items")
	if items.Change != "add" || strings.Join(items.Key, ",") != "id" || len(items.Columns) != 2 || items.Columns[1].Type != "text" ||
		items.Conflicts != policies.PolicyOverwrite || items.PeerName != "public.items" {
		t.Errorf("west public.items before the first start: %+v", items)
	}
	if !warned(items, "TOASTed") {
		t.Errorf("public.items under overwrite with a text column and no REPLICA IDENTITY FULL: no warning in %q", items.Warnings)
	}
	if nk := table(before, "east", "public.nokey"); !warned(nk, "no primary key or replica identity index") {
		t.Errorf("public.nokey: warnings %q", nk.Warnings)
	}
	if oe := table(before, "east", "public.only_east"); !warned(oe, "missing on west as public.only_east") {
		t.Errorf("public.only_east: warnings %q", oe.Warnings)
	}

	for _, n := range before.Nodes {
		if !strings.HasPrefix(n.Running, "not reachable") {
			t.Errorf("node %s before any agent ran: running %q", n.Name, n.Running)
		}
	}

	p.startProcess("east") // a real `pgduet run`, with its admin endpoint
	p.start("west", agent.Knobs{})
	// Ready once both its directions run (its slot exists by then).
	if err := pgtest.WaitFor(ctx, "east running", func(context.Context) (bool, error) {
		code, out, _ := pgduetCmd(t, "status", "--config", p.cfgPath, "--node", "east", "--format", "json")
		var st agent.Status
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Directions) != 2 {
			return false, nil
		}
		for _, d := range st.Directions {
			if d.State != agent.StateRunning {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	p.barrier(ctx, "east")
	after := plan()
	for _, n := range after.Nodes {
		if want := map[string]string{"east": "this config", "west": "not reachable"}[n.Name]; !strings.HasPrefix(n.Running, want) {
			t.Errorf("node %s: running %q, want %q", n.Name, n.Running, want)
		}
	}
	if items := table(after, "west", "public.items"); items.Change != "keep" {
		t.Errorf("west public.items after the agents ran: change %q, want keep", items.Change)
	}
	code, out, _ := pgduetCmd(t, "plan", "--config", p.cfgPath)
	if code != 0 || !strings.Contains(out, "= public.items → public.items (id, note); key (id)") {
		t.Errorf("plan (text): exit %d:\n%s", code, out)
	}
}
