package policies

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// setFixtureEnv sets the variables the valid fixtures read with env().
func setFixtureEnv(t *testing.T) {
	t.Setenv("PGDUET_TEST_EAST_PASSWORD", "east secret")
	t.Setenv("PGDUET_TEST_EAST_KEY_PASSWORD", "east key secret")
	t.Setenv("PGDUET_TEST_ALERT_WEBHOOK", testWebhook)
}

// testWebhook is the alert webhook of the valid fixtures, token included.
const testWebhook = "https://alerts.example/hooks/pgduet?token=fixture-token"

// validConfigs lists every config under testdata/valid: each *.hcl file and
// each directory (a split config).
func validConfigs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join("testdata/valid", e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".hcl"):
			out = append(out, p)
		case e.IsDir():
			if m, _ := filepath.Glob(filepath.Join(p, "*.hcl")); len(m) > 0 {
				out = append(out, p)
			}
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d valid fixtures found", len(out))
	}
	return out
}

func TestValidFixtures(t *testing.T) {
	setFixtureEnv(t)
	for _, p := range validConfigs(t) {
		t.Run(p, func(t *testing.T) {
			cfg, diags := Load(p)
			if len(diags) > 0 {
				t.Fatalf("want no diagnostics, got:\n%s", FormatDiagnostics(diags))
			}
			if cfg == nil || len(cfg.Nodes) != 2 || cfg.Pair.Name == "" || len(cfg.Files) == 0 {
				t.Fatalf("incomplete config: %+v", cfg)
			}
		})
	}
}

func TestDigestSplitEqualsSingle(t *testing.T) {
	split, diags := Load("testdata/valid/split")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(diags))
	}
	if len(split.Files) != 3 {
		t.Fatalf("split config: want 3 files, got %v", split.Files)
	}
	single, diags := Load("testdata/valid/split_in_one_file.hcl")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(diags))
	}
	if a, b := split.Digest(), single.Digest(); a != b {
		t.Fatalf("digest of split/ %s != digest of split_in_one_file.hcl %s\nsplit:\n%s\nsingle:\n%s",
			a, b, split.canonical(), single.canonical())
	}
	if split.DDL.Reverse != DDLReverseReject || !slices.Equal(split.DDL.Deny, []string{"DROP DATABASE", "DROP SCHEMA"}) ||
		split.MapSchema("east", "billing") != "billing_eu" {
		t.Errorf("split config: ddl %+v, billing maps to %q", split.DDL, split.MapSchema("east", "billing"))
	}
	if split.Conflicts.Retention != 7*24*time.Hour || split.PolicyOn("west", "public", "events") != PolicyOverwrite ||
		split.PolicyOn("west", "inventory", "items") != PolicyFail {
		t.Errorf("split config: conflicts %+v, tables %+v %+v", split.Conflicts, *split.Tables[0], *split.Tables[1])
	}
	if m, ok := split.ColumnsOn("east", "inventory", "items"); !ok || !m.Subset || m.Names["qty"] != "quantity" || len(m.Names) != 3 {
		t.Errorf("split config: columns of inventory.items %+v, %v", m, ok)
	}
	if len(split.Digest()) != 16 {
		t.Fatalf("digest %q: want 16 hex characters", split.Digest())
	}
}

func TestLocalhostFixtureValues(t *testing.T) {
	cfg, diags := Load("testdata/valid/localhost.hcl")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(diags))
	}
	if cfg.Pair.Name != "shop" || cfg.Pair.DDLSource != "east" || cfg.Pair.DeclRange.Start.Line != 4 {
		t.Errorf("pair = %+v", cfg.Pair)
	}
	if cfg.Nodes[0].Name != "east" || cfg.Nodes[1].Name != "west" {
		t.Errorf("nodes not in declaration order: %s, %s", cfg.Nodes[0].Name, cfg.Nodes[1].Name)
	}
	east := cfg.Nodes[0]
	want := Agent{Listen: "127.0.0.1:7420", Address: "127.0.0.1:7420", Admin: "127.0.0.1:7421", Insecure: true}
	if east.Agent != want {
		t.Errorf("east agent = %+v, want %+v", east.Agent, want)
	}
	if east.Database.SSLMode != "disable" || east.DeclRange.Start.Line != 8 {
		t.Errorf("east = %+v", east)
	}
	if cfg.Retry != (Retry{Connection: DefaultRetryConnection, Other: DefaultRetryOther}) ||
		cfg.Conflicts != (Conflicts{Policy: PolicyFail, Retention: DefaultConflictRetention}) {
		t.Errorf("retry %+v conflicts %+v", cfg.Retry, cfg.Conflicts)
	}
	if cfg.Tables[0].Conflicts != PolicyIgnore || cfg.Tables[1].Conflicts != PolicyFail {
		t.Errorf("table policies %q, %q; want ignore (given), fail (the pair's)", cfg.Tables[0].Conflicts, cfg.Tables[1].Conflicts)
	}
	if got := cfg.Tables[1]; got.Schema != "Sales" || got.Name != "Orders" {
		t.Errorf("mixed-case table = %s.%s", got.Schema, got.Name)
	}
	if ops, ok := cfg.Selected("Sales", "Orders"); !ok || !slices.Equal(ops, []Op{OpInsert, OpUpdate, OpDelete, OpTruncate}) {
		t.Errorf("Selected(Sales, Orders) = %v, %v", ops, ok)
	}
	if got := cfg.PublicationTables(); !slices.Equal(got, [][2]string{{"Sales", "Orders"}}) {
		t.Errorf("PublicationTables = %v", got)
	}
}

