package policies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadPathProblems(t *testing.T) {
	empty := t.TempDir()
	writeFiles(t, empty, map[string]string{"README.md": "not a config", "x.hcl/keep": ""})
	for _, tc := range []struct{ path, want string }{
		{empty, "No configuration files"},
		{filepath.Join(empty, "missing.hcl"), "Cannot read configuration"},
	} {
		cfg, diags := Load(tc.path)
		if cfg != nil || !strings.Contains(FormatDiagnostics(diags), tc.want) {
			t.Errorf("Load(%s) = %v, %s; want %q", tc.path, cfg, FormatDiagnostics(diags), tc.want)
		}
	}
}

func TestLoadDirDuplicatesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.hcl": baseNodes + `
retry { other = "1m" }
table "public.orders" {}
schema "public" {}
`,
		"b.hcl": `
retry { other = "2m" }
table "PUBLIC.ORDERS" {}
schema "public" {}
pair "shop" { ddl_source = "west" }
`,
	})
	_, diags := Load(dir)
	out := FormatDiagnostics(diags)
	a := filepath.Join(dir, "a.hcl")
	b := filepath.Join(dir, "b.hcl")
	for _, want := range []string{
		b + ":2:1: error: Duplicate retry block: Only one retry block is allowed in the whole config; the first one is at " + a + ":29:1.",
		b + ":3:7: error: Duplicate table block: Table public.orders is already selected by the table block at " + a + ":30:1",
		b + ":4:8: error: Duplicate schema block",
		b + ":5:1: error: Duplicate pair block: Only one pair block is allowed in the whole config; the first one is at " + a + ":2:1.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if n := countLines(out); n != 4 {
		t.Errorf("want 4 diagnostics, got %d:\n%s", n, out)
	}
}

func TestFileAndEnvFunctions(t *testing.T) {
	dir := t.TempDir()
	conf := strings.Replace(baseNodes, `url = "postgres://pgduet@localhost:5432/shop"`, `
    url         = env("PGDUET_TEST_URL")
    password    = file("secrets/pw.txt")
    sslpassword = file("`+filepath.Join(dir, "abs.txt")+`")
    sslcert     = "certs/east.pem"`, 1)
	writeFiles(t, dir, map[string]string{
		"conf/pgduet.hcl":        conf,
		"conf/secrets/pw.txt":    "s3cret\r\n",
		"abs.txt":                "two\nlines\n\n",
		"conf/secrets/empty.txt": "",
	})
	t.Setenv("PGDUET_TEST_URL", "postgres://pgduet@db:5432/shop")
	cfg, diags := Load(filepath.Join(dir, "conf"))
	if len(diags) != 0 {
		t.Fatal(FormatDiagnostics(diags))
	}
	db := cfg.Nodes[0].Database
	if db.URL != "postgres://pgduet@db:5432/shop" || db.Password != "s3cret" || db.SSLPassword != "two\nlines\n" {
		t.Errorf("database = %+v", db)
	}
	if want := filepath.Join(dir, "conf", "certs", "east.pem"); db.SSLCert != want {
		t.Errorf("sslcert = %q, want it resolved against the config's directory: %q", db.SSLCert, want)
	}
}

func TestFunctionErrorsReportedOnce(t *testing.T) {
	t.Setenv("PGDUET_TEST_UNSET", "")
	os.Unsetenv("PGDUET_TEST_UNSET")
	dir := t.TempDir()
	for _, tc := range []struct{ expr, want string }{
		{`env("PGDUET_TEST_UNSET")`, `the environment variable "PGDUET_TEST_UNSET" is not set`},
		{`file("nope.txt")`, `cannot read file "nope.txt" (resolved to`},
		{`file(".")`, `not a regular file`},
		{`env(null)`, `Invalid function argument`},
		{`"${env("PGDUET_TEST_UNSET")}x"`, `is not set`},
		{`env("A", "B")`, `Too many function arguments`},
	} {
		src := strings.Replace(baseNodes, `url = "postgres://pgduet@localhost:5432/shop"`, `url = `+tc.expr, 1)
		_, diags := Parse(filepath.Join(dir, "c.hcl"), []byte(src))
		out := FormatDiagnostics(diags)
		if len(diags) != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: want one diagnostic containing %q, got:\n%s", tc.expr, tc.want, out)
		}
	}
}

func TestFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"big": strings.Repeat("x", maxFileSize+1), "bin": "\xff\xfe"})
	for name, want := range map[string]string{"big": "larger than", "bin": "not valid UTF-8"} {
		src := strings.Replace(baseNodes, `url = "postgres://pgduet@localhost:5432/shop"`, `url = file("`+name+`")`, 1)
		_, diags := Parse(filepath.Join(dir, "c.hcl"), []byte(src))
		if out := FormatDiagnostics(diags); !strings.Contains(out, want) {
			t.Errorf("file(%s): want %q in:\n%s", name, want, out)
		}
	}
}

func TestSecretWarnings(t *testing.T) {
	src := strings.Replace(baseNodes, `url = "postgres://pgduet@localhost:5432/shop"`,
		`url = "postgres://pgduet:pw@localhost:5432/shop"
    password = "literal"`, 1)
	cfg, diags := Parse("w.hcl", []byte(src))
	if cfg == nil || diags.HasErrors() {
		t.Fatalf("warnings must not fail the load:\n%s", FormatDiagnostics(diags))
	}
	out := FormatDiagnostics(diags)
	if countLines(out) != 2 || strings.Count(out, "warning: Secret in the config file") != 2 || strings.Contains(out, "literal") {
		t.Errorf("want two secret warnings (without the secret), got:\n%s", out)
	}
}

func TestSyntaxErrorsStopBeforeDecoding(t *testing.T) {
	out := parseErrors(t, "pair \"shop\" {\n  ddl_source = \n}\nnode {")
	if strings.Contains(out, "Missing") {
		t.Errorf("decoding errors reported on a file that does not parse:\n%s", out)
	}
}

func TestNodeCountsAndNames(t *testing.T) {
	long := strings.Replace(baseNodes, `node "east"`, `node "a23456789012345678901"`, 1)
	long = strings.Replace(long, `ddl_source = "east"`, `ddl_source = "a23456789012345678901"`, 1)
	if out := parseErrors(t, long); !strings.Contains(out, "Invalid node name") || countLines(out) != 1 {
		t.Errorf("21-character node name:\n%s", out)
	}
	ok := strings.Replace(baseNodes, `node "east"`, `node "a2345678901234567890"`, 1)
	ok = strings.Replace(ok, `ddl_source = "east"`, `ddl_source = "a2345678901234567890"`, 1)
	mustParse(t, "ok.hcl", ok)
}

func TestFormatDiagnostics(t *testing.T) {
	rng := hcl.Range{Filename: "conf/a.hcl", Start: hcl.Pos{Line: 3, Column: 7, Byte: 20}, End: hcl.Pos{Line: 3, Column: 9, Byte: 22}}
	got := FormatDiagnostics(hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Invalid value", Detail: "first line\n  second line", Subject: &rng},
		{Severity: hcl.DiagWarning, Summary: "Secret in the config file", Detail: "Use env().", Subject: &rng},
		{Severity: hcl.DiagError, Summary: "No configuration files"},
		nil,
	})
	want := "conf/a.hcl:3:7: error: Invalid value: first line second line\n" +
		"conf/a.hcl:3:7: warning: Secret in the config file: Use env().\n" +
		"error: No configuration files\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"720m", 12 * time.Hour},
		{"10m", 10 * time.Minute},
		{"2d", 48 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"1d12h30m", 36*time.Hour + 30*time.Minute},
		{"-1d", -24 * time.Hour},
		{"0", 0},
		{"90s", 90 * time.Second},
	} {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "d", "2 d", "2days", "12 hours", "1d-5h", "--1m", "1e3d", "99999999999d", "1d9999999999h", "10"} {
		if got, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, got)
		}
	}
}

func TestCheckHostPort(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		needHost, zeroPort bool
		ok                 bool
	}{
		{"0.0.0.0:7420", false, true, true},
		{":7420", false, true, true},
		{":7420", true, false, false},
		{"[::1]:7420", true, false, true},
		{"agent-east.internal:7420", true, false, true},
		{"127.0.0.1:0", false, true, true},
		{"127.0.0.1:0", true, false, false},
		{"127.0.0.1", false, true, false},
		{"host:http", false, true, false},
		{"host:65536", false, true, false},
		{"host:07420", false, true, false},
		{"a b:1", false, true, false},
	} {
		if err := checkHostPort(tc.in, tc.needHost, tc.zeroPort); (err == nil) != tc.ok {
			t.Errorf("checkHostPort(%q, %v, %v) = %v, want ok=%v", tc.in, tc.needHost, tc.zeroPort, err, tc.ok)
		}
	}
}
