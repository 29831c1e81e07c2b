package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/capture"
	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/initial"
	"github.com/pgduet/pgduet/ddlparse"
	"github.com/pgduet/pgduet/policies"
	pgsql "github.com/pgduet/pgduet/sql"
)

// queueRetention is how long captured DDL stays in pgduet.ddl_queue. The rows
// are read only from the WAL (decoding never looks at the table), so pruning
// them loses nothing; they are kept a while for the DBA to inspect.
const queueRetention = "7 days"

// prepareDDL tells the local event triggers what this node is (SPEC §6.4):
// they capture DDL when the pair replicates it and, on the node that is not
// the DDL source with ddl.reverse = "reject", refuse it. It also prunes old
// queue rows and, per conflicts.retention, old conflict-log rows.
func prepareDDL(ctx context.Context, conn *pgx.Conn, cfg *policies.Config, node string) error {
	_, err := conn.Exec(ctx, `INSERT INTO pgduet.pair_settings AS s (pair, node, ddl_source, replicate, reverse)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (pair) DO UPDATE SET node = EXCLUDED.node, ddl_source = EXCLUDED.ddl_source,
			replicate = EXCLUDED.replicate, reverse = EXCLUDED.reverse, updated_at = now()
		WHERE (s.node, s.ddl_source, s.replicate, s.reverse) IS DISTINCT FROM
		      (EXCLUDED.node, EXCLUDED.ddl_source, EXCLUDED.replicate, EXCLUDED.reverse)`,
		cfg.Pair.Name, node, cfg.Pair.DDLSource, cfg.DDL.Replicate, cfg.DDL.Reverse)
	if err != nil {
		return fmt.Errorf("record the DDL settings in pgduet.pair_settings: %w", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM pgduet.ddl_queue WHERE captured_at < now() - $1::interval`, queueRetention); err != nil {
		return fmt.Errorf("prune pgduet.ddl_queue: %w", err)
	}
	// conflicts.retention; events still waiting for a DBA are kept.
	if _, err := conn.Exec(ctx, `DELETE FROM pgduet.conflicts WHERE pair = $1 AND logged_at < now() - $2 * interval '1 second'
		AND resolution NOT IN ('stopped', 'skip_requested')`, cfg.Pair.Name, cfg.Conflicts.Retention.Seconds()); err != nil {
		return fmt.Errorf("prune pgduet.conflicts: %w", err)
	}
	return nil
}

// publicationTables is what the node's publication lists besides whole
// schemas: the selected tables, and the DDL queue when DDL is replicated.
func publicationTables(cfg *policies.Config, node string) [][2]string {
	tables := cfg.PublicationTablesOn(node)
	if cfg.DDL.Replicate {
		tables = append(tables, [2]string{change.DDLQueue.Schema, change.DDLQueue.Name})
	}
	return tables
}

// captureDDLMode is what capture does with queue rows on node.
func captureDDLMode(cfg *policies.Config, node string) capture.DDLMode {
	switch {
	case !cfg.DDL.Replicate:
		return capture.DDLOff
	case node == cfg.Pair.DDLSource:
		return capture.DDLForward
	}
	return capture.DDLIgnore
}

// ddlRules is how the receiving node treats DDL from peer: nil unless peer is
// the DDL source and DDL is replicated.
func ddlRules(cfg *policies.Config, peer string) *apply.DDLRules {
	if !cfg.DDL.Replicate || peer != cfg.Pair.DDLSource {
		return nil
	}
	m := initial.Mapping(cfg)
	allow, deny := cfg.DDL.Allow, cfg.DDL.Deny
	return &apply.DDLRules{
		Mapping: m,
		Allowed: func(tag string) (bool, string) {
			for _, p := range deny {
				if ddlparse.MatchTag(p, tag) {
					return false, "deny " + p
				}
			}
			for _, p := range allow {
				if ddlparse.MatchTag(p, tag) {
					return true, "allow " + p
				}
			}
			return false, "not in allow"
		},
		Selected: func(schema, name string, relation bool) bool {
			if relation {
				_, ok := cfg.Selected(schema, name)
				return ok
			}
			return cfg.SchemaSelectedOn(cfg.Pair.DDLSource, schema)
		},
		Renamed: func(schema, name string) bool {
			for _, t := range cfg.Tables {
				if t.Schema != schema || t.Name != name {
					continue
				}
				for from, to := range t.ColumnTargets {
					if to != cfg.Names.Fold(from) { // names.case alone is rewritten
						return true
					}
				}
			}
			return false
		},
		Stop:    cfg.Conflicts.Policy == policies.PolicyFail,
		Policy:  cfg.Conflicts.Policy,
		SyncLWW: cfg.UsesLastWriteWins(),
	}
}

// tombstoneRetention is how long a tombstone of a local delete is kept: a
// change from the peer that committed before the delete but arrives later
// than this (the peer's agent was down that long) could bring the row back.
const tombstoneRetention = "7 days"

// prepareLWW gets the node ready for last_write_wins (SPEC §7): it checks
// track_commit_timestamp, tells the event triggers which tables use the
// policy (pgduet.pair_settings.lww), puts the tombstone triggers on them
// (and takes them off tables that no longer use it), refuses tables without
// a key, and prunes old tombstones.
func prepareLWW(ctx context.Context, conn *pgx.Conn, cfg *policies.Config, node string) error {
	rules := map[string]any{}
	if cfg.UsesLastWriteWins() {
		var track string
		if err := conn.QueryRow(ctx, "SELECT current_setting('track_commit_timestamp')").Scan(&track); err != nil {
			return fmt.Errorf("check track_commit_timestamp: %w", err)
		}
		if track != "on" {
			return permanent(fmt.Errorf("the conflict policy last_write_wins needs track_commit_timestamp = on (it is %s) on node %s: run ALTER SYSTEM SET track_commit_timestamp = on, then restart PostgreSQL", track, node))
		}
		schemas, tables, except := cfg.LastWriteWinsOn(node)
		rules["schemas"], rules["tables"], rules["except"] = nonNil(schemas), nonNil(tables), nonNil(except)
	}
	if _, err := conn.Exec(ctx, `UPDATE pgduet.pair_settings SET lww = $2 WHERE pair = $1 AND lww IS DISTINCT FROM $2`, cfg.Pair.Name, rules); err != nil {
		return fmt.Errorf("record the last_write_wins tables in pgduet.pair_settings: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT n.nspname::text, c.relname::text FROM pgduet.lww_sync_all() AS t
		JOIN pg_catalog.pg_class c ON c.oid = t JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`)
	if err != nil {
		return fmt.Errorf("put the last_write_wins triggers on the tables: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var st [2]string
		return st, r.Scan(&st[0], &st[1])
	})
	if err != nil {
		return fmt.Errorf("put the last_write_wins triggers on the tables: %w", err)
	}
	var keyless []string
	for _, st := range found {
		// A table a schema block's excludes leave out is not replicated:
		// its missing key does not matter.
		if _, ok := cfg.SelectedOn(node, st[0], st[1]); ok {
			keyless = append(keyless, st[0]+"."+st[1])
		}
	}
	if len(keyless) > 0 {
		return permanent(fmt.Errorf("the conflict policy last_write_wins needs a primary key (or replica identity index) on every table it covers, and node %s has tables without: %s; add one, or give them another policy (table \"s.t\" { conflicts { policy = ... } })",
			node, strings.Join(keyless, ", ")))
	}
	if _, err := conn.Exec(ctx, `DELETE FROM pgduet.tombstones d WHERE d.deleted_at < now() - $1::interval
		OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.relid)`, tombstoneRetention); err != nil {
		return fmt.Errorf("prune pgduet.tombstones: %w", err)
	}
	return nil
}

// nonNil makes an empty list a JSON [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// checkTableBlocks checks the table blocks' column selections and row filters
// against this node's tables before anything is shipped: every column they
// name exists, a column subset keeps the key (the peer finds rows by it),
// and a filter compiles and reads what PostgreSQL sends (checkWhere). A
// table that does not exist yet is only logged: DDL may create it later.
func checkTableBlocks(ctx context.Context, conn *pgx.Conn, cfg *policies.Config, node string, log *slog.Logger) error {
	for _, tb := range cfg.Tables {
		schema, name := tb.Schema, tb.Name
		if node != cfg.Pair.DDLSource {
			schema, name = tb.TargetSchema, tb.TargetName
		}
		m, ok := cfg.ColumnsOn(node, schema, name)
		if !ok && tb.Where == "" {
			continue
		}
		var cols, key []string
		var ident string
		err := conn.QueryRow(ctx, `SELECT c.relreplident::text,
			coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
			           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
			coalesce((SELECT array_agg(a.attname::text) FROM pg_catalog.pg_index i
			           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
			           WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END), '{}')
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2`, schema, name).Scan(&ident, &cols, &key)
		if errors.Is(err, pgx.ErrNoRows) {
			log.Warn("a table block selects a table that does not exist here (yet): its columns are checked when the agent next starts",
				"table", schema+"."+name, "block", tb.DeclRange.String())
			continue
		}
		if err != nil {
			return fmt.Errorf("check the columns of table %s.%s: %w", schema, name, err)
		}
		if tb.Where != "" {
			if err := checkWhere(ctx, conn, tb, cfg.Names, schema, name, node, ident, cols, key); err != nil {
				return err
			}
		}
		if !ok {
			continue
		}
		if err := m.Check(cols); err != nil {
			return permanent(fmt.Errorf("table %s.%s on node %s (table block at %s): %w", schema, name, node, tb.DeclRange, err))
		}
		var missing []string
		for _, k := range key {
			if _, ok := m.Map(k); !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return permanent(fmt.Errorf("table %s.%s on node %s (table block at %s): columns leaves out key column(s) %s, which the peer finds rows by: add them to columns",
				schema, name, node, tb.DeclRange, strings.Join(missing, ", ")))
		}
	}
	return nil
}

// checkFolds checks, on the DDL source under names.case = lower or upper,
// that the fold keeps names apart: no two selected tables of a schema, and
// no two columns of a selected table, may get the same name on the other
// node ("Orders" and "orders" under lower). Table blocks' columns are
// checked by checkTableBlocks (ColumnMap.Check).
func checkFolds(ctx context.Context, conn *pgx.Conn, cfg *policies.Config, node string) error {
	if !cfg.Names.Folds() || node != cfg.Pair.DDLSource {
		return nil
	}
	rows, err := conn.Query(ctx, `SELECT n.nspname::text, c.relname::text,
			coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
			           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}')
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY ($1::text[])
		ORDER BY 1, 2`, cfg.PublicationSchemas())
	if err != nil {
		return fmt.Errorf("check names.case: %w", err)
	}
	type table struct {
		schema, name string
		cols         []string
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		return t, r.Scan(&t.schema, &t.name, &t.cols)
	})
	if err != nil {
		return fmt.Errorf("check names.case: %w", err)
	}
	var problems []string
	seen := map[[2]string]string{} // folded schema.table → the table folded onto it
	for _, t := range tables {
		if _, ok := cfg.Selected(t.schema, t.name); !ok {
			continue
		}
		ps, pn := cfg.MapTable(node, t.schema, t.name)
		if f, taken := seen[[2]string{ps, pn}]; taken {
			problems = append(problems, fmt.Sprintf("tables %s and %s both become %s", f, pgx.Identifier{t.schema, t.name}.Sanitize(), pgx.Identifier{ps, pn}.Sanitize()))
		}
		seen[[2]string{ps, pn}] = pgx.Identifier{t.schema, t.name}.Sanitize()
		if m, ok := cfg.ColumnsOn(node, t.schema, t.name); ok && !m.Reshapes() {
			if err := m.Check(t.cols); err != nil {
				problems = append(problems, fmt.Sprintf("table %s: %v", pgx.Identifier{t.schema, t.name}.Sanitize(), err))
			}
		}
	}
	if len(problems) > 0 {
		return permanent(fmt.Errorf("names.case = %q (at %s) would give two objects one name on the other node, and changes from there could not be mapped back: %s. Rename one of each, or map it with a table block's target or a column block",
			cfg.Names.Case, cfg.Names.DeclRange, strings.Join(problems, "; ")))
	}
	return nil
}

