package capture

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
)

// Row filters (a table block's `where`) are decided by the sending agent,
// before a transaction is delivered, by its own database: one query per
// table per transaction evaluates the filter on every row the transaction
// wrote, old and new (SPEC §4, table where). Then, as PostgreSQL's own
// row filters do:
//
//   - an INSERT or a DELETE is sent when its row passes;
//   - an UPDATE whose old and new rows pass is sent; old only: it leaves the
//     filter, and the peer gets a DELETE; new only: it enters, and the peer
//     gets an INSERT of the whole row (an UPDATE when the source did not
//     send every value, so that the peer's conflict policy reports it
//     rather than inserting NULLs); neither: dropped.
//
// The old row is the one PostgreSQL sent: the agent checks at start that a
// filter reads only replica-identity columns, or that the table has
// REPLICA IDENTITY FULL. Without an old row (the key did not change) the
// filter's columns did not change either.

// maxFilterParams keeps one evaluation query under the protocol's limit.
const maxFilterParams = 60000

// filterRowColumn names the row number in the evaluation query: a name no
// table column has (a space inside).
const filterRowColumn = `"pgduet row"`

// newTableFilter prepares a table's row filter for one relation version:
// without REPLICA IDENTITY FULL, PostgreSQL sends old values of the
// replica-identity columns only, so a filter reading another column could
// not see a row leave it. The agent checks this at start; a later ALTER
// TABLE is caught here.
func newTableFilter(src change.TableRef, rel *change.Relation, expr string, cols []string) *tableFilter {
	tf := &tableFilter{expr: expr}
	if rel.Identity == 'f' {
		return tf
	}
	key := map[string]bool{}
	for _, c := range rel.Columns {
		if c.Key {
			key[c.Name] = true
		}
	}
	var outside []string
	for _, c := range cols {
		if !key[c] {
			outside = append(outside, c)
		}
	}
	if len(outside) > 0 {
		tf.err = fmt.Errorf("the row filter of table %s reads %s, outside its replica identity, so PostgreSQL does not send the old values a row leaving the filter is seen by: run ALTER TABLE %s REPLICA IDENTITY FULL (the transactions wait here until then)",
			src, strings.Join(outside, ", "), pgx.Identifier{src.Schema, src.Name}.Sanitize())
	}
	return tf
}

// applyRowFilters decides the transaction's filtered changes and rewrites
// or drops them.
func (c *Capture) applyRowFilters(ctx context.Context, res *committed) error {
	if err := c.filterConnect(ctx); err != nil {
		return err
	}
	type rowRef struct {
		f   int  // index in res.rowFilters
		old bool // the old row
	}
	// Grouped by relation version: a table altered inside the transaction
	// has rows of two shapes.
	byRel := map[*change.Relation][]rowRef{}
	var order []*change.Relation
	for i, f := range res.rowFilters {
		if f.filter.err != nil {
			return c.errorf("%w", f.filter.err)
		}
		if byRel[f.rel] == nil {
			order = append(order, f.rel)
		}
		if f.new != nil {
			byRel[f.rel] = append(byRel[f.rel], rowRef{f: i})
		}
		if f.old != nil {
			byRel[f.rel] = append(byRel[f.rel], rowRef{f: i, old: true})
		}
	}
	pass := make([][2]bool, len(res.rowFilters)) // new, old
	for _, rel := range order {
		refs := byRel[rel]
		f0 := res.rowFilters[refs[0].f]
		types, err := c.filterTypes(ctx, rel)
		if err != nil {
			return err
		}
		per := len(rel.Columns) + 1
		for lo := 0; lo < len(refs); {
			hi := min(len(refs), lo+max(1, maxFilterParams/per))
			var sql strings.Builder
			sql.WriteString("SELECT " + filterRowColumn + ", coalesce((" + f0.filter.expr + "\n), false) FROM (VALUES ")
			args := make([]any, 0, (hi-lo)*per)
			for k, r := range refs[lo:hi] {
				if k > 0 {
					sql.WriteString(", ")
				}
				args = append(args, strconv.Itoa(lo+k))
				sql.WriteString("($" + strconv.Itoa(len(args)) + "::int")
				f := res.rowFilters[r.f]
				row := f.new
				if r.old {
					row = f.old
				}
				for j, v := range row {
					if v.Kind == change.Unchanged && f.old != nil && j < len(f.old) {
						v = f.old[j] // a TOASTed value the new row did not repeat
					}
					if v.Kind == change.Text {
						args = append(args, string(v.Data))
					} else {
						args = append(args, nil)
					}
					sql.WriteString(", $" + strconv.Itoa(len(args)) + "::" + types[j])
				}
				sql.WriteString(")")
			}
			sql.WriteString(") AS t(" + filterRowColumn)
			for _, col := range rel.Columns {
				sql.WriteString(", " + pgx.Identifier{col.Name}.Sanitize())
			}
			sql.WriteString(")")
			// Not prepared: the text changes with the number of rows.
			rows, err := c.filterConn.Query(ctx, sql.String(), append([]any{pgx.QueryExecModeExec}, args...)...)
			if err != nil {
				return c.filterFailed(fmt.Errorf("row filter of table %s (%s): %w", f0.src, f0.filter.expr, err))
			}
			for rows.Next() {
				var i int
				var ok bool
				if err := rows.Scan(&i, &ok); err != nil {
					rows.Close()
					return c.filterFailed(fmt.Errorf("row filter of table %s: %w", f0.src, err))
				}
				r := refs[i]
				if r.old {
					pass[r.f][1] = ok
				} else {
					pass[r.f][0] = ok
				}
			}
			if err := rows.Err(); err != nil {
				return c.filterFailed(fmt.Errorf("row filter of table %s (%s): %w", f0.src, f0.filter.expr, err))
			}
			lo = hi
		}
	}

	drop := map[int]bool{}
	allowed := func(f rowFilter, op change.Op) bool { return c.cfg.Filter == nil || c.cfg.Filter(f.src, op) }
	for i, f := range res.rowFilters {
		ch := &res.tx.Changes[f.idx]
		newOK, oldOK := pass[i][0], pass[i][1]
		if f.op == change.Update && f.old == nil {
			oldOK = newOK // no old row: the key, and so the filter's columns, did not change
		}
		switch f.op {
		case change.Insert:
			drop[f.idx] = !newOK
		case change.Delete:
			drop[f.idx] = !oldOK
		case change.Update:
			switch {
			case newOK && oldOK:
			case oldOK: // leaves the filter
				old, isKey := ch.Old, ch.OldIsKey
				if old == nil {
					old, isKey = ch.New, true // the key did not change
				}
				*ch = change.Change{Op: change.Delete, Rel: ch.Rel, Old: old, OldIsKey: isKey}
				drop[f.idx] = !allowed(f, change.Delete)
			case newOK: // enters it
				if row, ok := wholeRow(ch); ok {
					*ch = change.Change{Op: change.Insert, Rel: ch.Rel, New: row}
					drop[f.idx] = !allowed(f, change.Insert)
				} else {
					c.log.Warn("a row entered the table's row filter but the source did not send all its values (an unchanged TOASTed column, no REPLICA IDENTITY FULL): sent as an UPDATE, which the peer's conflict policy decides",
						"table", f.src.String(), "xid", res.tx.Xid)
				}
			default:
				drop[f.idx] = true
			}
		}
	}
	if len(drop) > 0 {
		kept := res.tx.Changes[:0]
		for i, ch := range res.tx.Changes {
			if drop[i] {
				res.filtered++
				continue
			}
			kept = append(kept, ch)
		}
		res.tx.Changes = kept
		if res.tx.Len() == 0 {
			res.kind = txFiltered
		}
	}
	res.rowFilters = nil
	return nil
}

