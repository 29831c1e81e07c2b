package ddlparse

import (
	"errors"
	"strings"
	"testing"
)

// Statements that must never be replayed as they are, with the reason.
func TestUnsupportedStatements(t *testing.T) {
	tests := []struct {
		sql    string
		reason Reason
	}{
		// Routine bodies: the DDL they run has no text of its own, and
		// replaying them would run their DML again.
		{`DO $$ BEGIN EXECUTE 'CREATE TABLE t (id int)'; END $$`, ReasonRoutineBody},
		{`DO LANGUAGE plpgsql $$ BEGIN NULL; END $$`, ReasonRoutineBody},
		{`CALL app.migrate(2)`, ReasonRoutineBody},

		// Cannot run inside the apply transaction.
		{`CREATE INDEX CONCURRENTLY t_a_idx ON t (a)`, ReasonTransactionBlock},
		{`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON app.t (a)`, ReasonTransactionBlock},
		{`DROP INDEX CONCURRENTLY app.t_a_idx`, ReasonTransactionBlock},
		{`REINDEX INDEX CONCURRENTLY app.t_a_idx`, ReasonTransactionBlock},
		{`REINDEX (CONCURRENTLY, VERBOSE) TABLE app.t`, ReasonTransactionBlock},
		{`ALTER TABLE app.p DETACH PARTITION app.p1 CONCURRENTLY`, ReasonTransactionBlock},

		{`VACUUM app.t`, ReasonTransactionBlock},
		{`VACUUM (FULL, ANALYZE) app.t`, ReasonTransactionBlock},
		{`CREATE DATABASE shop2`, ReasonTransactionBlock},
		{`DROP DATABASE IF EXISTS shop2`, ReasonTransactionBlock},
		{`CREATE TABLESPACE fast LOCATION '/srv/fast'`, ReasonTransactionBlock},
		{`DROP TABLESPACE fast`, ReasonTransactionBlock},
		{`ALTER SYSTEM SET work_mem = '64MB'`, ReasonTransactionBlock},
		{`ALTER DATABASE shop SET TABLESPACE fast`, ReasonTransactionBlock},
		{`COMMIT PREPARED 'tx1'`, ReasonTransactionBlock},

		// PostgreSQL fires no event trigger for them: never captured.
		{`CREATE ROLE app_reader LOGIN`, ReasonNotCaptured},
		{`ALTER ROLE app_reader SET search_path = app`, ReasonNotCaptured},
		{`DROP ROLE IF EXISTS app_reader`, ReasonNotCaptured},
		{`GRANT app_reader TO bob`, ReasonNotCaptured},
		{`REVOKE app_reader FROM bob`, ReasonNotCaptured},
		{`ALTER DATABASE shop SET work_mem = '64MB'`, ReasonNotCaptured},
		{`ALTER TABLESPACE fast OWNER TO bob`, ReasonNotCaptured},
		{`CREATE EVENT TRIGGER et ON ddl_command_end EXECUTE FUNCTION f()`, ReasonNotCaptured},
		{`ALTER EVENT TRIGGER et DISABLE`, ReasonNotCaptured},
		{`DROP EVENT TRIGGER et`, ReasonNotCaptured},
		{`REASSIGN OWNED BY bob TO alice`, ReasonNotCaptured},
		{`REINDEX TABLE app.t`, ReasonNotCaptured},

		// Node-local.
		{`CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p`, ReasonNodeLocal},
		{`ALTER SUBSCRIPTION s DISABLE`, ReasonNodeLocal},
		{`DROP SUBSCRIPTION s`, ReasonNodeLocal},
		{`ALTER TABLE app.p DETACH PARTITION app.p1 FINALIZE`, ReasonNodeLocal},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			stmts, err := Split(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if len(stmts) != 1 {
				t.Fatalf("got %d statements", len(stmts))
			}
			s := stmts[0]
			if s.Unsupported == nil {
				t.Fatalf("%s (%s): not classified unsupported", s.Tag, s.Kind)
			}
			if s.Unsupported.Reason != tt.reason {
				t.Fatalf("reason %s, want %s (%s)", s.Unsupported.Reason, tt.reason, s.Unsupported.Detail)
			}
			if !errors.Is(s.Unsupported, ErrUnsupported) {
				t.Fatal("the error does not match ErrUnsupported")
			}
			if s.Kind == KindDDL {
				if _, err := Rewrite(s, Mapping{}, Options{}); !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Rewrite: %v, want an ErrUnsupported", err)
				}
			}
		})
	}
}

// Replayable DDL that looks risky but runs inside a transaction block.
func TestSupportedStatements(t *testing.T) {
	for _, sql := range []string{
		`ALTER TYPE app.mood ADD VALUE 'meh'`, // PostgreSQL 12+: allowed in a transaction block
		`ALTER TYPE app.mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'ok'`,
		`REFRESH MATERIALIZED VIEW CONCURRENTLY app.mv`, // allowed in a transaction block
		`CREATE INDEX t_a_idx ON app.t (a)`,
		`ALTER TABLE app.p DETACH PARTITION app.p1`,
		`ANALYZE app.t`,
		`CREATE TABLE t AS SELECT 1 AS a`,
		`SELECT 1 AS a INTO t`,
		`DROP INDEX app.t_a_idx`,
		`ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC`,
	} {
		stmts, err := Split(sql)
		if err != nil {
			t.Fatal(err)
		}
		if u := stmts[0].Unsupported; u != nil {
			t.Errorf("%s: unsupported: %v", sql, u)
		}
	}
}

