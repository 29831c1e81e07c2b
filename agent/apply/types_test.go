package apply

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/pgduet/pgduet/agent/change"
)

// Values travel as the source's text output and are read by the target column's
// input function: for a wide range of types (built-in, arrays, an enum, a
// composite, a range, a domain, NULLs) the stored value's text output equals
// the input text, for INSERT, and again for an UPDATE matched by the whole old
// row (REPLICA IDENTITY FULL, no key).
func TestTypesRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.exec(`CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
		CREATE TYPE public.pair AS (n int, s text);
		CREATE DOMAIN public.posint AS int CHECK (VALUE > 0)`)

	raw := make([]byte, 1<<20+4321) // ≥ 1 MB of bytea, as hex text
	rand.Read(raw)
	bigBytea := `\x` + hex.EncodeToString(raw)

	cols := []struct {
		name, typ string
		vals      [4]string // 3 rows of values and a row of NULLs; "NULL" is NULL
	}{
		{"i2", "int2", [4]string{"-32768", "0", "32767"}},
		{"i4", "int4", [4]string{"-2147483648", "42", "2147483647"}},
		{"i8", "int8", [4]string{"-9223372036854775808", "0", "9223372036854775807"}},
		{"num", "numeric", [4]string{"12345678901234567890.000000001", "NaN", "-0.5"}},
		{"num2", "numeric(10,2)", [4]string{"1234.50", "0.00", "-99999999.99"}},
		{"f4", "float4", [4]string{"3.14", "NaN", "-Infinity"}},
		{"f8", "float8", [4]string{"2.718281828459045", "Infinity", "1e+100"}},
		{"m", "money", [4]string{"$1,234.56", "-$0.01", "$0.00"}},
		{"t", "text", [4]string{"héllo 'quoted' \"dq\" \\ back\nnew line\ttab ✓", "", "NULL"}},
		{"vc", "varchar(10)", [4]string{"abc", "", "ten chars!"}},
		{"c", "char(5)", [4]string{"ab   ", "abcde", "     "}},
		{"b", "bytea", [4]string{bigBytea, `\x`, `\x00ff7f`}},
		{"bo", "bool", [4]string{"t", "f", "NULL"}},
		{"d", "date", [4]string{"2024-02-29", "infinity", "0001-01-01 BC"}},
		{"tm", "time", [4]string{"12:34:56.789", "00:00:00", "24:00:00"}},
		{"ts", "timestamp", [4]string{"2024-01-02 03:04:05.123456", "-infinity", "1999-12-31 23:59:59"}},
		{"tstz", "timestamptz", [4]string{"2024-01-02 03:04:05.123456+00", "infinity", "2000-01-01 00:00:00+00"}},
		{"iv", "interval", [4]string{"1 year 2 mons 3 days 04:05:06", "00:00:00", "-1 days +00:00:00.000001"}},
		{"u", "uuid", [4]string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000", "NULL"}},
		{"j", "json", [4]string{`{"a": [1, 2, {"b": null}],  "a": "dup kept"}`, `[]`, `"str"`}},
		{"jb", "jsonb", [4]string{`{"a": [1, 2, {"b": null}], "c": "ü"}`, `[]`, `null`}},
		{"x", "xml", [4]string{`<a b="c">text &amp; more</a>`, `<e/>`, `plain text`}},
		{"ip", "inet", [4]string{"192.168.0.1", "::1", "10.1.2.3/8"}},
		{"cid", "cidr", [4]string{"10.0.0.0/8", "2001:db8::/32", "192.168.1.0/24"}},
		{"mac", "macaddr", [4]string{"08:00:2b:01:02:03", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"}},
		{"bt", "bit(4)", [4]string{"1010", "0000", "1111"}},
		{"vb", "varbit", [4]string{"110", "", "1"}},
		{"tsv", "tsvector", [4]string{"'cat' 'dog'", "", "'a':1A 'b':2"}},
		{"ia", "int[]", [4]string{"{1,2,3}", "{}", "{{1,2},{3,NULL}}"}},
		{"ta", "text[]", [4]string{`{a,"b c",NULL,"\""}`, "{}", `{"",x}`}},
		{"e", "public.mood", [4]string{"happy", "sad", "ok"}},
		{"ea", "public.mood[]", [4]string{"{sad,happy}", "{}", "{NULL}"}},
		{"co", "public.pair", [4]string{`(1,"a b")`, "(,)", `(-5,"")`}},
		{"r", "int4range", [4]string{"[1,10)", "empty", "(,5)"}},
		{"dom", "public.posint", [4]string{"5", "1", "2147483647"}},
	}
	for i := range cols {
		cols[i].vals[3] = "NULL"
	}

	ddl := "CREATE TABLE public.types (id int"
	names := []string{"id*"}
	for _, c := range cols {
		ddl += ", " + c.name + " " + c.typ
		names = append(names, c.name+"*")
	}
	e.exec(ddl + "); ALTER TABLE public.types REPLICA IDENTITY FULL")
	a := e.open()
	r := rel("public.types", change.IdentityFull, names...)
	row := func(i int, id string) []change.Value {
		vals := []change.Value{v(id)}
		for _, c := range cols {
			if c.vals[i] == "NULL" {
				vals = append(vals, null)
			} else {
				vals = append(vals, v(c.vals[i]))
			}
		}
		return vals
	}
	e.mustApply(a, e.tx(ins(r, row(0, "0")...), ins(r, row(1, "1")...), ins(r, row(2, "2")...), ins(r, row(3, "3")...)))

	// Read every value back through its type's output function (format %s; a
	// ::text cast would strip char(n) padding). num_nulls, because a composite
	// whose fields are all NULL "IS NULL" in SQL.
	check := func(ids ...int) {
		t.Helper()
		sel := "SELECT id"
		for _, c := range cols {
			sel += fmt.Sprintf(", CASE WHEN num_nulls(%[1]s) = 1 THEN NULL ELSE format('%%s', %[1]s) END", c.name)
		}
		for _, id := range ids {
			vals := make([]*string, len(cols)+1)
			ptrs := make([]any, len(vals))
			var gotID int
			ptrs[0] = &gotID
			for i := range cols {
				ptrs[i+1] = &vals[i+1]
			}
			if err := e.conn.QueryRow(t.Context(), sel+" FROM public.types WHERE id = $1", id).Scan(ptrs...); err != nil {
				t.Fatalf("row %d: %v", id, err)
			}
			for i, c := range cols {
				got := "NULL"
				if vals[i+1] != nil {
					got = *vals[i+1]
				}
				if want := c.vals[id%4]; got != want {
					if len(want) > 80 {
						want, got = want[:80]+"…", got[:min(80, len(got))]+"…"
					}
					t.Errorf("row %d, %s %s: stored %q, sent %q", id, c.name, c.typ, got, want)
				}
			}
		}
	}
	check(0, 1, 2, 3)

	// Match each whole old row as text (no key on the target) and move it to a
	// new id: every type, NULLs included, compares equal to what is stored.
	var changes []change.Change
	for i := range 4 {
		changes = append(changes, updOld(r, row(i, fmt.Sprint(i)), false, row(i, fmt.Sprint(i+4))...))
	}
	e.mustApply(a, e.tx(changes...))
	if st := a.Stats(); st.RowsApplied.Update != 4 {
		t.Fatalf("updated %d rows by full-row match, want 4", st.RowsApplied.Update)
	}
	check(4, 5, 6, 7)
	if t.Failed() {
		return
	}
	wantRows(t, e.rows(`SELECT string_agg(id::text, ',' ORDER BY id) FROM public.types`), "4,5,6,7")
	if n := e.count("public.types WHERE length(b) >= 1048576"); n != 1 {
		t.Fatalf("%d rows with the 1 MB bytea, want 1", n)
	}
}
