package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/pgtest"
)

// pgduetCmd runs the pgduet binary and returns its exit code, stdout and stderr.
func pgduetCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(pgduetBinary(t), args...)
	cmd.Env = append(os.Environ(), "PGDUET_TEST_PASSWORD="+pgtest.Password)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("pgduet %v: %v", args, err)
	return 0, "", ""
}

// TestCommandLine drives the operator commands against two real `pgduet run`
// processes: validate, status, verify, a clean SIGTERM stop, and uninstall.
func TestCommandLine(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE kept (id int PRIMARY KEY, v text);`})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("validate", func(t *testing.T) {
		code, out, _ := pgduetCmd(t, "validate", "--config", p.cfgPath)
		if code != 0 || !strings.Contains(out, "valid") || !strings.Contains(out, p.cfg.Digest()) {
			t.Errorf("validate: exit %d, %q", code, out)
		}
		bad := filepath.Join(t.TempDir(), "bad.hcl")
		if err := os.WriteFile(bad, []byte("pair \"x\" {\n  ddl_source = \"nowhere\"\n  colour = 1\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := pgduetCmd(t, "validate", "--config", bad)
		if code != 1 || !strings.Contains(errOut, bad+":3:3: error: Unsupported argument") {
			t.Errorf("validate of a bad file: exit %d, stderr %q", code, errOut)
		}
		code, out, _ = pgduetCmd(t, "validate", "--config", bad, "--format", "json")
		var v struct {
			Valid       bool
			Diagnostics []struct{ Line int }
		}
		if err := json.Unmarshal([]byte(out), &v); code != 1 || err != nil || v.Valid || len(v.Diagnostics) < 2 {
			t.Errorf("validate --format json: exit %d, %v, %+v", code, err, v)
		}
		if code, _, _ := pgduetCmd(t, "validate"); code != 2 {
			t.Errorf("validate without --config: exit %d, want 2", code)
		}
	})

	for _, n := range pairNames {
		p.startProcess(n)
	}
	// Wait until both run, through the admin endpoint as an operator would.
	for _, n := range pairNames {
		err := pgtest.WaitFor(ctx, n+" running", func(context.Context) (bool, error) {
			code, out, _ := pgduetCmd(t, "status", "--config", p.cfgPath, "--node", n, "--format", "json")
			if code != 0 {
				return false, nil
			}
			var st agent.Status
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return false, err
			}
			for _, d := range st.Directions {
				if d.State != agent.StateRunning {
					return false, nil
				}
			}
			return len(st.Directions) == 2, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.conn["east"].Exec(ctx, "INSERT INTO kept VALUES (1, 'from east')"); err != nil {
		t.Fatal(err)
	}
	p.converge(ctx)

	code, out, _ := pgduetCmd(t, "status", "--config", p.cfgPath, "--node", "west")
	if code != 0 || !strings.Contains(out, "east→west") || !strings.Contains(out, "running") {
		t.Errorf("status (text): exit %d\n%s", code, out)
	}
	code, out, _ = pgduetCmd(t, "verify", "--config", p.cfgPath)
	if code != 0 || !strings.Contains(out, "all 2 tables equal on east and west") {
		t.Errorf("verify: exit %d\n%s", code, out)
	}

	// SIGTERM is a clean stop: exit 0.
	for _, n := range pairNames {
		p.mu.Lock()
		r := p.running[n]
		delete(p.running, n)
		p.mu.Unlock()
		if err := r.proc.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("%s after SIGTERM: %v, want exit 0", n, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s did not stop after SIGTERM", n)
		}
	}
	code, _, errOut := pgduetCmd(t, "status", "--config", p.cfgPath, "--node", "east")
	if code != 3 || !strings.Contains(errOut, "not reachable") {
		t.Errorf("status of a stopped agent: exit %d, %q", code, errOut)
	}

	// A difference made while the agents are stopped, verified before they
	// could ship it.
	if _, err := p.conn["west"].Exec(ctx, "UPDATE kept SET v = 'drift'"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = pgduetCmd(t, "verify", "--config", p.cfgPath, "--table", "public.kept")
	if code != 1 || !strings.Contains(out, "DIFFERS") {
		t.Errorf("verify after drift: exit %d\n%s", code, out)
	}

	// uninstall removes everything pgduet made; a second run finds nothing.
	for _, n := range pairNames {
		code, out, errOut := pgduetCmd(t, "uninstall", "--config", p.cfgPath, "--node", n)
		for _, want := range []string{"replication slot pgduet_" + p.name + "_" + n, "publication pgduet_" + p.name,
			"replication origin pgduet_" + p.name + "_" + peerOf(n), "event trigger pgduet_ddl_command_end", "event trigger pgduet_sql_drop", "event trigger pgduet_table_rewrite", "schema pgduet"} {
			if !strings.Contains(out, want) {
				t.Errorf("uninstall %s (exit %d) did not remove %s:\n%s%s", n, code, want, out, errOut)
			}
		}
		var left int
		err := p.conn[n].QueryRow(ctx, `SELECT
			(SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgduet\_%' AND database = current_database()) +
			(SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgduet\_%') +
			(SELECT count(*) FROM pg_replication_origin WHERE roname LIKE $1) +
			(SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'pgduet\_%') +
			(SELECT count(*) FROM pg_namespace WHERE nspname = 'pgduet')`, "pgduet\\_"+p.name+"\\_%").Scan(&left)
		if err != nil || left != 0 {
			t.Errorf("after uninstall %s: %d objects left (%v)", n, left, err)
		}
		code, out, _ = pgduetCmd(t, "uninstall", "--config", p.cfgPath, "--node", n)
		if code != 0 || !strings.Contains(out, "nothing of pgduet's left") {
			t.Errorf("second uninstall %s: exit %d %q", n, code, out)
		}
	}
}
