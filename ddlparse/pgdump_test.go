package ddlparse

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The initial schema sync replays pg_dump --schema-only output: it splits
// the script (SplitScript), skips the session settings pg_dump writes, and
// runs each DDL statement as it is or rewritten with a mapping.
// testdata/pgdump/*.sql are real outputs of PostgreSQL 15's pg_dump (see
// testdata/pgdump/README); *.sql.rewrite hold what Rewrite makes of them with
// pgdumpSchemas, and are rewritten by -update.

// pgdumpSchemas renames both dumped schemas.
var pgdumpSchemas = Mapping{Schemas: map[string]string{"app": "app_copy", "public": "pub2"}}

// pgdumpTables also renames two tables, one in each schema.
var pgdumpTables = Mapping{
	Schemas: pgdumpSchemas.Schemas,
	Tables: map[QName]QName{
		{Schema: "app", Name: "Orders"}:       {Schema: "app_copy", Name: "orders_v2"},
		{Schema: "public", Name: "customers"}: {Schema: "pub2", Name: "clients"},
	},
}

// pgdumpRefused are the statements of the dumps that a mapping must refuse:
// routines whose string bodies name a renamed schema or table. Keys are the
// statement's tag and first object.
var pgdumpRefused = map[string][]string{
	"schemas": {
		"CREATE PROCEDURE procedure app.close_order",  // plpgsql: UPDATE app."Orders"
		"CREATE FUNCTION function app.customer_total", // sql: FROM app."Orders"
		"CREATE FUNCTION function app.dyn_count",      // plpgsql: format('... app.%I')
	},
	"tables": {
		"CREATE PROCEDURE procedure app.close_order",
		"CREATE FUNCTION function app.customer_total",
		"CREATE FUNCTION function app.dyn_count",
		"CREATE FUNCTION function public.customer_name", // sql: FROM customers (via its search_path)
	},
}

// pgdumpDataLiterals are string literals of the dumps that are data, not
// names, although they start with a dumped schema's name.
var pgdumpDataLiterals = map[string]bool{"app.customer": true} // current_setting('app.customer')

func TestPgDump(t *testing.T) {
	files, err := filepath.Glob("testdata/pgdump/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no pg_dump outputs: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".sql"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			stmts, err := SplitScript(string(b))
			if err != nil {
				t.Fatal(err)
			}
			var ddl []Statement
			for _, st := range stmts {
				switch {
				case st.Kind == KindDDL:
					if st.Unsupported != nil {
						t.Errorf("#%d %s is unsupported: %v\n%s", st.Index, st.Tag, st.Unsupported, st.Text)
					}
					ddl = append(ddl, st)
				case isDumpSetting(st):
				default:
					t.Errorf("#%d is %s %q, neither DDL nor a session setting:\n%s", st.Index, st.Kind, st.Tag, st.Text)
				}
			}
			if len(ddl) < 50 {
				t.Fatalf("only %d DDL statements", len(ddl))
			}
			for _, st := range ddl {
				checkDumpStatement(t, st, "none", Mapping{})
			}
			for name, m := range map[string]Mapping{"schemas": pgdumpSchemas, "tables": pgdumpTables} {
				refused := map[string]bool{}
				for _, k := range pgdumpRefused[name] {
					refused[k] = true
				}
				for _, st := range ddl {
					key := st.Tag
					if len(st.Objects) > 0 {
						key += " " + st.Objects[0].String()
					}
					if refused[key] {
						_, err := Rewrite(st, m, Options{})
						if !errors.Is(err, ErrUnsupported) || ReasonOf(err) != ReasonMapping {
							t.Errorf("mapping %s: #%d %s: %v; want it refused (%s)\n%s", name, st.Index, key, err, ReasonMapping, st.Text)
						}
						continue
					}
					checkDumpStatement(t, st, name, m)
				}
			}
			checkGolden(t, file+".rewrite", dumpRewrite(ddl, pgdumpSchemas))
		})
	}
}

// isDumpSetting reports the statements pg_dump writes to set up the session
// (SET ..., SELECT pg_catalog.set_config('search_path', ”, false)).
func isDumpSetting(st Statement) bool {
	switch {
	case st.Kind == KindUtility && st.Tag == "SET":
		return true
	case st.Kind == KindQuery && st.Tag == "SELECT":
		return len(st.Objects) == 1 && st.Objects[0] == Object{Type: "function", Schema: "pg_catalog", Name: "set_config", Ref: true}
	}
	return false
}

