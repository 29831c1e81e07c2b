package ddlparse

import (
	"errors"
	"strings"
	"testing"
)

func TestSplitCutsOriginalText(t *testing.T) {
	q := "  -- set up\nCREATE TABLE \"Ünïcode\" (é text DEFAULT 'a;b');\n" +
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n" +
		"DO $$ BEGIN PERFORM 1; END $$ ;  INSERT INTO t VALUES ('x;y') ;\n" +
		"SELECT 1 -- trailing comment"
	stmts, err := Split(q)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ text, tag string }{
		{"-- set up\nCREATE TABLE \"Ünïcode\" (é text DEFAULT 'a;b')", "CREATE TABLE"},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "CREATE FUNCTION"},
		{"DO $$ BEGIN PERFORM 1; END $$", "DO"},
		{"INSERT INTO t VALUES ('x;y')", "INSERT"},
		{"SELECT 1 -- trailing comment", "SELECT"},
	}
	if len(stmts) != len(want) {
		t.Fatalf("%d statements, want %d", len(stmts), len(want))
	}
	for i, s := range stmts {
		if s.Index != i || s.Text != want[i].text || s.Tag != want[i].tag {
			t.Errorf("statement %d: %d %q %q, want %q %q", i, s.Index, s.Tag, s.Text, want[i].tag, want[i].text)
		}
		if q[s.Offset:s.Offset+len(s.Text)] != s.Text {
			t.Errorf("statement %d: Offset %d does not point at its text", i, s.Offset)
		}
	}
}

func TestSplitEmpty(t *testing.T) {
	for _, q := range []string{"", "   ", ";;", "-- only a comment\n", "/* block */"} {
		stmts, err := Split(q)
		if err != nil || len(stmts) != 0 {
			t.Errorf("Split(%q) = %d statements, %v", q, len(stmts), err)
		}
	}
}

func TestSplitParseError(t *testing.T) {
	q := "CREATE TABLE a (id int);\nCREATE TABLE é (x int);\n  SELEC broken;\nDROP TABLE a"
	stmts, err := Split(q)
	if stmts != nil {
		t.Errorf("statements returned with the error: %d", len(stmts))
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a ParseError", err)
	}
	if pe.Line != 3 || pe.Column != 3 || !strings.HasPrefix(pe.Near, "SELEC broken") || !strings.Contains(pe.Message, `"SELEC"`) {
		t.Errorf("got %+v", pe)
	}
	if !strings.Contains(err.Error(), "line 3, column 3") {
		t.Errorf("message %q does not show the position", err)
	}
	if !errors.Is(err, ErrUnsupported) {
		t.Error("a parse error must count as unsupported DDL")
	}
	for _, bad := range []string{"CREATE TABLE a (x int);\x00DROP TABLE a", "SELECT '\xff'", "CREATE TABLE (", "SELECT 'unterminated"} {
		if _, err := Split(bad); !errors.As(err, &pe) {
			t.Errorf("Split(%q): %v, want a ParseError", bad, err)
		}
	}
}

