package examples_test

import (
	"io/fs"
	"testing"

	"github.com/pgduet/pgduet/examples"
	"github.com/pgduet/pgduet/policies"
)

// TestExamplesDecode loads every example config, with the environment variables
// the examples read set to dummy values.
func TestExamplesDecode(t *testing.T) {
	for _, v := range []string{"PGDUET_DEMO_PASSWORD", "PGDUET_EAST_PASSWORD", "PGDUET_WEST_PASSWORD",
		"PGDUET_EAST_KEY_PASSWORD", "PGDUET_WEST_KEY_PASSWORD"} {
		t.Setenv(v, "secret")
	}
	t.Setenv("PGDUET_ALERT_WEBHOOK", "https://alerts.example/pgduet?token=secret")
	for k, v := range map[string]string{"PGDUET_EAST_PGPORT": "5432", "PGDUET_WEST_PGPORT": "5433",
		"PGDUET_EAST_PORT": "7420", "PGDUET_WEST_PORT": "7430", "PGDUET_EAST_ADMIN": "7421", "PGDUET_WEST_ADMIN": "7431"} {
		t.Setenv(k, v)
	}
	files, err := fs.Glob(examples.Files, "*.hcl")
	if err != nil || len(files) < 2 {
		t.Fatalf("embedded examples: %v %v", files, err)
	}
	for _, f := range files {
		src, err := examples.Files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg, diags := policies.Parse(f, src)
		if diags.HasErrors() {
			t.Errorf("%s:\n%s", f, policies.FormatDiagnostics(diags))
			continue
		}
		if len(cfg.Nodes) != 2 || cfg.Digest() == "" {
			t.Errorf("%s: %d nodes, digest %q", f, len(cfg.Nodes), cfg.Digest())
		}
	}
}
