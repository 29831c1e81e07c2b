package ddlparse

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the expected sections of ddlparse/testdata/*.txtar")

// Golden files: testdata/*.txtar. Input sections:
//
//	input.sql    the query string, exactly as current_query() holds it
//	search_path  (optional) the source session's search_path setting
//	mapping      (optional) lines "schema SRC DST", "table S.T S.T", "column S.T.C NAME"
//	options      (optional) lines "strip-concurrently"
//	events       (optional) queue rows "event | tag | object_type | schema | identity [| command]",
//	             captured on PostgreSQL 15.18 unless the archive's comment says otherwise
//	setup.sql    (optional) what was run on the capture database before input.sql; not used here
//
// Expected sections, rewritten by -update: split, match (when there are
// events) and rewrite.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			g := readGolden(t, ar)
			got := map[string]string{}
			got["split"], got["match"], got["rewrite"] = g.run(t)
			if *update {
				writeGolden(t, file, ar, got)
				return
			}
			for _, name := range []string{"split", "match", "rewrite"} {
				want, ok := section(ar, name)
				if !ok && got[name] == "" {
					continue
				}
				if !ok {
					t.Errorf("section %s missing; run go test ./ddlparse -update", name)
					continue
				}
				if want != got[name] {
					t.Errorf("section %s differs (run go test ./ddlparse -update to accept):\n%s", name, diff(want, got[name]))
				}
			}
		})
	}
}

type golden struct {
	input      string
	searchPath string
	mapping    Mapping
	options    Options
	events     []Event
	hasEvents  bool
}

func section(ar *txtar.Archive, name string) (string, bool) {
	for _, f := range ar.Files {
		if f.Name == name {
			return string(f.Data), true
		}
	}
	return "", false
}

func readGolden(t *testing.T, ar *txtar.Archive) golden {
	t.Helper()
	var g golden
	in, ok := section(ar, "input.sql")
	if !ok {
		t.Fatal("no input.sql section")
	}
	g.input = strings.TrimSuffix(in, "\n")
	if sp, ok := section(ar, "search_path"); ok {
		g.searchPath = strings.TrimSpace(sp)
	}
	g.options.SearchPath = g.searchPath
	if m, ok := section(ar, "mapping"); ok {
		g.mapping = parseMappingSection(t, m)
	}
	if o, ok := section(ar, "options"); ok {
		for _, l := range strings.Fields(o) {
			switch l {
			case "strip-concurrently":
				g.options.StripConcurrently = true
			default:
				t.Fatalf("unknown option %q", l)
			}
		}
	}
	if ev, ok := section(ar, "events"); ok {
		g.hasEvents = true
		g.events = parseEvents(t, ev)
	}
	return g
}

func parseMappingSection(t *testing.T, s string) Mapping {
	t.Helper()
	m := Mapping{Schemas: map[string]string{}, Tables: map[QName]QName{}, Columns: map[Column]string{}}
	for _, line := range strings.Split(s, "\n") {
		f := quotedFields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 3 {
			t.Fatalf("mapping line %q: want 3 fields", line)
		}
		src, dst := parseDotted(f[1]), parseDotted(f[2])
		switch {
		case f[0] == "schema" && len(src) == 1 && len(dst) == 1:
			m.Schemas[src[0]] = dst[0]
		case f[0] == "table" && len(src) == 2 && len(dst) == 2:
			m.Tables[QName{src[0], src[1]}] = QName{dst[0], dst[1]}
		case f[0] == "column" && len(src) == 3 && len(dst) == 1:
			m.Columns[Column{src[0], src[1], src[2]}] = dst[0]
		default:
			t.Fatalf("mapping line %q not understood", line)
		}
	}
	return m
}

// quotedFields splits a line at blanks outside double quotes.
func quotedFields(line string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for _, r := range line {
		switch {
		case r == '"':
			in = !in
			cur.WriteRune(r)
		case !in && (r == ' ' || r == '\t'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

var commandSuffix = regexp.MustCompile(`^(.*?)\s*\|\s*([0-9]+)$`)

func parseEvents(t *testing.T, s string) []Event {
	t.Helper()
	var out []Event
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		// event | tag | object_type | schema | identity [| command]; the
		// identity may itself contain "|" (operators such as ?|).
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 {
			t.Fatalf("event line %q: want at least 5 fields", line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		e := Event{Event: f[0], Tag: f[1], ObjectType: f[2], Schema: f[3], Identity: f[4]}
		if m := commandSuffix.FindStringSubmatch(e.Identity); m != nil {
			e.Identity = m[1]
			e.Command, _ = strconv.Atoi(m[2])
		}
		out = append(out, e)
	}
	return out
}

// run produces the expected sections.
func (g golden) run(t *testing.T) (split, match, rewrite string) {
	stmts, err := Split(g.input)
	if err != nil {
		return "error: " + err.Error() + "\n", "", ""
	}
	split = dumpStatements(stmts)

	var replays []Replay
	if g.hasEvents {
		var merr error
		replays, merr = Match(stmts, g.events)
		var b strings.Builder
		if merr != nil {
			fmt.Fprintf(&b, "error: %v\n", merr)
		}
		for _, r := range replays {
			fmt.Fprintf(&b, "#%d %s at event %d, events %v\n", r.Statement.Index, r.Statement.Tag, r.At, r.Events)
		}
		match = b.String()
	}

	var b strings.Builder
	if g.searchPath != "" {
		fmt.Fprintf(&b, "search_path: %s\n", g.mapping.SearchPath(g.searchPath))
	}
	for _, s := range stmts {
		if s.Kind != KindDDL {
			continue
		}
		sql, err := Rewrite(s, g.mapping, g.options)
		if err != nil {
			fmt.Fprintf(&b, "#%d error: %v\n", s.Index, err)
			continue
		}
		fmt.Fprintf(&b, "#%d %s\n", s.Index, sql)
	}
	rewrite = b.String()
	return split, match, rewrite
}

func dumpStatements(stmts []Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		fmt.Fprintf(&b, "#%d %s %s (tx %d, offset %d)\n", s.Index, s.Kind, s.Tag, s.Tx, s.Offset)
		for _, l := range strings.Split(s.Text, "\n") {
			fmt.Fprintf(&b, "  | %s\n", l)
		}
		for _, o := range s.Objects {
			fmt.Fprintf(&b, "  object: %s\n", o)
		}
		if s.RunsCode() {
			b.WriteString("  runs code\n")
		}
		if s.Unsupported != nil {
			fmt.Fprintf(&b, "  unsupported: %s: %s\n", s.Unsupported.Reason, s.Unsupported.Detail)
		}
	}
	return b.String()
}

func writeGolden(t *testing.T, file string, ar *txtar.Archive, got map[string]string) {
	t.Helper()
	var files []txtar.File
	for _, f := range ar.Files {
		switch f.Name {
		case "split", "match", "rewrite":
			continue
		}
		files = append(files, f)
	}
	for _, name := range []string{"split", "match", "rewrite"} {
		if got[name] == "" && name == "match" {
			continue
		}
		files = append(files, txtar.File{Name: name, Data: []byte(got[name])})
	}
	ar.Files = files
	if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}

// diff shows the first differing lines of two texts.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b bytes.Buffer
	shown := 0
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, w, g)
			if shown++; shown == 10 {
				b.WriteString("...\n")
				break
			}
		}
	}
	return b.String()
}
