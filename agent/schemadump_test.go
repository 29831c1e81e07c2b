package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgduet/pgduet/agent/localpg"
)

// Helpers for schema comparisons: pg_dump of one schema, normalised, and a
// small line diff to show where two dumps part.

// dumpSchema runs `pg_dump --schema-only` of schema (and of every extension:
// with --schema alone pg_dump leaves CREATE EXTENSION out, even for an
// extension whose objects live in that schema) against dsn and returns the
// normalised output. Owners and privileges are kept: the corpus runs as the
// superuser on both nodes, and grants are part of what must replicate.
// Publications are pgduet's own machinery, not the schema under test.
func dumpSchema(ctx context.Context, dsn, schema string) (string, error) {
	bin, err := localpg.FindBin()
	if err != nil {
		return "", err
	}
	pgDump := filepath.Join(bin, "pg_dump")
	if _, err := os.Stat(pgDump); err != nil {
		return "", fmt.Errorf("pg_dump not found next to initdb in %s (install the PostgreSQL client binaries, e.g. apt-get install -y postgresql): %w", bin, err)
	}
	cmd := exec.CommandContext(ctx, pgDump, "--schema-only", "--schema="+schema, "--extension=*",
		"--no-publications", "--no-subscriptions", "--dbname="+dsn)
	// Everything comes from the DSN, not from PG* settings of whoever runs the tests.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=30")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pg_dump --schema=%s: %v\n%s", schema, err, strings.TrimSpace(stderr.String()))
	}
	return normalizeDump(stdout.String()), nil
}

// normalizeDump removes what differs between two dumps of identical schemas:
//   - "--" comment lines (the dump's header names the server and pg_dump
//     versions; each object's header comment is redundant with its SQL);
//   - the preamble: SET lines and SELECT pg_catalog.set_config(...), which
//     pg_dump also emits between objects (default_tablespace,
//     default_table_access_method);
//   - \restrict and \unrestrict lines: since 15.14 (CVE-2025-8714) pg_dump
//     brackets its output with a psql meta-command carrying a key that is
//     random on every run;
//   - runs of blank lines (collapsed to one; leading and trailing ones removed).
//
// Nothing else: both nodes run the same PostgreSQL build, so OIDs never appear
// and every object prints the same way.
func normalizeDump(s string) string {
	var out []string
	blank := true // drop leading blank lines
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		l = strings.TrimRight(l, " \t")
		switch {
		case strings.HasPrefix(l, "--"),
			strings.HasPrefix(l, "SET "),
			strings.HasPrefix(l, "SELECT pg_catalog.set_config("),
			strings.HasPrefix(l, `\restrict `), strings.HasPrefix(l, `\unrestrict `):
			continue
		case l == "":
			if blank {
				continue
			}
			blank = true
		default:
			blank = false
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}

// lineDiff returns a unified-style diff of a and b (by line), with context
// lines around each change, or "" when they are equal. Output is capped at
// maxLines lines. The common prefix and suffix are cut first; the rest is
// diffed by longest common subsequence, which is fine for schema dumps.
func lineDiff(aName, bName, a, b string, context, maxLines int) string {
	if a == b {
		return ""
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	am, bm := al[pre:len(al)-suf], bl[pre:len(bl)-suf]

	// op: ' ' both, '-' only in a, '+' only in b; line numbers are 1-based.
	type op struct {
		kind  byte
		text  string
		aLine int
		bLine int
	}
	var ops []op
	for i := 0; i < pre; i++ {
		ops = append(ops, op{' ', al[i], i + 1, i + 1})
	}
	if len(am)*len(bm) <= 4_000_000 {
		// lcs[i][j]: length of the LCS of am[i:] and bm[j:].
		lcs := make([][]int32, len(am)+1)
		for i := range lcs {
			lcs[i] = make([]int32, len(bm)+1)
		}
		for i := len(am) - 1; i >= 0; i-- {
			for j := len(bm) - 1; j >= 0; j-- {
				if am[i] == bm[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(am) || j < len(bm) {
			switch {
			case i < len(am) && j < len(bm) && am[i] == bm[j]:
				ops = append(ops, op{' ', am[i], pre + i + 1, pre + j + 1})
				i++
				j++
			case i < len(am) && (j == len(bm) || lcs[i+1][j] >= lcs[i][j+1]):
				ops = append(ops, op{'-', am[i], pre + i + 1, 0})
				i++
			default:
				ops = append(ops, op{'+', bm[j], 0, pre + j + 1})
				j++
			}
		}
	} else { // too big to diff line by line: show both sides of the middle
		for i, l := range am {
			ops = append(ops, op{'-', l, pre + i + 1, 0})
		}
		for j, l := range bm {
			ops = append(ops, op{'+', l, 0, pre + j + 1})
		}
	}
	for k := 0; k < suf; k++ {
		ops = append(ops, op{' ', al[len(al)-suf+k], len(al) - suf + k + 1, len(bl) - suf + k + 1})
	}

	var out []string
	out = append(out, "--- "+aName, "+++ "+bName)
	last := -1 // index of the last op printed
	for k := 0; k < len(ops); k++ {
		if ops[k].kind == ' ' {
			continue
		}
		from := max(k-context, last+1)
		if from > last+1 || last == -1 {
			a0, b0 := 0, 0
			for x := from; x < len(ops); x++ {
				if a0 == 0 && ops[x].aLine > 0 {
					a0 = ops[x].aLine
				}
				if b0 == 0 && ops[x].bLine > 0 {
					b0 = ops[x].bLine
				}
				if a0 > 0 && b0 > 0 {
					break
				}
			}
			out = append(out, fmt.Sprintf("@@ %s line %d, %s line %d @@", aName, a0, bName, b0))
		}
		// Print from `from` through the change and its trailing context,
		// merging with the next change when their contexts touch.
		end := k
		for x := k; x < len(ops) && x <= end+context; x++ {
			if ops[x].kind != ' ' {
				end = x
			}
		}
		stop := min(end+context, len(ops)-1)
		for x := from; x <= stop; x++ {
			out = append(out, string(ops[x].kind)+ops[x].text)
		}
		last = stop
		k = stop
		if len(out) >= maxLines {
			out = append(out[:maxLines], fmt.Sprintf("... (diff cut at %d lines)", maxLines))
			break
		}
	}
	return strings.Join(out, "\n")
}

func TestLineDiff(t *testing.T) {
	a := "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"
	b := "one\ntwo\nthree\nFOUR\nfive\nsix\nseven\neight\nnine\nten\neleven\n"
	if d := lineDiff("a", "b", a, a, 2, 50); d != "" {
		t.Errorf("equal inputs: diff %q, want none", d)
	}
	want := `--- a
+++ b
@@ a line 2, b line 2 @@
 two
 three
-four
+FOUR
 five
 six
@@ a line 9, b line 9 @@
 nine
 ten
+eleven
 `
	if d := lineDiff("a", "b", a, b, 2, 50); d != want {
		t.Errorf("diff:\n%s\nwant:\n%s", d, want)
	}
	dump := "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET x = 1;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n\nCREATE SCHEMA app;\n\n\n\nALTER SCHEMA app OWNER TO postgres;\n\n\\unrestrict abc\n\n"
	if got, want := normalizeDump(dump), "CREATE SCHEMA app;\n\nALTER SCHEMA app OWNER TO postgres;\n"; got != want {
		t.Errorf("normalizeDump = %q, want %q", got, want)
	}
}