func TestSplitTagsAndKinds(t *testing.T) {
	tests := []struct {
		sql  string
		tag  string
		kind Kind
	}{
		{"BEGIN", "BEGIN", KindTransaction},
		{"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION", KindTransaction},
		{"COMMIT", "COMMIT", KindTransaction},
		{"END", "COMMIT", KindTransaction},
		{"ROLLBACK", "ROLLBACK", KindTransaction},
		{"SAVEPOINT s", "SAVEPOINT", KindTransaction},
		{"ROLLBACK TO SAVEPOINT s", "ROLLBACK", KindTransaction},
		{"RELEASE s", "RELEASE", KindTransaction},
		{"SET search_path = app", "SET", KindUtility},
		{"SET LOCAL lock_timeout = '1s'", "SET", KindUtility},
		{"RESET ALL", "RESET", KindUtility},
		{"SHOW search_path", "SHOW", KindUtility},
		{"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "LOCK TABLE", KindUtility},
		{"NOTIFY ch", "NOTIFY", KindUtility},
		{"DO $$ BEGIN END $$", "DO", KindUtility},
		{"CALL p()", "CALL", KindUtility},
		{"PREPARE q AS SELECT 1", "PREPARE", KindUtility},
		{"EXECUTE q", "EXECUTE", KindUtility},
		{"ANALYZE t", "ANALYZE", KindUtility},
		{"SELECT 1", "SELECT", KindQuery},
		{"VALUES (1)", "SELECT", KindQuery},
		{"TABLE t", "SELECT", KindQuery},
		{"EXPLAIN SELECT 1", "EXPLAIN", KindQuery},
		{"COPY t TO STDOUT", "COPY", KindQuery},
		{"COPY t FROM STDIN", "COPY", KindDML},
		{"INSERT INTO t VALUES (1)", "INSERT", KindDML},
		{"UPDATE t SET a = 1", "UPDATE", KindDML},
		{"DELETE FROM t", "DELETE", KindDML},
		{"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE", KindDML},
		{"TRUNCATE t", "TRUNCATE TABLE", KindDML},
		{"SELECT 1 AS a INTO t", "SELECT INTO", KindDDL},
		{"CREATE TABLE t AS SELECT 1", "CREATE TABLE AS", KindDDL},
		{"CREATE MATERIALIZED VIEW m AS SELECT 1", "CREATE MATERIALIZED VIEW", KindDDL},
		{"REFRESH MATERIALIZED VIEW m", "REFRESH MATERIALIZED VIEW", KindDDL},
		{"CREATE SCHEMA s", "CREATE SCHEMA", KindDDL},
		{"CREATE TABLE t (a int)", "CREATE TABLE", KindDDL},
		{"CREATE FOREIGN TABLE f (a int) SERVER s", "CREATE FOREIGN TABLE", KindDDL},
		{"CREATE UNLOGGED TABLE t (a int)", "CREATE TABLE", KindDDL},
		{"ALTER TABLE t ADD COLUMN b int", "ALTER TABLE", KindDDL},
		{"ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE", KindDDL},
		{"ALTER TABLE t RENAME CONSTRAINT c TO d", "ALTER TABLE", KindDDL},
		{"ALTER VIEW v RENAME COLUMN a TO b", "ALTER VIEW", KindDDL},
		{"ALTER INDEX i RENAME TO j", "ALTER INDEX", KindDDL},
		{"ALTER SEQUENCE s OWNED BY t.a", "ALTER SEQUENCE", KindDDL},
		{"ALTER SEQUENCE s RENAME TO s2", "ALTER SEQUENCE", KindDDL},
		{"ALTER MATERIALIZED VIEW m SET SCHEMA x", "ALTER MATERIALIZED VIEW", KindDDL},
		{"ALTER FOREIGN TABLE f ADD COLUMN b int", "ALTER FOREIGN TABLE", KindDDL},
		{"ALTER TYPE comp ADD ATTRIBUTE b int", "ALTER TYPE", KindDDL},
		{"ALTER TYPE mood ADD VALUE 'x'", "ALTER TYPE", KindDDL},
		{"ALTER TYPE mood RENAME TO feeling", "ALTER TYPE", KindDDL},
		{"ALTER TYPE comp RENAME ATTRIBUTE a TO b", "ALTER TYPE", KindDDL},
		{"ALTER DOMAIN d SET NOT NULL", "ALTER DOMAIN", KindDDL},
		{"ALTER FUNCTION f() OWNER TO bob", "ALTER FUNCTION", KindDDL},
		{"ALTER PROCEDURE p() RENAME TO q", "ALTER PROCEDURE", KindDDL},
		{"ALTER ROUTINE r() SET search_path = x", "ALTER ROUTINE", KindDDL},
		{"ALTER AGGREGATE a(int) RENAME TO b", "ALTER AGGREGATE", KindDDL},
		{"ALTER TRIGGER t ON x RENAME TO u", "ALTER TRIGGER", KindDDL},
		{"ALTER SCHEMA s OWNER TO bob", "ALTER SCHEMA", KindDDL},
		{"ALTER EXTENSION e UPDATE", "ALTER EXTENSION", KindDDL},
		{"ALTER EXTENSION e ADD TABLE t", "ALTER EXTENSION", KindDDL},
		{"ALTER POLICY p ON t RENAME TO q", "ALTER POLICY", KindDDL},
		{"ALTER STATISTICS s SET STATISTICS 10", "ALTER STATISTICS", KindDDL},
		{"ALTER OPERATOR + (int, int) SET (RESTRICT = eqsel)", "ALTER OPERATOR", KindDDL},
		{"CREATE INDEX ON t (a)", "CREATE INDEX", KindDDL},
		{"CREATE VIEW v AS SELECT 1", "CREATE VIEW", KindDDL},
		{"CREATE OR REPLACE RECURSIVE VIEW v (n) AS SELECT 1", "CREATE VIEW", KindDDL},
		{"CREATE SEQUENCE s", "CREATE SEQUENCE", KindDDL},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION", KindDDL},
		{"CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'", "CREATE PROCEDURE", KindDDL},
		{"CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()", "CREATE TRIGGER", KindDDL},
		{"CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "CREATE RULE", KindDDL},
		{"CREATE POLICY p ON t USING (true)", "CREATE POLICY", KindDDL},
		{"CREATE TYPE mood AS ENUM ('a')", "CREATE TYPE", KindDDL},
		{"CREATE TYPE comp AS (a int)", "CREATE TYPE", KindDDL},
		{"CREATE TYPE r AS RANGE (subtype = int4)", "CREATE TYPE", KindDDL},
		{"CREATE TYPE shell", "CREATE TYPE", KindDDL},
		{"CREATE DOMAIN d AS int", "CREATE DOMAIN", KindDDL},
		{"CREATE AGGREGATE a(int) (SFUNC = int4pl, STYPE = int)", "CREATE AGGREGATE", KindDDL},
		{"CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)", "CREATE OPERATOR", KindDDL},
		{"CREATE COLLATION c (locale = 'C')", "CREATE COLLATION", KindDDL},
		{"CREATE TEXT SEARCH CONFIGURATION c (COPY = english)", "CREATE TEXT SEARCH CONFIGURATION", KindDDL},
		{"CREATE EXTENSION hstore", "CREATE EXTENSION", KindDDL},
		{"CREATE STATISTICS s ON a, b FROM t", "CREATE STATISTICS", KindDDL},
		{"CREATE CAST (int AS text) WITH INOUT", "CREATE CAST", KindDDL},
		{"CREATE PUBLICATION p FOR ALL TABLES", "CREATE PUBLICATION", KindDDL},
		{"COMMENT ON TABLE t IS 'x'", "COMMENT", KindDDL},
		{"SECURITY LABEL ON TABLE t IS 'x'", "SECURITY LABEL", KindDDL},
		{"GRANT SELECT ON t TO bob", "GRANT", KindDDL},
		{"REVOKE SELECT ON t FROM bob", "REVOKE", KindDDL},
		{"ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bob", "ALTER DEFAULT PRIVILEGES", KindDDL},
		{"DROP TABLE t", "DROP TABLE", KindDDL},
		{"DROP VIEW v", "DROP VIEW", KindDDL},
		{"DROP MATERIALIZED VIEW m", "DROP MATERIALIZED VIEW", KindDDL},
		{"DROP INDEX i", "DROP INDEX", KindDDL},
		{"DROP SEQUENCE s", "DROP SEQUENCE", KindDDL},
		{"DROP SCHEMA s", "DROP SCHEMA", KindDDL},
		{"DROP FUNCTION f", "DROP FUNCTION", KindDDL},
		{"DROP PROCEDURE p", "DROP PROCEDURE", KindDDL},
		{"DROP ROUTINE r", "DROP ROUTINE", KindDDL},
		{"DROP AGGREGATE a(int)", "DROP AGGREGATE", KindDDL},
		{"DROP OPERATOR === (int, int)", "DROP OPERATOR", KindDDL},
		{"DROP TYPE mood", "DROP TYPE", KindDDL},
		{"DROP DOMAIN d", "DROP DOMAIN", KindDDL},
		{"DROP TRIGGER t ON x", "DROP TRIGGER", KindDDL},
		{"DROP RULE r ON t", "DROP RULE", KindDDL},
		{"DROP POLICY p ON t", "DROP POLICY", KindDDL},
		{"DROP EXTENSION hstore", "DROP EXTENSION", KindDDL},
		{"DROP STATISTICS s", "DROP STATISTICS", KindDDL},
		{"DROP COLLATION c", "DROP COLLATION", KindDDL},
		{"DROP CAST (int AS text)", "DROP CAST", KindDDL},
		{"DROP FOREIGN TABLE f", "DROP FOREIGN TABLE", KindDDL},
		{"DROP PUBLICATION p", "DROP PUBLICATION", KindDDL},
		{"DROP OWNED BY bob", "DROP OWNED", KindDDL},
		{"DROP DATABASE d", "DROP DATABASE", KindDDL},
		{"CREATE ROLE r", "CREATE ROLE", KindDDL},
	}
	for _, tt := range tests {
		stmts, err := Split(tt.sql)
		if err != nil {
			t.Errorf("%s: %v", tt.sql, err)
			continue
		}
		if s := stmts[0]; s.Tag != tt.tag || s.Kind != tt.kind {
			t.Errorf("%s: %s %s, want %s %s", tt.sql, s.Kind, s.Tag, tt.kind, tt.tag)
		}
	}
}

func TestRunsCode(t *testing.T) {
	for sql, want := range map[string]bool{
		"DO $$ BEGIN END $$":                    true,
		"CALL p()":                              true,
		"EXECUTE q":                             true,
		"SELECT mk_tables()":                    true,
		"SELECT a FROM t":                       false,
		"INSERT INTO t VALUES (1)":              true,
		"CREATE TABLE t (a int DEFAULT f())":    false,
		"CREATE TABLE t AS SELECT f()":          true,
		"CREATE TABLE t AS SELECT 1":            false,
		"ALTER TABLE t ADD COLUMN b int":        false,
		"REFRESH MATERIALIZED VIEW m":           true,
		"EXPLAIN ANALYZE SELECT setval('s', 1)": true,
	} {
		stmts, err := Split(sql)
		if err != nil {
			t.Fatal(err)
		}
		if got := stmts[0].RunsCode(); got != want {
			t.Errorf("%s: RunsCode() = %v, want %v", sql, got, want)
		}
	}
}

func TestObjectsAndTemporary(t *testing.T) {
	stmts, err := Split(`CREATE TEMP TABLE x (id int REFERENCES app.t);
CREATE TABLE pg_temp.y (id int);
CREATE TABLE z (id int);
DROP TABLE x, z`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"table pg_temp.x, ref table app.t",
		"table pg_temp.y",
		"table z",
		"table x, table z",
	}
	temp := []bool{true, true, false, false}
	for i, s := range stmts {
		var got []string
		for _, o := range s.Objects {
			got = append(got, o.String())
		}
		if strings.Join(got, ", ") != want[i] {
			t.Errorf("#%d objects %q, want %q", i, strings.Join(got, ", "), want[i])
		}
		if s.IsTemporary() != temp[i] {
			t.Errorf("#%d IsTemporary() = %v", i, s.IsTemporary())
		}
	}
	if o := (Object{Type: "table", Name: "Orders", Schema: "my schema"}); o.String() != `table "my schema"."Orders"` || !o.Qualified() {
		t.Errorf("%s", o)
	}
	if o := (Object{Type: "table", Name: "select"}); o.String() != `table "select"` || o.Qualified() {
		t.Errorf("%s", o)
	}
}

func TestMatchTag(t *testing.T) {
	tests := []struct {
		pattern, tag string
		want         bool
	}{
		{"*", "CREATE TABLE", true},
		{"*", "", true},
		{"CREATE TABLE", "CREATE TABLE", true},
		{"create table", "CREATE TABLE", true},
		{"CREATE  TABLE", "create table", true},
		{"CREATE TABLE", "CREATE TABLE AS", false},
		{"CREATE TABLE*", "CREATE TABLE AS", true},
		{"ALTER *", "ALTER TABLE", true},
		{"ALTER *", "ALTER TEXT SEARCH DICTIONARY", true},
		{"ALTER *", "ALTER", false},
		{"ALTER*", "ALTER", true},
		{"DROP DATABASE", "DROP DATABASE", true},
		{"DROP DATABASE", "DROP TABLE", false},
		{"DROP *", "CREATE TABLE", false},
		{"* TABLE", "ALTER TABLE", true},
		{"* TABLE", "ALTER FOREIGN TABLE", true},
		{"* TABLE", "CREATE TABLE AS", false},
		{"*VIEW*", "CREATE MATERIALIZED VIEW", true},
		{"CREATE * VIEW", "CREATE VIEW", false},
		{"CREATE *VIEW", "CREATE VIEW", true},
		{"**", "GRANT", true},
		{"", "", true},
		{"", "GRANT", false},
	}
	for _, tt := range tests {
		if got := MatchTag(tt.pattern, tt.tag); got != tt.want {
			t.Errorf("MatchTag(%q, %q) = %v, want %v", tt.pattern, tt.tag, got, tt.want)
		}
	}
}