func TestTLSFixtureValues(t *testing.T) {
	setFixtureEnv(t)
	cfg, diags := Load("testdata/valid/tls.hcl")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(diags))
	}
	east, west := cfg.Nodes[0], cfg.Nodes[1]
	if east.Database.Password != "east secret" || east.Database.SSLPassword != "east key secret" {
		t.Errorf("env() secrets not read: %q %q", east.Database.Password, east.Database.SSLPassword)
	}
	if west.Database.Password != "west secret" {
		t.Errorf("file() secret = %q, want the file's contents without the newline", west.Database.Password)
	}
	if west.Database.SSLRootCert != "system" {
		t.Errorf("sslrootcert = %q", west.Database.SSLRootCert)
	}
	abs, _ := filepath.Abs("testdata/valid/certs/ca.pem")
	if east.Agent.TLS == nil || east.Agent.TLS.CAFile != abs || east.Agent.Insecure {
		t.Errorf("east TLS = %+v, want ca_file resolved to %s", east.Agent.TLS, abs)
	}
	if east.Agent.Admin != DefaultAdmin {
		t.Errorf("admin default = %q", east.Agent.Admin)
	}
	if cfg.Retry.Connection.Hours() != 48 || cfg.Retry.Other.Minutes() != 90 {
		t.Errorf("retry = %+v", cfg.Retry)
	}
}

// Error fixtures: testdata/error/*.hcl. Rule: a `# ERROR: <summary>` comment
// sits at the end of the line where the diagnostic's range starts (a line
// may carry several markers). The test compares the multiset of (line,
// summary) of the error diagnostics with the markers, exactly: a missing,
// an extra or a doubled diagnostic fails it.
func TestErrorFixtures(t *testing.T) {
	// env_unset.hcl relies on this variable being unset.
	t.Setenv("PGDUET_TEST_SURELY_UNSET_VARIABLE", "")
	os.Unsetenv("PGDUET_TEST_SURELY_UNSET_VARIABLE")

	files, err := filepath.Glob("testdata/error/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("want at least 20 error fixtures, found %d", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := errorMarkers(t, file)
			if len(want) == 0 {
				t.Fatal("fixture has no # ERROR: marker")
			}
			cfg, diags := Load(file)
			if cfg != nil {
				t.Error("Load returned a Config along with errors")
			}
			var got []string
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil || d.Subject.Filename != file {
					t.Errorf("diagnostic without a range in %s: %s", file, FormatDiagnostics(hcl.Diagnostics{d}))
					continue
				}
				if d.Detail == "" {
					t.Errorf("diagnostic without a detail: %s", FormatDiagnostics(hcl.Diagnostics{d}))
				}
				got = append(got, fmt.Sprintf("%d: %s", d.Subject.Start.Line, d.Summary))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("diagnostics (line: summary)\n got: %q\nwant: %q\nfull output:\n%s", got, want, FormatDiagnostics(diags))
			}
		})
	}
}

func errorMarkers(t *testing.T, file string) []string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "# ERROR:"
	var out []string
	for i, line := range strings.Split(string(src), "\n") {
		parts := strings.Split(line, marker)
		for _, p := range parts[1:] {
			out = append(out, fmt.Sprintf("%d: %s", i+1, strings.TrimSpace(p)))
		}
	}
	slices.Sort(out)
	return out
}

func TestFiveErrorsReportedInOneRun(t *testing.T) {
	_, diags := Load("testdata/error/five_errors.hcl")
	if n := len(diags.Errs()); n != 5 {
		t.Fatalf("want the 5 problems reported in one run, got %d:\n%s", n, FormatDiagnostics(diags))
	}
}

