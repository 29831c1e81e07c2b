// Command pgduet is the pgduet agent and its operator tools: run one node's agent,
// validate a config, preview what it does (plan), ask a running agent for its status, compare both databases,
// list the recorded conflicts, remove what pgduet installed, and run a local demo.
//
// Exit codes (SPEC §3): 0 success; 1 the check found problems (invalid config,
// data differs); 2 usage error; 3 runtime failure (cannot connect, agent failed).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/admin"
	"github.com/pgduet/pgduet/agent/demo"
	"github.com/pgduet/pgduet/agent/verify"
	"github.com/pgduet/pgduet/ddlparse"
	"github.com/pgduet/pgduet/policies"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2
	exitRuntime = 3
)

const usage = `pgduet keeps two PostgreSQL databases in two-way sync.

Usage:
  pgduet run        --config PATH --node NAME     run the agent for NAME (foreground; SIGTERM/SIGINT = clean stop)
  pgduet validate   --config PATH                 check the config offline; exit 0 valid, 1 invalid
  pgduet plan       --config PATH [--offline]     what the config makes pgduet do, per node: selections, and the tables
                                                  found in each database with what changes at the next start
  pgduet status     --config PATH --node NAME     ask the running agent for its state (both directions)
  pgduet verify     --config PATH [--table T]     compare the selected tables on both databases; exit 0 equal, 1 differ
  pgduet conflicts  --config PATH --node NAME     list the conflicts recorded on NAME, newest first (--table, --kind, --since, --limit)
  pgduet uninstall  --config PATH --node NAME     remove every object pgduet created on that node
  pgduet demo                                     two throwaway local clusters, two agents, two-way sync, verify
  pgduet version

--config is a file or a directory of *.hcl files (merged).
--format text|json on validate, plan, status, verify and conflicts.
pgduet COMMAND --help describes a command's flags. Logs go to stderr:
--log-format text|json, --log-level debug|info|warn|error.

Exit codes: 0 success, 1 check found problems, 2 usage error, 3 runtime failure.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "plan":
		return cmdPlan(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "verify":
		return cmdVerify(rest, stdout, stderr)
	case "conflicts":
		return cmdConflicts(rest, stdout, stderr)
	case "uninstall":
		return cmdUninstall(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "pgduet", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "pgduet: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// flags holds the options the subcommands share.
type flags struct {
	fs        *flag.FlagSet
	config    string
	node      string
	format    string
	logFormat string
	logLevel  string
	table     string
}

func newFlags(name string, stderr io.Writer, want ...string) *flags {
	f := &flags{fs: flag.NewFlagSet("pgduet "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	for _, w := range want {
		switch w {
		case "config":
			f.fs.StringVar(&f.config, "config", "", "config file or directory of *.hcl files")
		case "node":
			f.fs.StringVar(&f.node, "node", "", "node name from the config")
		case "format":
			f.fs.StringVar(&f.format, "format", "text", "output format: text or json")
		case "log":
			f.fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
			f.fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
		case "table":
			f.fs.StringVar(&f.table, "table", "", "only this table (schema.table)")
		}
	}
	return f
}

// parse parses args and checks the required flags; it prints the problem and
// returns false on a usage error.
func (f *flags) parse(args []string, stderr io.Writer, required ...string) bool {
	if err := f.fs.Parse(args); err != nil {
		return false
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", f.fs.Name(), f.fs.Arg(0))
		return false
	}
	for _, r := range required {
		if (r == "config" && f.config == "") || (r == "node" && f.node == "") {
			fmt.Fprintf(stderr, "%s: --%s is required\n", f.fs.Name(), r)
			return false
		}
	}
	if f.format != "" && f.format != "text" && f.format != "json" {
		fmt.Fprintf(stderr, "%s: --format must be text or json, not %q\n", f.fs.Name(), f.format)
		return false
	}
	return true
}

func (f *flags) logger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", f.logFormat)
}

// load reads the config and prints every problem; ok is false when invalid.
func load(path string, stderr io.Writer) (*policies.Config, bool) {
	cfg, diags := policies.Load(path)
	if diags.HasErrors() {
		fmt.Fprint(stderr, policies.FormatDiagnostics(diags))
		return nil, false
	}
	if len(diags) > 0 {
		fmt.Fprint(stderr, policies.FormatDiagnostics(diags))
	}
	return cfg, true
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	f := newFlags("run", stderr, "config", "node", "log")
	if !f.parse(args, stderr, "config", "node") {
		return exitUsage
	}
	log, err := f.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "pgduet run:", err)
		return exitUsage
	}
	cfg, ok := load(f.config, stderr)
	if !ok {
		return exitProblem
	}
	a, err := agent.New(cfg, f.node, agent.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "pgduet run:", err)
		if _, nerr := cfg.Node(f.node); nerr != nil {
			return exitUsage
		}
		return exitRuntime
	}
	node, _ := cfg.Node(f.node)
	ctx, stop := signalContext()
	defer stop()
	adm := admin.New(node.Agent.Admin, a, log)
	if err := adm.Listen(); err != nil {
		fmt.Fprintf(stderr, "pgduet run: node %s: %v\n", node.Name, err)
		return exitRuntime
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adm.Serve(gctx) })
	g.Go(func() error {
		err := a.Run(gctx)
		if err == nil && ctx.Err() == nil {
			err = errors.New("agent stopped unexpectedly")
		}
		return err
	})
	if err := g.Wait(); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "pgduet run:", err)
		return exitRuntime
	}
	return exitOK
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	f := newFlags("validate", stderr, "config", "format")
	if !f.parse(args, stderr, "config") {
		return exitUsage
	}
	cfg, diags := policies.Load(f.config)
	if cfg != nil && !diags.HasErrors() {
		// Row filters are parsed here (pg_query, in ddlparse): the policies
		// package stays free of cgo.
		for _, tb := range cfg.Tables {
			if tb.Where == "" {
				continue
			}
			if _, err := ddlparse.FilterColumns(tb.Where); err != nil {
				rng := tb.DeclRange
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid row filter",
					Detail: fmt.Sprintf("The where of table %s.%s: %v.", tb.Schema, tb.Name, err), Subject: &rng})
			}
		}
	}
	if f.format == "json" {
		type diag struct {
			Severity string `json:"severity"`
			File     string `json:"file,omitempty"`
			Line     int    `json:"line,omitempty"`
			Column   int    `json:"column,omitempty"`
			Summary  string `json:"summary"`
			Detail   string `json:"detail,omitempty"`
		}
		out := struct {
			Valid       bool   `json:"valid"`
			Digest      string `json:"config_digest,omitempty"`
			Diagnostics []diag `json:"diagnostics"`
		}{Valid: !diags.HasErrors(), Diagnostics: []diag{}}
		if cfg != nil && !diags.HasErrors() {
			out.Digest = cfg.Digest()
		}
		for _, d := range diags {
			x := diag{Severity: "error", Summary: d.Summary, Detail: d.Detail}
			if d.Severity != 1 { // hcl.DiagError
				x.Severity = "warning"
			}
			if d.Subject != nil {
				x.File, x.Line, x.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
			}
			out.Diagnostics = append(out.Diagnostics, x)
		}
		writeJSON(stdout, out)
	} else if len(diags) > 0 {
		fmt.Fprint(stderr, policies.FormatDiagnostics(diags))
	}
	if diags.HasErrors() {
		return exitProblem
	}
	if f.format == "text" {
		fmt.Fprintf(stdout, "%s: valid (pair %s, nodes %s and %s, DDL source %s, config digest %s)\n",
			f.config, cfg.Pair.Name, cfg.Nodes[0].Name, cfg.Nodes[1].Name, cfg.Pair.DDLSource, cfg.Digest())
	}
	return exitOK
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	f := newFlags("status", stderr, "config", "node", "format")
	if !f.parse(args, stderr, "config", "node") {
		return exitUsage
	}
	cfg, ok := load(f.config, stderr)
	if !ok {
		return exitProblem
	}
	node, err := cfg.Node(f.node)
	if err != nil {
		fmt.Fprintln(stderr, "pgduet status:", err)
		return exitUsage
	}
	st, err := fetchStatus(node, 10*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "pgduet status: node %s: %v\n", node.Name, err)
		return exitRuntime
	}
	if f.format == "json" {
		writeJSON(stdout, st)
		return exitOK
	}
	fmt.Fprintf(stdout, "pair %s, node %s, config digest %s\n\n", st.Pair, st.Node, st.Digest)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTION\tROLE\tSTATE\tSINCE\tTRANSACTIONS\tCHANGES\tLAST LSN\tLAG\tRETAINED WAL")
	for _, d := range st.Directions {
		wal := "-"
		if d.Role == "send" {
			wal = bytesHuman(d.RetainedWAL)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s, %.1fs\t%s\n", d.Direction, d.Role, d.State,
			d.Since.Format(time.RFC3339), d.Transactions, d.Changes, d.LastLSN, bytesHuman(d.LagBytes), d.LagSeconds, wal)
	}
	tw.Flush()
	if is := st.InitialSync; is != nil {
		fmt.Fprintf(stdout, "\ninitial sync: %s\n", is.State)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tSTATE\tPARTS\tROWS\tBYTES\tPERCENT\tETA")
		for _, t := range is.Tables {
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s\t%.1f%%\t%s\n", t.Table, t.State, t.PartsDone, t.Parts, t.Rows, bytesHuman(t.Bytes), t.Percent,
				(time.Duration(t.ETASeconds) * time.Second).String())
		}
		tw.Flush()
	}
	for _, d := range st.Directions {
		if d.LastError != "" {
			fmt.Fprintf(stdout, "\n%s last error: %s\n", d.Direction, d.LastError)
		}
	}
	return exitOK
}

func bytesHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func cmdVerify(args []string, stdout, stderr io.Writer) int {
	f := newFlags("verify", stderr, "config", "format", "table")
	if !f.parse(args, stderr, "config") {
		return exitUsage
	}
	cfg, ok := load(f.config, stderr)
	if !ok {
		return exitProblem
	}
	ctx, stop := signalContext()
	defer stop()
	results, err := verifyPair(ctx, cfg, f.table)
	if err != nil {
		fmt.Fprintln(stderr, "pgduet verify:", err)
		return exitRuntime
	}
	return printVerify(stdout, cfg, results, f.format)
}

// verifyPair compares the selected tables (or one table) on both nodes.
func verifyPair(ctx context.Context, cfg *policies.Config, table string) ([]verify.Result, error) {
	conns := make([]*pgx.Conn, 2)
	for i, n := range cfg.Nodes {
		cs, err := n.Database.ConnString()
		if err != nil {
			return nil, fmt.Errorf("node %s: database: %w", n.Name, err)
		}
		c, err := pgx.Connect(ctx, cs)
		if err != nil {
			return nil, fmt.Errorf("node %s: database %s: connect: %w", n.Name, n.Database.Redacted(), err)
		}
		defer c.Close(context.Background())
		conns[i] = c
	}
	selected := func(s, t string) bool { _, ok := cfg.Selected(s, t); return ok }
	var tables []string
	if table != "" {
		s, t, ok := strings.Cut(table, ".")
		if !ok || !selected(s, t) {
			return nil, fmt.Errorf("--table %s: not a selected table of the config (give schema.table)", table)
		}
		tables = []string{table}
	} else {
		seen := map[string]bool{}
		for i, c := range conns {
			ts, err := verify.ListTables(ctx, c, selected)
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", cfg.Nodes[i].Name, err)
			}
			for _, t := range ts {
				if !seen[t] {
					seen[t] = true
					tables = append(tables, t)
				}
			}
		}
	}
	return verify.Compare(ctx, conns[0], conns[1], tables)
}

func printVerify(w io.Writer, cfg *policies.Config, results []verify.Result, format string) int {
	differ := 0
	for _, r := range results {
		if !r.Equal {
			differ++
		}
	}
	if format == "json" {
		writeJSON(w, struct {
			Nodes  [2]string       `json:"nodes"`
			Equal  bool            `json:"equal"`
			Tables []verify.Result `json:"tables"`
		}{[2]string{cfg.Nodes[0].Name, cfg.Nodes[1].Name}, differ == 0, results})
	} else {
		a, b := cfg.Nodes[0].Name, cfg.Nodes[1].Name
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "TABLE\t%s ROWS\t%s ROWS\t%s HASH\t%s HASH\tRESULT\n", strings.ToUpper(a), strings.ToUpper(b), strings.ToUpper(a), strings.ToUpper(b))
		for _, r := range results {
			res := "equal"
			switch {
			case !r.A.Exists:
				res = "missing on " + a
			case !r.B.Exists:
				res = "missing on " + b
			case !r.Equal:
				res = "DIFFERS"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", r.Table, r.A.Rows, r.B.Rows, r.A.Hash, r.B.Hash, res)
		}
		tw.Flush()
		if differ == 0 {
			fmt.Fprintf(w, "all %d tables equal on %s and %s\n", len(results), a, b)
		} else {
			fmt.Fprintf(w, "%d of %d tables differ\n", differ, len(results))
		}
	}
	if differ > 0 {
		return exitProblem
	}
	return exitOK
}

func cmdUninstall(args []string, stdout, stderr io.Writer) int {
	f := newFlags("uninstall", stderr, "config", "node")
	if !f.parse(args, stderr, "config", "node") {
		return exitUsage
	}
	cfg, ok := load(f.config, stderr)
	if !ok {
		return exitProblem
	}
	if _, err := cfg.Node(f.node); err != nil {
		fmt.Fprintln(stderr, "pgduet uninstall:", err)
		return exitUsage
	}
	ctx, stop := signalContext()
	defer stop()
	removed, err := agent.Uninstall(ctx, cfg, f.node)
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	if err != nil {
		fmt.Fprintln(stderr, "pgduet uninstall:", err)
		return exitRuntime
	}
	if len(removed) == 0 {
		fmt.Fprintf(stdout, "nothing of pgduet's left on node %s\n", f.node)
	}
	return exitOK
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pgduet demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	txs := fs.Int("transactions", 500, "transactions each node writes")
	keep := fs.Bool("keep", false, "keep the clusters' directory (and print where) instead of removing it")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	ctx, stop := signalContext()
	defer stop()
	if err := demo.Run(ctx, demo.Options{Out: stdout, Transactions: *txs, Keep: *keep}); err != nil {
		fmt.Fprintln(stderr, "pgduet demo:", err)
		return exitRuntime
	}
	return exitOK
}

// cmdPlan prints what the config makes pgduet do. Offline (or for a node
// whose database cannot be reached) it shows the settings and selections
// per node; with each database it also lists the tables selected there,
// what the next agent start changes in the publication, and what looks
// wrong. Exit 0 once the plan is printed, 1 for an invalid config.
func cmdPlan(args []string, stdout, stderr io.Writer) int {
	f := newFlags("plan", stderr, "config", "format")
	offline := f.fs.Bool("offline", false, "do not connect to the databases: settings and selections only")
	if !f.parse(args, stderr, "config") {
		return exitUsage
	}
	cfg, ok := load(f.config, stderr)
	if !ok {
		return exitProblem
	}
	p := cfg.Plan()
	if !*offline {
		for _, n := range p.Nodes {
			node, err := cfg.Node(n.Name)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			tables, err := agent.PlanTables(ctx, cfg, node)
			cancel()
			if err != nil {
				n.Live = "not read: " + err.Error()
				continue
			}
			n.Tables, n.Live = tables, "read"
		}
		agent.CrossCheckPlan(p)
		for _, n := range p.Nodes {
			n.Running = runningConfig(cfg, n.Name, p.Digest)
		}
	}
	if f.format == "json" {
		writeJSON(stdout, p)
	} else {
		fmt.Fprint(stdout, agent.FormatPlan(p))
	}
	return exitOK
}

// errUnreachable: no agent answers at the admin endpoint.
var errUnreachable = errors.New("not reachable")

// fetchStatus asks node's running agent for its status (admin /status).
func fetchStatus(node *policies.Node, timeout time.Duration) (agent.Status, error) {
	var st agent.Status
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + node.Agent.Admin + "/status")
	if err != nil {
		return st, fmt.Errorf("admin endpoint %s %w (is `pgduet run --node %s` running?): %v", node.Agent.Admin, errUnreachable, node.Name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("bad answer from %s: %w", node.Agent.Admin, err)
	}
	return st, nil
}

// runningConfig asks node's agent which config it runs, for plan: "this
// config", "config digest X", or why it could not tell.
func runningConfig(cfg *policies.Config, name, digest string) string {
	node, err := cfg.Node(name)
	if err != nil || node.Agent.Admin == "" {
		return "unknown: no admin endpoint"
	}
	st, err := fetchStatus(node, 3*time.Second)
	switch {
	case errors.Is(err, errUnreachable):
		return "not reachable at " + node.Agent.Admin + " (not running, or elsewhere)"
	case err != nil || st.Digest == "":
		return "unknown: bad answer from " + node.Agent.Admin
	case st.Digest == digest:
		return "this config"
	}
	return "config digest " + st.Digest
}
