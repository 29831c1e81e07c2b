package policies

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzParse: Parse must never panic, must return a Config exactly when there
// is no error, must give every error a source range, and a Config it returns
// must answer every question without panicking.
//
//	go test ./policies/ -run '^$' -fuzz FuzzParse -fuzztime 1m
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	more, _ := filepath.Glob("testdata/valid/*/*.hcl")
	for _, p := range append(seeds, more...) {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(baseNodes + `table "\"A\".\"B\"" { operations = ["truncate"] }`))
	f.Add([]byte(baseNodes + mappingSel + `ddl { reverse = "reject" }`))
	f.Add([]byte(baseNodes + conflictsSel))
	f.Add([]byte(baseNodes + columnsSel))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := Parse("testdata/fuzz.hcl", src)
		_ = FormatDiagnostics(diags)
		if diags.HasErrors() {
			if cfg != nil {
				t.Fatal("Config returned along with errors")
			}
			for _, d := range diags.Errs() {
				if d.(*hcl.Diagnostic).Subject == nil {
					t.Fatalf("error without a range: %v", d)
				}
			}
			return
		}
		if cfg == nil || len(cfg.Nodes) != 2 {
			t.Fatalf("no errors but config %+v", cfg)
		}
		_ = cfg.Digest()
		_ = cfg.PublicationSchemas()
		_ = cfg.PublicationTables()
		for _, n := range cfg.Nodes {
			// A secret that cannot be read here is deferred to ConnString
			// (env/file of the other node); any other failure is a bug.
			if _, err := n.Database.ConnString(); err != nil && n.Database.secretErr == nil {
				t.Fatalf("validated url does not give a connection string: %v", err)
			}
			_ = n.Database.Redacted()
			if cfg.Peer(n.Name) == nil {
				t.Fatal("no peer")
			}
		}
		for _, s := range cfg.Schemas {
			cfg.Selected(s.Name, "x")
		}
		for _, tb := range cfg.Tables {
			if _, ok := cfg.Selected(tb.Schema, tb.Name); !ok {
				t.Fatalf("table block %s.%s not selected", tb.Schema, tb.Name)
			}
		}
		// Name mapping: a table block's table maps to its target and back,
		// and is selected on the other node under its target name.
		source, other := cfg.Pair.DDLSource, cfg.Peer(cfg.Pair.DDLSource).Name
		for _, tb := range cfg.Tables {
			if s, n := cfg.MapTable(source, tb.Schema, tb.Name); s != tb.TargetSchema || n != tb.TargetName {
				t.Fatalf("MapTable(%s, %s.%s) = %s.%s, want its target", source, tb.Schema, tb.Name, s, n)
			}
			if s, n := cfg.MapTable(other, tb.TargetSchema, tb.TargetName); s != tb.Schema || n != tb.Name {
				t.Fatalf("MapTable(%s, %s.%s) = %s.%s, want %s.%s", other, tb.TargetSchema, tb.TargetName, s, n, tb.Schema, tb.Name)
			}
			if _, ok := cfg.SelectedOn(other, tb.TargetSchema, tb.TargetName); !ok {
				t.Fatalf("target %s.%s of table block %s.%s not selected on %s", tb.TargetSchema, tb.TargetName, tb.Schema, tb.Name, other)
			}
			if !cfg.SchemaSelectedOn(other, tb.TargetSchema) {
				t.Fatalf("schema %s of a table block's target not selected on %s", tb.TargetSchema, other)
			}
		}
		for _, s := range cfg.Schemas {
			if cfg.MapSchema(source, s.Name) != s.Target || cfg.MapSchema(other, s.Target) != s.Name {
				t.Fatalf("schema %s <-> %s does not map both ways", s.Name, s.Target)
			}
		}
		_ = cfg.PublicationSchemasOn(other)
		_ = cfg.PublicationTablesOn(other)
		_ = cfg.SchemaTargets()
		_ = cfg.TableTargets()
		// Conflict policies: only enforced ones, a table block's under its
		// names on both nodes.
		if !slices.Contains(conflictPolicies, cfg.Conflicts.Policy) || cfg.Conflicts.Retention <= 0 {
			t.Fatalf("conflicts %+v", cfg.Conflicts)
		}
		for _, tb := range cfg.Tables {
			if !slices.Contains(conflictPolicies, tb.Conflicts) {
				t.Fatalf("table %s.%s has policy %q", tb.Schema, tb.Name, tb.Conflicts)
			}
			if p := cfg.PolicyOn(source, tb.Schema, tb.Name); p != tb.Conflicts {
				t.Fatalf("PolicyOn(%s, %s.%s) = %q, want %q", source, tb.Schema, tb.Name, p, tb.Conflicts)
			}
			if p := cfg.PolicyOn(other, tb.TargetSchema, tb.TargetName); p != tb.Conflicts {
				t.Fatalf("PolicyOn(%s, %s.%s) = %q, want %q", other, tb.TargetSchema, tb.TargetName, p, tb.Conflicts)
			}
		}
		// Columns: the two nodes' maps are inverses of each other, and no two
		// columns share a name on the other node.
		for _, tb := range cfg.Tables {
			fm, fok := cfg.ColumnsOn(source, tb.Schema, tb.Name)
			bm, bok := cfg.ColumnsOn(other, tb.TargetSchema, tb.TargetName)
			if fok != bok || fm.Subset != bm.Subset || len(fm.Names) != len(bm.Names) || fok != (tb.Columns != nil || tb.ColumnTargets != nil) {
				t.Fatalf("table %s.%s: ColumnsOn %+v, %v on %s and %+v, %v on %s", tb.Schema, tb.Name, fm, fok, source, bm, bok, other)
			}
			for col, peer := range fm.Names {
				if back, ok := bm.Map(peer); !ok || back != col {
					t.Fatalf("table %s.%s: column %s maps to %s, which maps back to %q, %v", tb.Schema, tb.Name, col, peer, back, ok)
				}
			}
			for src, dst := range tb.ColumnTargets {
				if src == dst {
					t.Fatalf("table %s.%s: a rename of %s onto itself is kept", tb.Schema, tb.Name, src)
				}
			}
		}
		if !slices.Contains(ddlReverseModes, cfg.DDL.Reverse) {
			t.Fatalf("ddl.reverse %q", cfg.DDL.Reverse)
		}
	})
}

// FuzzConnString: the url parser never panics and never puts the input in
// an error it returns for a string holding a password keyword.
func FuzzConnString(f *testing.F) {
	for _, s := range []string{
		"postgres://u:p@h:5432/db?sslmode=require",
		"host=/tmp port=5432 dbname='a b' password='x\\'y'",
		"postgresql://[::1]:5432,h2/db",
		"postgres://%zz@h/db",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kv, err := parseConnString(s)
		if err != nil {
			return
		}
		back, err := parseConnDSN(kv.String())
		if err != nil {
			t.Fatalf("rendered %q does not parse back: %v", kv.String(), err)
		}
		if len(back) != len(kv) {
			t.Fatalf("round trip changed %v into %v", kv, back)
		}
		for i := range kv {
			if kv[i] != back[i] {
				t.Fatalf("round trip changed %q into %q", kv[i], back[i])
			}
		}
	})
}

// FuzzGlob: compiling and matching never panic; a pattern that compiles
// matches the literal name it spells when it has no special characters.
func FuzzGlob(f *testing.F) {
	for _, s := range []string{"*", "tmp_*", "log_[0-9]?", `a\*`, "[!a-z]", "[", "[]]"} {
		f.Add(s, "tmp_x")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		_, _ = compileGlob(pattern)
		_ = globMatch(pattern, name)
	})
}
