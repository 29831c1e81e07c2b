package policies

import (
	"strings"
	"testing"
	"time"
)

func TestSyncThrottleAlertFixtureValues(t *testing.T) {
	setFixtureEnv(t)
	cfg, diags := Load("testdata/valid/sync_throttle_alert.hcl")
	if len(diags) > 0 {
		t.Fatal(FormatDiagnostics(diags))
	}
	if s := cfg.Sync; s.Schema || !s.Data || s.ExistingTables != ExistingTablesIgnore || s.Parallelism != 8 || s.DeclRange.Start.Line != 35 {
		t.Errorf("sync = %+v", s)
	}
	if want := (Throttle{RowsPerSecond: 50000, MBPerSecond: 12.5, QueriesPerSecond: 20}); cfg.Throttle.Initial != want {
		t.Errorf("throttle initial = %+v, want %+v", cfg.Throttle.Initial, want)
	}
	if want := (Throttle{MBPerSecond: 0.5}); cfg.Throttle.Incremental != want {
		t.Errorf("throttle incremental = %+v, want %+v", cfg.Throttle.Incremental, want)
	}
	if a := cfg.Alert; a == nil || a.Webhook != testWebhook || a.LagThreshold != 150*time.Second || a.DeclRange.Start.Line != 52 {
		t.Errorf("alert = %+v", a)
	}
}

// Without the blocks: the defaults, unlimited throttles and no alerts.
func TestSyncThrottleAlertDefaults(t *testing.T) {
	for _, src := range []string{
		baseNodes,
		baseNodes + "sync {}\nthrottle \"initial\" {}\nthrottle \"incremental\" {}\n",
		baseNodes + "sync {\n  schema = null\n  parallelism = null\n}\n",
	} {
		cfg := mustParse(t, "defaults.hcl", src)
		want := DefaultSync()
		want.DeclRange = cfg.Sync.DeclRange
		if cfg.Sync != want || cfg.Sync.Parallelism != 4 || !cfg.Sync.Schema || !cfg.Sync.Data || cfg.Sync.ExistingTables != "error" {
			t.Errorf("sync = %+v, want the defaults", cfg.Sync)
		}
		if cfg.Throttle != (Throttles{}) {
			t.Errorf("throttle = %+v, want unlimited", cfg.Throttle)
		}
		if cfg.Alert != nil {
			t.Errorf("alert = %+v, want nil", cfg.Alert)
		}
	}
	if cfg := mustParse(t, "none.hcl", baseNodes); cfg.Sync.DeclRange != (Sync{}).DeclRange {
		t.Errorf("sync.DeclRange = %v without a sync block", cfg.Sync.DeclRange)
	}
	cfg := mustParse(t, "alert.hcl", baseNodes+`alert { webhook = "http://127.0.0.1:9000/hook" }`)
	if cfg.Alert == nil || cfg.Alert.LagThreshold != 30*time.Second {
		t.Errorf("alert = %+v, want the default lag threshold", cfg.Alert)
	}
}

func TestSyncSettings(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Sync
	}{
		{"data = true\nschema = false", Sync{Data: true, ExistingTables: "error", Parallelism: 4}},
		{"data = false\nschema = true", Sync{Schema: true, ExistingTables: "error", Parallelism: 4}},
		{"data = false\nschema = false", Sync{ExistingTables: "error", Parallelism: 4}},
		{`existing_tables = "ignore"`, Sync{Schema: true, Data: true, ExistingTables: "ignore", Parallelism: 4}},
		{"parallelism = 1", Sync{Schema: true, Data: true, ExistingTables: "error", Parallelism: 1}},
		{"parallelism = 64", Sync{Schema: true, Data: true, ExistingTables: "error", Parallelism: 64}},
		{"parallelism = 16.0", Sync{Schema: true, Data: true, ExistingTables: "error", Parallelism: 16}},
	} {
		cfg := mustParse(t, "sync.hcl", baseNodes+"sync {\n"+tc.body+"\n}\n")
		got := cfg.Sync
		got.DeclRange = Sync{}.DeclRange
		if got != tc.want {
			t.Errorf("%q: sync = %+v, want %+v", tc.body, got, tc.want)
		}
	}
	for _, bad := range []string{"parallelism = 0", "parallelism = -1", "parallelism = 65", "parallelism = 4.5",
		"parallelism = 1e100", `parallelism = "many"`, `existing_tables = "Error"`, `existing_tables = ""`, `schema = "maybe"`} {
		if out := parseErrors(t, baseNodes+"sync {\n"+bad+"\n}\n"); countLines(out) != 1 {
			t.Errorf("%q: want one error, got:\n%s", bad, out)
		}
	}
}