// Detail texts that users rely on.
func TestErrorDetails(t *testing.T) {
	t.Setenv("PGDUET_TEST_SURELY_UNSET_VARIABLE", "")
	os.Unsetenv("PGDUET_TEST_SURELY_UNSET_VARIABLE")
	for _, tc := range []struct{ file, want string }{
		{"unknown_attribute.hcl", `Did you mean "sslmode"?`},
		{"env_unset.hcl", `environment variable "PGDUET_TEST_SURELY_UNSET_VARIABLE" is not set`},
		{"file_missing.hcl", `no-such-secret.txt`},
		{"duplicate_node.hcl", `already declared at testdata/error/duplicate_node.hcl:5:1`},
		{"duplicate_retry.hcl", `the first one is at testdata/error/duplicate_retry.hcl:`},
		{"names_bad_case.hcl", `names.case is "title"; it must be "source" (names keep their case on the other node), "lower" or "upper".`},
		{"sync_existing_tables.hcl", `sync.existing_tables is "replace"; it must be "error" or "ignore"`},
		{"sync_parallelism.hcl", `sync.parallelism is 65; it must be a whole number from 1 to 64`},
		{"sync_throttle_alert_errors.hcl", `sync.parallelism is 1.5; it must be a whole number from 1 to 64`},
		{"throttle_bad_label.hcl", `The throttle label "bulk" is not a phase; it must be "initial" or "incremental"`},
		{"throttle_duplicate.hcl", `A throttle "initial" block is already declared at testdata/error/throttle_duplicate.hcl:32:1`},
		{"throttle_bad_rates.hcl", `throttle "initial": rows_per_second is -1; it must be a whole number of rows per second, or 0 for no limit`},
		{"throttle_bad_rates.hcl", `throttle "initial": mb_per_second is -0.5; it must be a number of megabytes per second, or 0 for no limit`},
		{"throttle_bad_rates.hcl", `throttle "incremental": rows_per_second is 100.25; it must be a whole number`},
		{"throttle_queries_incremental.hcl", `queries_per_second only applies to the initial copy`},
		{"alert_missing_webhook.hcl", `The alert block needs webhook, the http:// or https:// URL that receives the alerts`},
		{"alert_bad_webhook.hcl", `alert.webhook uses a scheme other than http or https; it must be an absolute http:// or https:// URL with a host`},
		{"alert_bad_lag_threshold.hcl", `alert.lag_threshold is "0s"; the lag above which an alert is sent must be greater than zero (the default is 30s)`},
		{"alert_duplicate.hcl", `Only one alert block is allowed in the whole config; the first one is at testdata/error/alert_duplicate.hcl:32:1`},
		{"table_conflicts_retention.hcl", `retention is set per pair, not per table`},
		{"duplicate_table_conflicts.hcl", `The table "public.orders" block already has a conflicts block at testdata/error/duplicate_table_conflicts.hcl:32:3`},
		{"bad_retention.hcl", `conflicts.retention: "30 days" is not a duration`},
		{"conflicts_policy_unknown.hcl", `"fail", "ignore", "overwrite" or "last_write_wins"`},
		{"no_transport.hcl", `either a tls block with ca_file, cert_file and key_file`},
		{"ddl_source_not_a_node.hcl", `the nodes "east" and "west"`},
		{"columns_empty.hcl", `or remove columns to replicate every column`},
		{"columns_bad_names.hcl", `"ID" names column id, which is already listed at testdata/error/columns_bad_names.hcl:32:14`},
		{"columns_bad_names.hcl", `a column is named by one part (its table is the table block's label)`},
		{"column_block_duplicate.hcl", `The table "public.orders" block already has a column block for column total at testdata/error/column_block_duplicate.hcl:30:3`},
		{"column_not_in_columns.hcl", `leaves that column out, so it is not replicated; add "\"Total\"" to columns, or remove the column block`},
		{"column_target_collision.hcl", `The column "total" block (at testdata/error/column_target_collision.hcl:31:3) and the column "net" block both rename onto column amount of the other node`},
		{"column_target_collision.hcl", `but column sku keeps its name (it is listed in columns without a column block of its own)`},
		{"column_target_collision.hcl", `(its column block at testdata/error/column_target_collision.hcl:56:3 maps it onto itself)`},
		{"column_block_bad.hcl", `The column "total" block needs target, the column's name on the other node`},
	} {
		_, diags := Load(filepath.Join("testdata/error", tc.file))
		if out := FormatDiagnostics(diags); !strings.Contains(out, tc.want) {
			t.Errorf("%s: output does not contain %q:\n%s", tc.file, tc.want, out)
		}
	}
}

// TestSpecExampleIsKnown: the whole SPEC §4 example decodes, every block
// of it enforced; nothing is unknown.
func TestSpecExampleIsKnown(t *testing.T) {
	for _, v := range []string{"PGDUET_EAST_PASSWORD", "PGDUET_EAST_KEY_PASSWORD", "PGDUET_WEST_PASSWORD"} {
		t.Setenv(v, "x")
	}
	const file = "testdata/spec_example.hcl"
	_, diags := Load(file)
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%d: %s", d.Subject.Start.Line, d.Summary))
	}
	slices.Sort(got)
	if want := errorMarkers(t, file); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q\n%s", got, want, FormatDiagnostics(diags))
	}
}
