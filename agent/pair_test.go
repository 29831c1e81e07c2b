package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/pgtest"
	"github.com/pgduet/pgduet/agent/verify"
	"github.com/pgduet/pgduet/policies"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// pairNames are the two nodes of every test pair; east is the DDL source.
var pairNames = [2]string{"east", "west"}

func peerOf(name string) string {
	if name == "east" {
		return "west"
	}
	return "east"
}

// pair is the fixture for end-to-end tests: two databases on the package's two
// shared clusters, a config for both, and agents that run in this process (or as
// real `pgduet run` processes) and can be stopped, killed and restarted.
type pair struct {
	t       testing.TB
	name    string // pair name: unique per test, since slots and origins are cluster-wide
	cluster map[string]*pgtest.Cluster
	db      map[string]string
	conn    map[string]*pgx.Conn
	port    map[string]int // peer-facing agent port
	admin   map[string]int
	cfgPath string
	cfg     *policies.Config
	logPath string
	log     *slog.Logger
	ca      string               // CA file when the agents use TLS
	certs   map[string][2]string // node → cert and key files

	mu      sync.Mutex
	running map[string]*runningAgent
}

type runningAgent struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
	proc   *exec.Cmd // set when the agent runs as a `pgduet run` process
}

// pairOpts shape a test pair.
type pairOpts struct {
	schema    string // DDL run on both databases before the agents start
	selection string // schema/table blocks of the config
	retryConn string // retry.connection (default 5m)
	retryElse string // retry.other (default 1m)
	tls       bool   // mutual TLS between the agents (certificates made by the test)
	// sync is the config's sync block (and throttle blocks); by default the
	// initial sync is off: the schema is made on both databases.
	sync string
	// westEmpty: the schema (barrier table included) is made on east only.
	westEmpty bool
}

const barrierTable = `CREATE TABLE public.barrier (node text PRIMARY KEY, n bigint NOT NULL);`

func newPair(t testing.TB, o pairOpts) *pair {
	t.Helper()
	p := &pair{
		t: t, name: fmt.Sprintf("t%d", pairSeq.Add(1)), cluster: map[string]*pgtest.Cluster{}, db: map[string]string{}, conn: map[string]*pgx.Conn{},
		port: map[string]int{}, admin: map[string]int{}, running: map[string]*runningAgent{},
	}
	ctx := context.Background()
	for _, n := range pairNames {
		c := pgtest.Shared(t, n)
		p.cluster[n] = c
		p.db[n] = c.NewDB(t)
		p.conn[n] = c.Connect(t, p.db[n])
		if n == "west" && o.westEmpty {
			// nothing: the initial sync makes the schema
		} else if _, err := p.conn[n].Exec(ctx, barrierTable+o.schema); err != nil {
			t.Fatalf("schema on %s: %v", n, err)
		}
		p.port[n], p.admin[n] = freePort(t), freePort(t)
	}
	if o.retryConn == "" {
		o.retryConn = "5m"
	}
	if o.retryElse == "" {
		o.retryElse = "1m"
	}
	if o.selection == "" {
		o.selection = `schema "public" { tables = ["*"] }`
	}
	dir := t.TempDir()
	if o.tls {
		p.ca, p.certs = writeCerts(t, dir)
	}
	p.cfgPath = filepath.Join(dir, "pgduet.hcl")
	p.writeConfig(o)
	p.logPath = filepath.Join(dir, "agents.log")
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: p.logLevel()}))
	t.Setenv("PGDUET_TEST_PASSWORD", pgtest.Password)
	p.cfg = p.loadConfig(p.cfgPath)
	t.Cleanup(func() {
		for _, n := range pairNames {
			p.stop(n)
		}
		// Origins are cluster-wide and each holds a replication state slot
		// (max_replication_slots): free this pair's for the tests after it.
		for _, n := range pairNames {
			_, _ = p.conn[n].Exec(context.Background(), `SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin
				WHERE roname LIKE $1`, `pgduet\_`+p.name+`\_%`)
		}
		f.Close()
		if t.Failed() {
			p.dumpLog(200)
		}
	})
	return p
}

