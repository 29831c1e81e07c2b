package ddlparse

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// FuzzSplitRewrite feeds arbitrary query strings through the whole package:
// Split, Match (with rows made up from the statements) and Rewrite under a
// mapping. Nothing may panic, and Rewrite's output must parse back as one
// statement (Rewrite checks that itself and turns a panic into an
// "internal error", which fails the fuzz test here).
func FuzzSplitRewrite(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txtar")
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		in, ok := section(ar, "input.sql")
		if !ok {
			continue
		}
		f.Add(in)
		if stmts, err := Split(in); err == nil {
			for _, s := range stmts {
				f.Add(s.Text)
			}
		}
	}
	dumps, _ := filepath.Glob("testdata/pgdump/*.sql")
	for _, file := range dumps {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if stmts, err := SplitScript(string(b)); err == nil {
			for _, s := range stmts {
				f.Add(s.Text)
			}
		}
	}
	f.Add("SELEC broken; CREATE TABLE t (a int)")
	f.Add("CREATE TABLE \"\" (a int)")

	m := Mapping{
		Schemas: map[string]string{"app": "app_copy", "public": "pub2", "crm": "crm2"},
		Tables: map[QName]QName{
			{Schema: "app", Name: "orders"}:   {Schema: "app_copy", Name: "orders2"},
			{Schema: "public", Name: "t"}:     {Schema: "pub2", Name: "t2"},
			{Schema: "crm", Name: "accounts"}: {Schema: "crm2", Name: "clients"},
		},
		Columns: map[Column]string{
			{Schema: "app", Table: "orders", Name: "note"}:     "memo",
			{Schema: "public", Table: "t", Name: "a"}:          "a2",
			{Schema: "crm", Table: "accounts", Name: "region"}: "area",
		},
	}
	f.Fuzz(func(t *testing.T, query string) {
		stmts, err := Split(query)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Split error %T %v is not a ParseError", err, err)
			}
			return
		}
		var events []Event
		for _, s := range stmts {
			if !firesEventTriggers(s.Tag, s.Kind) {
				continue
			}
			e := Event{Event: eventCommandEnd, Tag: s.Tag, ObjectType: "table"}
			for _, o := range s.Objects {
				if !o.Ref {
					e.Identity = QName{Schema: o.Schema, Name: o.Name}.String()
					e.ObjectType = o.Type
					break
				}
			}
			events = append(events, e)
		}
		if _, err := Match(stmts, events); err != nil && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Match: %v", err)
		}
		for _, s := range stmts {
			if s.Kind != KindDDL {
				continue
			}
			for _, o := range []Options{{SearchPath: `"$user", public, app`}, {StripConcurrently: true}} {
				out, err := Rewrite(s, m, o)
				if err != nil {
					if strings.Contains(err.Error(), "internal error") {
						t.Fatalf("Rewrite(%q): %v", s.Text, err)
					}
					continue
				}
				if _, err := Split(out); err != nil {
					t.Fatalf("Rewrite(%q) = %q, which does not parse: %v", s.Text, out, err)
				}
			}
		}
	})
}
