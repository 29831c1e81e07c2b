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
	byRel := map[uint32][]rowRef{}
	for i, f := range res.rowFilters {
		if f.new != nil {
			byRel[f.id] = append(byRel[f.id], rowRef{f: i})
		}
		if f.old != nil || f.new == nil {
			byRel[f.id] = append(byRel[f.id], rowRef{f: i, old: true})
		}
	}
	pass := make([][2]bool, len(res.rowFilters)) // new, old
	for id, refs := range byRel {
		rel := c.dec.full[id]
		expr := c.dec.filters[id]
		types, err := c.filterTypes(ctx, rel)
		if err != nil {
			return err
		}
		per := len(rel.Columns) + 1
		for lo := 0; lo < len(refs); {
			hi := min(len(refs), lo+max(1, maxFilterParams/per))
			var sql strings.Builder
			sql.WriteString("SELECT pgduet_row, coalesce((" + expr + "\n), false) FROM (VALUES ")
			args := make([]any, 0, (hi-lo)*per)
			for k, r := range refs[lo:hi] {
				if k > 0 {
					sql.WriteString(", ")
				}
				args = append(args, lo+k)
				sql.WriteString("($" + strconv.Itoa(len(args)) + "::int")
				f := res.rowFilters[r.f]
				row := f.new
				if r.old {
					row = f.old
					if row == nil {
						row = f.new // no old row: the filter's (key) columns did not change
					}
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
			sql.WriteString(") AS t(pgduet_row")
			for _, col := range rel.Columns {
				sql.WriteString(", " + pgx.Identifier{col.Name}.Sanitize())
			}
			sql.WriteString(")")
			rows, err := c.filterConn.Query(ctx, sql.String(), args...)
			if err != nil {
				return c.filterFailed(fmt.Errorf("row filter of table %s (%s): %w", c.dec.src[id], expr, err))
			}
			for rows.Next() {
				var i int
				var ok bool
				if err := rows.Scan(&i, &ok); err != nil {
					rows.Close()
					return c.filterFailed(fmt.Errorf("row filter of table %s: %w", c.dec.src[id], err))
				}
				r := refs[i]
				if r.old {
					pass[r.f][1] = ok
				} else {
					pass[r.f][0] = ok
				}
			}
			if err := rows.Err(); err != nil {
				return c.filterFailed(fmt.Errorf("row filter of table %s (%s): %w", c.dec.src[id], expr, err))
			}
			lo = hi
		}
	}

	drop := map[int]bool{}
	for i, f := range res.rowFilters {
		ch := &res.tx.Changes[f.idx]
		newOK, oldOK := pass[i][0], pass[i][1]
		switch ch.Op {
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
			case newOK: // enters it
				if row, ok := wholeRow(ch); ok {
					*ch = change.Change{Op: change.Insert, Rel: ch.Rel, New: row}
				} else {
					c.log.Warn("a row entered the table's row filter but the source did not send all its values (an unchanged TOASTed column, no REPLICA IDENTITY FULL): sent as an UPDATE, which the peer's conflict policy decides",
						"table", c.dec.src[f.id].String(), "xid", res.tx.Xid)
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
		if len(kept) == 0 {
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