func (p *pair) configText(o pairOpts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pair %q {\n  ddl_source = \"east\"\n}\n", p.name)
	for _, n := range pairNames {
		fmt.Fprintf(&b, `
node %q {
  database {
    url      = %q
    password = env("PGDUET_TEST_PASSWORD")
  }
  agent {
    listen   = "127.0.0.1:%d"
    address  = "127.0.0.1:%d"
    admin    = "127.0.0.1:%d"
    %s
  }
}
`, n, p.cluster[n].URL(p.db[n]), p.port[n], p.port[n], p.admin[n], p.transportConfig(n))
	}
	if o.sync == "" {
		o.sync = "sync {\n  schema = false\n  data   = false\n}"
	}
	fmt.Fprintf(&b, "\nretry {\n  connection = %q\n  other = %q\n}\n\n%s\n\n%s\n", o.retryConn, o.retryElse, o.sync, o.selection)
	return b.String()
}

func (p *pair) transportConfig(node string) string {
	if p.ca == "" {
		return "insecure = true"
	}
	return fmt.Sprintf("tls {\n      ca_file   = %q\n      cert_file = %q\n      key_file  = %q\n    }", p.ca, p.certs[node][0], p.certs[node][1])
}

func (p *pair) writeConfig(o pairOpts) {
	if err := os.WriteFile(p.cfgPath, []byte(p.configText(o)), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pair) loadConfig(path string) *policies.Config {
	p.t.Helper()
	cfg, diags := policies.Load(path)
	if diags.HasErrors() {
		p.t.Fatalf("config %s:\n%s", path, policies.FormatDiagnostics(diags))
	}
	return cfg
}

// logLevel is the agents' log level: debug for tests, whose failures
// print the log; info for benchmarks, as `pgduet run` logs by default
// (debug writes several lines per transaction, which would be measured).
func (p *pair) logLevel() slog.Level {
	if _, ok := p.t.(*testing.B); ok {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (p *pair) dumpLog(lines int) {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return
	}
	var all []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.Contains(l, "msg=confirmed") { // status updates every 200 ms: noise here
			all = append(all, l)
		}
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	p.t.Logf("last %d lines of the agents' log (%s):\n%s", len(all), p.logPath, strings.Join(all, "\n"))
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testOptions keeps retries and heartbeats short so tests wait on positions, not on time.
func (p *pair) testOptions(knobs agent.Knobs) agent.Options {
	return agent.Options{
		Logger:            p.log,
		BackoffMin:        20 * time.Millisecond,
		BackoffMax:        500 * time.Millisecond,
		StatusInterval:    200 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond,
		Knobs:             knobs,
	}
}

// start runs the node's agent in this process with cfg (nil: the pair's config).
func (p *pair) start(name string, knobs agent.Knobs) *agent.Agent {
	return p.startWith(name, p.cfg, knobs)
}

func (p *pair) startWith(name string, cfg *policies.Config, knobs agent.Knobs) *agent.Agent {
	p.t.Helper()
	a, err := agent.New(cfg, name, p.testOptions(knobs))
	if err != nil {
		p.t.Fatalf("agent.New(%s): %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgent{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	p.mu.Lock()
	p.running[name] = r
	p.mu.Unlock()
	// Wait until the slot exists, so every write the test makes from now on is
	// captured (a failed setup is the test's to inspect through stop/Run).
	select {
	case <-a.Ready():
	case err := <-r.done:
		r.done <- err
	case <-time.After(time.Minute):
		p.t.Fatalf("agent %s not ready within a minute", name)
	}
	return a
}

// startProcess runs the node's agent as a real `pgduet run` process.
func (p *pair) startProcess(name string) {
	p.t.Helper()
	cmd := exec.Command(pgduetBinary(p.t), "run", "--config", p.cfgPath, "--node", name, "--log-level", strings.ToLower(p.logLevel().String()))
	cmd.Env = append(os.Environ(), "PGDUET_TEST_PASSWORD="+pgtest.Password)
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start pgduet run --node %s: %v", name, err)
	}
	r := &runningAgent{cancel: func() { _ = cmd.Process.Signal(os.Interrupt) }, done: make(chan error, 1), proc: cmd}
	go func() { r.done <- cmd.Wait(); logf.Close() }()
	p.mu.Lock()
	p.running[name] = r
	p.mu.Unlock()
}

// stop stops the node's agent cleanly (context cancel, or SIGINT for a process)
// and waits for it to exit.
func (p *pair) stop(name string) error {
	p.mu.Lock()
	r := p.running[name]
	delete(p.running, name)
	p.mu.Unlock()
	if r == nil {
		return nil
	}
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		if r.proc != nil {
			_ = r.proc.Process.Kill()
		}
		p.t.Errorf("agent %s did not stop within 30s", name)
		return nil
	}
}

// sigkill kills the node's `pgduet run` process with SIGKILL.
func (p *pair) sigkill(name string) {
	p.t.Helper()
	p.mu.Lock()
	r := p.running[name]
	delete(p.running, name)
	p.mu.Unlock()
	if r == nil || r.proc == nil {
		p.t.Fatalf("sigkill %s: not running as a process", name)
	}
	if err := r.proc.Process.Kill(); err != nil {
		p.t.Fatalf("sigkill %s: %v", name, err)
	}
	<-r.done
}

func (p *pair) agent(name string) *agent.Agent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.running[name]; r != nil {
		return r.a
	}
	return nil
}

// barrier waits until everything committed on from before the call is applied on its peer.
func (p *pair) barrier(ctx context.Context, from string) {
	p.t.Helper()
	to := peerOf(from)
	marker := fmt.Sprintf("INSERT INTO public.barrier VALUES ('%s', 1) ON CONFLICT (node) DO UPDATE SET n = barrier.n + 1", from)
	if err := pgtest.Barrier(ctx, p.conn[from], p.conn[to], apply.OriginName(p.name, from), marker); err != nil {
		p.t.Fatalf("barrier %s→%s: %v", from, to, err)
	}
	// The origin may pass the position read before the marker with another
	// transaction of from's (one that committed in between): wait for the
	// marker row itself too.
	var n int64
	if err := p.conn[from].QueryRow(ctx, "SELECT n FROM public.barrier WHERE node = $1", from).Scan(&n); err != nil {
		p.t.Fatalf("barrier %s→%s: %v", from, to, err)
	}
	err := pgtest.WaitFor(ctx, fmt.Sprintf("barrier row of %s on %s", from, to), func(ctx context.Context) (bool, error) {
		var got int64
		err := p.conn[to].QueryRow(ctx, "SELECT n FROM public.barrier WHERE node = $1", from).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return got >= n, err
	})
	if err != nil {
		p.t.Fatalf("barrier %s→%s: %v", from, to, err)
	}
}

// converge waits for both directions and checks that every table of schema
// public is identical on both nodes (row count and ordered hash).
func (p *pair) converge(ctx context.Context) []verify.Result {
	p.t.Helper()
	p.barrier(ctx, "east")
	p.barrier(ctx, "west")
	tables, err := verify.ListTables(ctx, p.conn["east"], func(s, _ string) bool { return s == "public" })
	if err != nil {
		p.t.Fatal(err)
	}
	res, err := verify.Compare(ctx, p.conn["east"], p.conn["west"], tables)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, r := range res {
		if !r.Equal {
			p.t.Errorf("table %s differs: east %d rows %s, west %d rows %s", r.Table, r.A.Rows, r.A.Hash, r.B.Rows, r.B.Hash)
		}
	}
	return res
}

// exec runs q on the node's database.
func (p *pair) exec(ctx context.Context, node, q string) {
	p.t.Helper()
	if _, err := p.conn[node].Exec(ctx, q); err != nil {
		p.t.Fatalf("%s: %s: %v", node, q, err)
	}
}

// waitState waits until the node's direction with the given role reaches state.
func (p *pair) waitState(ctx context.Context, name, role string, state agent.State) agent.DirectionStatus {
	p.t.Helper()
	var last agent.DirectionStatus
	err := pgtest.WaitFor(ctx, fmt.Sprintf("%s %s direction %s", name, role, state), func(context.Context) (bool, error) {
		a := p.agent(name)
		if a == nil {
			return false, fmt.Errorf("agent %s is not running", name)
		}
		for _, d := range a.Status().Directions {
			if d.Role == role {
				last = d
				return d.State == state, nil
			}
		}
		return false, nil
	})
	if err != nil {
		p.t.Fatalf("%v (last: %+v)", err, last)
	}
	return last
}

var pairSeq atomic.Int64

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// pgduetBinary builds the pgduet command once per test run.
func pgduetBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pgduet-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "pgduet")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/pgduet/pgduet/agent/cmd/pgduet").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build pgduet: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// grepLog returns the log lines containing every one of the words.
func grepLog(path string, words ...string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		for _, w := range words {
			if !strings.Contains(sc.Text(), w) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}
