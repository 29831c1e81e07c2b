package ddlparse

import (
	"errors"
	"strings"
	"testing"
)

func TestSplitScriptSkipsRestrict(t *testing.T) {
	// The key of \restrict may start with a digit, which PostgreSQL's scanner
	// rejects as "trailing junk after numeric literal".
	q := "--\n-- PostgreSQL database dump\n--\n\n\\restrict 2G268IxKj5SDnVNOR3Uu\n\nSET lock_timeout = 0;\n" +
		"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n\\restrict inside a body\n$$;\n" +
		"COMMENT ON FUNCTION f() IS E'\\\\restrict \\' quoted';\n" +
		"/* \\unrestrict in a comment */ CREATE TABLE \"a\\b\" (x int); -- \\q\n" +
		"\\unrestrict 2G268IxKj5SDnVNOR3Uu\r\n"
	if _, err := Split(q); err == nil {
		t.Fatal("Split accepted psql meta-commands")
	}
	stmts, err := SplitScript(q)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ tag, text string }{
		{"SET", "--\n-- PostgreSQL database dump\n--\n\n" + strings.Repeat(" ", len(`\restrict 2G268IxKj5SDnVNOR3Uu`)) + "\n\nSET lock_timeout = 0"},
		{"CREATE FUNCTION", "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n\\restrict inside a body\n$$"},
		{"COMMENT", "COMMENT ON FUNCTION f() IS E'\\\\restrict \\' quoted'"},
		{"CREATE TABLE", "/* \\unrestrict in a comment */ CREATE TABLE \"a\\b\" (x int)"},
	}
	if len(stmts) != len(want) {
		t.Fatalf("%d statements, want %d", len(stmts), len(want))
	}
	for i, s := range stmts {
		if s.Tag != want[i].tag || s.Text != want[i].text {
			t.Errorf("statement %d: %s %q, want %s %q", i, s.Tag, s.Text, want[i].tag, want[i].text)
		}
		if i > 0 && q[s.Offset:s.Offset+len(s.Text)] != s.Text {
			t.Errorf("statement %d: Offset %d does not point at its text", i, s.Offset)
		}
	}
	if out, err := Rewrite(stmts[1], Mapping{}, Options{}); err != nil || !strings.Contains(out, "\\restrict inside a body") {
		t.Errorf("the body lost its line: %q, %v", out, err)
	}
}

func TestSplitScriptRefusesOtherMetaCommands(t *testing.T) {
	for _, q := range []string{
		"\\connect other\nCREATE TABLE t (x int);",
		"CREATE TABLE t (x int);\n\\restrict k\n\\i evil.sql\n",
		"SELECT 1;\n  \\set ON_ERROR_STOP on\n",
	} {
		stmts, err := SplitScript(q)
		var pe *ParseError
		if !errors.As(err, &pe) || stmts != nil {
			t.Errorf("SplitScript(%q) = %d statements, %v; want a ParseError", q, len(stmts), err)
			continue
		}
		if !strings.Contains(pe.Message, "meta-command") || !strings.HasPrefix(pe.Near, `\`) {
			t.Errorf("SplitScript(%q): %+v", q, pe)
		}
	}
	// Other parse errors are reported as Split reports them.
	_, err := SplitScript("\\restrict k\nSELEC 1;\n\\unrestrict k\n")
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(pe.Message, `"SELEC"`) {
		t.Errorf("got %v", err)
	}
}