func TestThrottleRates(t *testing.T) {
	cfg := mustParse(t, "throttle.hcl", baseNodes+`
throttle "incremental" {
  rows_per_second = 1e6
  mb_per_second   = 0.25
}
throttle "initial" {
  queries_per_second = "40"
}
`)
	if want := (Throttles{Initial: Throttle{QueriesPerSecond: 40}, Incremental: Throttle{RowsPerSecond: 1e6, MBPerSecond: 0.25}}); cfg.Throttle != want {
		t.Errorf("throttle = %+v, want %+v", cfg.Throttle, want)
	}
	for _, bad := range []string{
		`throttle "initial" { rows_per_second = -0.0001 }`,
		`throttle "initial" { rows_per_second = 0.5 }`,
		`throttle "initial" { mb_per_second = -1 }`,
		`throttle "initial" { mb_per_second = 1e400 }`,
		`throttle "initial" { mb_per_second = "inf" }`,
		`throttle "initial" { queries_per_second = 1.25 }`,
		`throttle "initial" { queries_per_second = true }`,
		`throttle "incremental" { queries_per_second = 0 }`,
		`throttle "copy" {}`,
		"throttle \"initial\" {}\nthrottle \"initial\" {}",
	} {
		if out := parseErrors(t, baseNodes+bad+"\n"); countLines(out) != 1 {
			t.Errorf("%q: want one error, got:\n%s", bad, out)
		}
	}
}

func TestAlertWebhook(t *testing.T) {
	for _, ok := range []string{
		"https://alerts.example/pgduet",
		"http://127.0.0.1:9000/hook",
		"HTTPS://alerts.example",
		"https://[::1]:8443/hook?token=abc#x",
		"https://user:pass@alerts.example/hook",
	} {
		cfg := mustParse(t, "alert.hcl", baseNodes+"alert { webhook = \""+ok+"\" }\n")
		if cfg.Alert == nil || cfg.Alert.Webhook != ok {
			t.Errorf("%q: alert = %+v", ok, cfg.Alert)
		}
	}
	for _, lag := range []string{`"-1s"`, `"0"`, `"1 minute"`, `30`} {
		if out := parseErrors(t, baseNodes+"alert {\n  webhook = \"https://a.example\"\n  lag_threshold = "+lag+"\n}\n"); countLines(out) != 1 {
			t.Errorf("lag_threshold = %s: want one error, got:\n%s", lag, out)
		}
	}
	if out := parseErrors(t, baseNodes+"alert {\n  webhook = null\n}\n"); !strings.Contains(out, "Missing required argument") {
		t.Errorf("webhook = null: want the missing-argument error, got:\n%s", out)
	}
}

// The webhook may carry a token: an invalid one is never quoted, in whole
// or in part, and a valid one written literally gets no warning.
func TestWebhookNeverInDiagnostics(t *testing.T) {
	const token = "tok3n-s3cret"
	for _, bad := range []string{
		"ftp://alerts.example/" + token,
		"alerts.example/" + token,
		token,
		"https:///" + token,
		"https://:443/" + token,
		"https:" + token,
		"https://alerts.example/%zz" + token,
		"https://alerts example/" + token,
		"mailto:" + token + "@example.com",
		"",
	} {
		out := parseErrors(t, baseNodes+"alert { webhook = \""+bad+"\" }\n")
		if bad != "" && strings.Contains(out, token) {
			t.Errorf("%q: the diagnostic quotes the webhook:\n%s", bad, out)
		}
		if countLines(out) != 1 || !strings.Contains(out, "Invalid webhook URL") || !strings.Contains(out, "alert.webhook") {
			t.Errorf("%q: want one Invalid webhook URL error, got:\n%s", bad, out)
		}
	}
	t.Setenv("PGDUET_TEST_BAD_WEBHOOK", "gopher://alerts.example/"+token)
	if out := parseErrors(t, baseNodes+`alert { webhook = env("PGDUET_TEST_BAD_WEBHOOK") }`+"\n"); strings.Contains(out, token) {
		t.Errorf("the diagnostic quotes the webhook read with env():\n%s", out)
	}
	_, diags := Parse("w.hcl", []byte(baseNodes+"alert { webhook = \"https://alerts.example/?token="+token+"\" }\n"))
	if len(diags) != 0 {
		t.Errorf("a literal webhook: want no diagnostics, got:\n%s", FormatDiagnostics(diags))
	}
}

func TestSyncThrottleAlertErrorsInOneRun(t *testing.T) {
	_, diags := Load("testdata/error/sync_throttle_alert_errors.hcl")
	if n := len(diags.Errs()); n != 9 {
		t.Fatalf("want the 9 problems reported in one run, got %d:\n%s", n, FormatDiagnostics(diags))
	}
}
