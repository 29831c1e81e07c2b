package policies

import (
	"strings"
	"testing"
)

// baseNodes is a valid pair and two nodes; tests append selections.
const baseNodes = `
pair "shop" {
  ddl_source = "east"
}

node "east" {
  database {
    url = "postgres://pgduet@localhost:5432/shop"
  }
  agent {
    listen   = "127.0.0.1:7420"
    address  = "127.0.0.1:7420"
    insecure = true
  }
}

node "west" {
  database {
    url = "postgres://pgduet@localhost:5433/shop"
  }
  agent {
    listen   = "127.0.0.1:7430"
    address  = "127.0.0.1:7430"
    admin    = "127.0.0.1:7431"
    insecure = true
  }
}
`

// mustParse parses src (named name) and fails the test on any error.
func mustParse(t *testing.T, name, src string) *Config {
	t.Helper()
	cfg, diags := Parse(name, []byte(src))
	if diags.HasErrors() {
		t.Fatalf("parse %s:\n%s\nsource:\n%s", name, FormatDiagnostics(diags), src)
	}
	return cfg
}

// parseErrors parses src and returns the formatted diagnostics.
func parseErrors(t *testing.T, src string) string {
	t.Helper()
	cfg, diags := Parse("test.hcl", []byte(src))
	if !diags.HasErrors() {
		t.Fatalf("want errors, got none for:\n%s", src)
	}
	if cfg != nil {
		t.Fatal("Parse returned a Config along with errors")
	}
	return FormatDiagnostics(diags)
}

func countLines(s string) int { return strings.Count(s, "\n") }
