package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Table is one table's summary on one node.
type Table struct {
	Name   string `json:"table"`
	Exists bool   `json:"exists"`
	Rows   int64  `json:"rows"`
	Hash   string `json:"hash"`
}

// Result compares one table on both nodes.
type Result struct {
	Table string `json:"table"`
	Equal bool   `json:"equal"`
	A     Table  `json:"a"`
	B     Table  `json:"b"`
}

// ListTables returns "schema.table" for every ordinary or partitioned table in
// the database (pgduet's own schema and the system schemas excluded) for which
// keep returns true, sorted.
func ListTables(ctx context.Context, conn *pgx.Conn, keep func(schema, table string) bool) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r','p') AND NOT c.relispartition
		  AND n.nspname NOT IN ('pgduet','pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []string
	for rows.Next() {
		var s, t string
		if err := rows.Scan(&s, &t); err != nil {
			return nil, err
		}
		if keep(s, t) {
			out = append(out, s+"."+t)
		}
	}
	return out, rows.Err()
}

// Summarize computes a table's row count and ordered hash on one node. Rows are
// streamed in key order and hashed as they arrive, so memory stays flat.
func Summarize(ctx context.Context, conn *pgx.Conn, table string) (Table, error) {
	out := Table{Name: table}
	schema, name, ok := strings.Cut(table, ".")
	if !ok {
		return out, fmt.Errorf("table %q: want schema.table", table)
	}
	var oid *uint32
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1)::oid", pgx.Identifier{schema, name}.Sanitize()).Scan(&oid); err != nil {
		return out, fmt.Errorf("verify %s: %w", table, err)
	}
	if oid == nil {
		return out, nil
	}
	out.Exists = true
	order, err := orderBy(ctx, conn, *oid)
	if err != nil {
		return out, fmt.Errorf("verify %s: %w", table, err)
	}
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT t::text FROM %s t ORDER BY %s",
		pgx.Identifier{schema, name}.Sanitize(), order), pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return out, fmt.Errorf("verify %s: %w", table, err)
	}
	h := sha256.New()
	for rows.Next() {
		raw := rows.RawValues()[0]
		h.Write(raw)
		h.Write([]byte{'\n'})
		out.Rows++
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("verify %s: %w", table, err)
	}
	out.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return out, nil
}

// orderBy returns an ORDER BY list: the primary key columns, else the row text.
func orderBy(ctx context.Context, conn *pgx.Conn, oid uint32) (string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ON true
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`, oid)
	if err != nil {
		return "", err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	if len(cols) == 0 {
		return "t::text", nil
	}
	for i, c := range cols {
		cols[i] = "t." + pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(cols, ", "), nil
}

// Compare summarizes every table on both nodes.
func Compare(ctx context.Context, a, b *pgx.Conn, tables []string) ([]Result, error) {
	sort.Strings(tables)
	var out []Result
	for _, t := range tables {
		ra, err := Summarize(ctx, a, t)
		if err != nil {
			return nil, err
		}
		rb, err := Summarize(ctx, b, t)
		if err != nil {
			return nil, err
		}
		out = append(out, Result{Table: t, A: ra, B: rb,
			Equal: ra.Exists && rb.Exists && ra.Rows == rb.Rows && ra.Hash == rb.Hash})
	}
	return out, nil
}