// checkDumpStatement rewrites st with m and checks the result: one statement
// of the same tag that names exactly the mapped objects, and that does not
// qualify anything with a schema the mapping renames.
func checkDumpStatement(t *testing.T, st Statement, name string, m Mapping) {
	t.Helper()
	out, err := Rewrite(st, m, Options{})
	if err != nil {
		t.Errorf("mapping %s: #%d %s: %v\n%s", name, st.Index, st.Tag, err, st.Text)
		return
	}
	back, err := Split(out)
	if err != nil || len(back) != 1 {
		t.Errorf("mapping %s: #%d %s: the rewritten text is not one statement (%v): %s", name, st.Index, st.Tag, err, out)
		return
	}
	if back[0].Tag != st.Tag || back[0].Kind != KindDDL {
		t.Errorf("mapping %s: #%d: %s became %s %s: %s", name, st.Index, st.Tag, back[0].Kind, back[0].Tag, out)
	}
	var want, got []string
	for _, o := range st.Objects {
		want = append(want, mapObject(o, m).String())
	}
	for _, o := range back[0].Objects {
		got = append(got, o.String())
		if old := renamedSchema(o, m); old != "" {
			t.Errorf("mapping %s: #%d %s still names schema %s (%s): %s", name, st.Index, st.Tag, old, o, out)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("mapping %s: #%d %s names\n  %s\nwant\n  %s\nrewritten: %s", name, st.Index, st.Tag,
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), out)
	}
	// Independently of the name walk (whose blind spots Objects share): no
	// string in the output's parse tree is a renamed schema.
	if err := qualifiesRenamed(out, m); err != nil {
		t.Errorf("mapping %s: #%d %s: %v: %s", name, st.Index, st.Tag, err, out)
	}
}

// mapObject is what Rewrite should make of object o.
func mapObject(o Object, m Mapping) Object {
	switch o.Type {
	case "schema":
		o.Name = m.Schema(o.Name)
		return o
	case "table", "relation", "view", "materialized view", "sequence", "index", "foreign table", "type",
		"table constraint", "trigger", "rule", "policy", "column":
		if t, ok := m.Tables[QName{Schema: o.Schema, Name: o.Name}]; ok && o.Schema != "" {
			o.Schema, o.Name = t.Schema, t.Name
			return o
		}
	}
	if o.Schema != "" {
		o.Schema = m.Schema(o.Schema)
	}
	return o
}

// renamedSchema returns the schema of o that m renames, if any.
func renamedSchema(o Object, m Mapping) string {
	s := o.Schema
	if o.Type == "schema" {
		s = o.Name
	}
	if to, ok := m.Schemas[s]; ok && s != "" && to != s {
		return s
	}
	return ""
}

// qualifiesRenamed looks at every string in the parse tree of sql (names,
// name parts, literals; not role names, nor routine bodies, which Rewrite
// checks) for a schema that m renames, or a literal that starts with one.
func qualifiesRenamed(sql string, m Mapping) error {
	tree, err := pg.Parse(sql)
	if err != nil {
		return err
	}
	var found error
	var visit func(msg protoreflect.Message)
	visit = func(msg protoreflect.Message) {
		switch v := msg.Interface().(type) {
		case *pg.RoleSpec:
			return
		case *pg.DefElem:
			if v.Defname == "as" {
				return
			}
		}
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.Kind() == protoreflect.StringKind && !fd.IsList():
				str := v.String()
				for from, to := range m.Schemas {
					if from != to && (str == from || strings.HasPrefix(str, from+".") && !pgdumpDataLiterals[str]) {
						found = fmt.Errorf("%s %q names schema %s", fd.FullName(), str, from)
					}
				}
			case fd.Kind() == protoreflect.MessageKind && fd.IsList():
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
			case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
				visit(v.Message())
			}
			return found == nil
		})
	}
	visit(tree.ProtoReflect())
	return found
}

// dumpRewrite renders what Rewrite makes of each DDL statement.
func dumpRewrite(ddl []Statement, m Mapping) string {
	var b strings.Builder
	for _, st := range ddl {
		out, err := Rewrite(st, m, Options{})
		if err != nil {
			fmt.Fprintf(&b, "#%d error: %v\n", st.Index, err)
			continue
		}
		fmt.Fprintf(&b, "#%d %s\n", st.Index, out)
	}
	return b.String()
}

func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v; run go test ./ddlparse -update", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test ./ddlparse -update to accept):\n%s", file, diff(string(want), got))
	}
}