// wholeRow returns the new row of an UPDATE with every value, taking an
// unchanged TOASTed one from the full old row.
func wholeRow(ch *change.Change) ([]change.Value, bool) {
	row := make([]change.Value, len(ch.New))
	for i, v := range ch.New {
		if v.Kind == change.Unchanged {
			if ch.Old == nil || ch.OldIsKey || i >= len(ch.Old) || ch.Old[i].Kind == change.Unchanged {
				return nil, false
			}
			v = ch.Old[i]
		}
		row[i] = v
	}
	return row, true
}

// filterTypes returns the SQL type of each column of rel, for the casts of
// the evaluation query (cached per relation version).
func (c *Capture) filterTypes(ctx context.Context, rel *change.Relation) ([]string, error) {
	if t, ok := c.typeNames[rel]; ok {
		return t, nil
	}
	oids := make([]uint32, len(rel.Columns))
	mods := make([]int32, len(rel.Columns))
	for i, col := range rel.Columns {
		oids[i], mods[i] = col.TypeOID, col.TypeMod
	}
	var names []string
	err := c.filterConn.QueryRow(ctx, `SELECT array_agg(pg_catalog.format_type(o, m) ORDER BY n)
		FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::int4[])) WITH ORDINALITY AS u(o, m, n)`, oids, mods).Scan(&names)
	if err != nil {
		return nil, c.filterFailed(fmt.Errorf("read the column types of %s for its row filter: %w", rel.Table, err))
	}
	if c.typeNames == nil {
		c.typeNames = map[*change.Relation][]string{}
	}
	c.typeNames[rel] = names
	return names, nil
}

// filterConnect opens the session row filters are evaluated in: an
// ordinary connection to this node's database, with its default settings
// (the filter's functions resolve as in any session there).
func (c *Capture) filterConnect(ctx context.Context) error {
	if c.filterConn != nil && !c.filterConn.IsClosed() {
		return nil
	}
	conn, err := pgx.Connect(ctx, c.cfg.ConnString)
	if err != nil {
		return c.errorf("connect for row filters: %w", err)
	}
	// A filter that waits on a lock or runs long would hold the stream.
	// And the filter reads as pgduet parsed it (ddlparse assumes standard
	// conforming strings).
	if _, err := conn.Exec(ctx, "SET statement_timeout = '60s'; SET standard_conforming_strings = on"); err != nil {
		_ = conn.Close(ctx)
		return c.errorf("prepare the row filter session: %w", err)
	}
	c.filterConn = conn
	c.typeNames = nil
	return nil
}

// filterFailed closes the filter session (its state is unknown) and wraps err.
func (c *Capture) filterFailed(err error) error {
	if c.filterConn != nil {
		_ = c.filterConn.Close(context.Background())
		c.filterConn = nil
	}
	return c.errorf("%w", err)
}