func TestStripConcurrently(t *testing.T) {
	tests := []struct{ sql, want string }{
		{`CREATE INDEX CONCURRENTLY t_a_idx ON app.t (a)`, `CREATE INDEX t_a_idx ON app_copy.t USING btree (a)`},
		{`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS k ON app.t (a) WHERE a > 0`, `CREATE UNIQUE INDEX IF NOT EXISTS k ON app_copy.t USING btree (a) WHERE a > 0`},
		{`DROP INDEX CONCURRENTLY IF EXISTS app.t_a_idx`, `DROP INDEX IF EXISTS app_copy.t_a_idx`},
		{`ALTER TABLE app.p DETACH PARTITION app.p1 CONCURRENTLY`, `ALTER TABLE app_copy.p DETACH PARTITION app_copy.p1`},
	}
	m := Mapping{Schemas: map[string]string{"app": "app_copy"}}
	for _, tt := range tests {
		stmts, err := Split(tt.sql)
		if err != nil {
			t.Fatal(err)
		}
		// Default: unsupported.
		if _, err := Rewrite(stmts[0], m, Options{}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: without the option: %v, want ErrUnsupported", tt.sql, err)
		}
		got, err := Rewrite(stmts[0], m, Options{StripConcurrently: true})
		if err != nil {
			t.Errorf("%s: %v", tt.sql, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.sql, got, tt.want)
		}
	}
	// The option does not make other transaction-block statements replayable.
	for _, sql := range []string{`VACUUM t`, `ALTER TABLE p DETACH PARTITION p1 FINALIZE`, `CREATE DATABASE x`} {
		stmts, _ := Split(sql)
		if stmts[0].Kind != KindDDL {
			continue
		}
		if _, err := Rewrite(stmts[0], Mapping{}, Options{StripConcurrently: true}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", sql, err)
		}
	}
}

func TestRewriteRejectsNonDDL(t *testing.T) {
	stmts, err := Split(`BEGIN; INSERT INTO t VALUES (1); SELECT 1; SET search_path = x; COMMIT`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		_, err := Rewrite(s, Mapping{}, Options{})
		var u *UnsupportedError
		if !errors.As(err, &u) || u.Reason != ReasonNotDDL {
			t.Errorf("%s: %v, want a not-ddl UnsupportedError", s.Tag, err)
		}
	}
	if _, err := Rewrite(Statement{Kind: KindDDL}, Mapping{}, Options{}); err == nil || !strings.Contains(err.Error(), "no parse tree") {
		t.Errorf("a Statement not made by Split: %v", err)
	}
}

// pg_query's protobuf trip turns some empty string literals into NULL: the
// C deparser then drops them or crashes. Rewrite refuses those statements
// before deparsing.
func TestDeparseEmptyStrings(t *testing.T) {
	for _, sql := range []string{
		`ALTER TYPE s ADD VALUE ''`,
		`ALTER TYPE s ADD VALUE IF NOT EXISTS ''`,
		`ALTER TYPE s RENAME VALUE '' TO 'a'`,
		`ALTER TYPE s RENAME VALUE 'a' TO ''`,
		`ALTER TYPE s ADD VALUE 'x' AFTER ''`,
		`CREATE SERVER s TYPE '' FOREIGN DATA WRAPPER w`,
		`ALTER SERVER s VERSION ''`,
		`SECURITY LABEL FOR p ON TABLE t IS ''`,
	} {
		stmts, err := Split(sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Rewrite(stmts[0], Mapping{}, Options{})
		var u *UnsupportedError
		if !errors.As(err, &u) || u.Reason != ReasonDeparse {
			t.Errorf("%s: %q, %v; want a deparse error", sql, out, err)
		}
	}
	for sql, want := range map[string]string{
		`ALTER TYPE s ADD VALUE 'x' BEFORE 'y'`:   `ALTER TYPE s ADD VALUE 'x' BEFORE 'y'`,
		`ALTER TYPE s RENAME VALUE 'a' TO 'b'`:    `ALTER TYPE s RENAME VALUE 'a' TO 'b'`,
		`SECURITY LABEL FOR p ON TABLE t IS NULL`: `SECURITY LABEL FOR p ON TABLE t IS NULL`,
		`COMMENT ON TABLE t IS ''`:                `COMMENT ON TABLE t IS NULL`, // PostgreSQL stores '' as no comment
		`ALTER SERVER s VERSION NULL`:             `ALTER SERVER s VERSION NULL`,
	} {
		if got := rewriteOne(t, sql, Mapping{}, Options{}); got != want {
			t.Errorf("%s: got %s, want %s", sql, got, want)
		}
	}
}

func TestReasonOf(t *testing.T) {
	_, perr := Split("SELEC 1")
	stmts, _ := Split("DO $$ BEGIN END $$")
	for err, want := range map[error]Reason{
		perr:                 ReasonParse,
		stmts[0].Unsupported: ReasonRoutineBody,
		errors.New("other"):  "",
		error(nil):           "",
	} {
		if got := ReasonOf(err); got != want {
			t.Errorf("ReasonOf(%v) = %q, want %q", err, got, want)
		}
	}
}