// checkWhere checks a table block's row filter on this node's table: it is
// one expression (ddlparse) over the table's own columns; PostgreSQL
// accepts it as a WHERE clause (boolean, no aggregate or set-returning
// function) and as a stored generated column (immutable: the same row
// always gives the same answer, whenever and however often it is
// evaluated); and it reads only columns PostgreSQL sends the old values of
// (the replica identity, or every column with REPLICA IDENTITY FULL):
// without them an UPDATE that moves a row out of the filter would go
// unnoticed. The statements are only prepared, or run in a transaction
// that is rolled back.
func checkWhere(ctx context.Context, conn *pgx.Conn, tb *policies.TableSel, names policies.Names, schema, name, node, ident string, tableCols, key []string) error {
	where := fmt.Sprintf("table %s.%s on node %s (where at %s)", schema, name, node, tb.DeclRange)
	cols, err := ddlparse.FilterColumns(tb.Where)
	if err != nil {
		return permanent(fmt.Errorf("%s: %w", where, err))
	}
	for _, c := range cols {
		if !slices.Contains(tableCols, c) {
			hint := ""
			if names.Folds() {
				hint = fmt.Sprintf(" (names.case = %q spells column names differently on the two nodes, and the filter is evaluated on both with the same text: it can only name columns the fold leaves as they are)", names.Case)
			}
			return permanent(fmt.Errorf("%s: the row filter names %q, which is not a column of the table%s", where, c, hint))
		}
	}
	table := pgx.Identifier{schema, name}.Sanitize()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	defer tx.Rollback(context.Background())
	// The filter is read as ddlparse parsed it, and as capture evaluates it.
	if _, err := tx.Exec(ctx, pgsql.InternalSQL+"; SET LOCAL standard_conforming_strings = on"); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if _, err := tx.Conn().PgConn().Prepare(ctx, "", "SELECT 1 FROM ONLY "+table+" WHERE ("+tb.Where+"\n) LIMIT 0", nil); err != nil {
		return permanent(fmt.Errorf("%s: the row filter is not a valid condition on the table: %w", where, err))
	}
	if _, err := tx.Exec(ctx, "CREATE TEMPORARY TABLE pgduet_filter_check (LIKE "+table+") ON COMMIT DROP"); err != nil {
		return fmt.Errorf("%s: check the row filter: %w", where, err)
	}
	// ExecParams: the extended protocol runs exactly one statement, whatever
	// the text holds (the simple protocol would run several).
	if err := tx.Conn().PgConn().ExecParams(ctx, "ALTER TABLE pg_temp.pgduet_filter_check ADD COLUMN pgduet_filter boolean GENERATED ALWAYS AS (("+tb.Where+"\n)) STORED",
		nil, nil, nil, nil).Read().Err; err != nil {
		return permanent(fmt.Errorf("%s: the row filter must give the same answer for the same row whenever it is evaluated (only immutable functions and operators: not now(), random() or a function reading tables): %w", where, err))
	}
	if ident == "f" {
		return nil
	}
	var outside []string
	for _, c := range cols {
		if !slices.Contains(key, c) {
			outside = append(outside, c)
		}
	}
	if len(outside) > 0 {
		return permanent(fmt.Errorf("%s: the row filter reads %s, which the replica identity does not include, so PostgreSQL does not send its old value and a row leaving the filter would go unnoticed: run ALTER TABLE %s REPLICA IDENTITY FULL, or filter on key columns only",
			where, strings.Join(outside, ", "), table))
	}
	return nil
}
