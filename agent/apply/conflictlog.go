package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
)

// The conflict log (SPEC §7): every conflict is a row of pgduet.conflicts on
// the receiving node, with both row images where there are two. Conflicts a
// transaction survives (delete_missing) are written in that transaction, so
// they are recorded exactly once; a conflict that stops the direction is
// written after the rollback, on a connection of its own, once per event.

// Resolutions recorded in pgduet.conflicts.resolution.
const (
	ResolutionSkipped = "skipped" // the change (or DDL) was not applied; the transaction went on
	ResolutionStopped = "stopped" // the direction stopped on it (policy fail)
)

// rowJSON renders a row image as a JSON object, column name → text value.
// NULL is null; an unchanged TOAST value that the source did not send is
// {"unchanged_toast": true}, so the log never shows a value that was not sent.
func rowJSON(rel *change.Relation, vals []change.Value) []byte {
	if rel == nil || vals == nil {
		return nil
	}
	m := make(map[string]any, len(vals))
	for i, v := range vals {
		if i >= len(rel.Columns) {
			break
		}
		switch v.Kind {
		case change.Null:
			m[rel.Columns[i].Name] = nil
		case change.Unchanged:
			m[rel.Columns[i].Name] = map[string]bool{"unchanged_toast": true}
		default:
			m[rel.Columns[i].Name] = string(v.Data)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// remoteRow is the image a change brought: the new row, or the old one for a
// DELETE (only its key columns when the source sent only the key).
func remoteRow(ch *change.Change) []byte {
	if ch.New != nil {
		return rowJSON(ch.Rel, ch.New)
	}
	if !ch.OldIsKey {
		return rowJSON(ch.Rel, ch.Old)
	}
	key := &change.Relation{}
	var vals []change.Value
	for i, c := range ch.Rel.Columns {
		if c.Key && i < len(ch.Old) {
			key.Columns = append(key.Columns, c)
			vals = append(vals, ch.Old[i])
		}
	}
	return rowJSON(key, vals)
}

// insertConflictPlainSQL writes one event inside the transaction that
// survives it: exactly once by construction.
const insertConflictPlainSQL = `INSERT INTO pgduet.conflicts (pair, origin_node, kind, policy, resolution, table_name, statement, detail,
		local_row, remote_row, source_lsn, source_xid, source_seq)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::pg_lsn, $12, $13)`

// insertConflictSQL writes one event, unless the same event (source position,
// kind, resolution) is there already: a stopped transaction is retried.
const insertConflictSQL = `INSERT INTO pgduet.conflicts (pair, origin_node, kind, policy, resolution, table_name, statement, detail,
		local_row, remote_row, source_lsn, source_xid, source_seq)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::pg_lsn, $12, $13
	 WHERE NOT EXISTS (SELECT 1 FROM pgduet.conflicts WHERE pair = $1 AND origin_node = $2 AND source_lsn = $11::pg_lsn
	                      AND source_seq = $13 AND kind = $3 AND resolution = $5)`

// recordStop writes the conflict or DDL event that stopped the direction to
// pgduet.conflicts, on a connection of its own (the apply transaction was
// rolled back, and the apply session carries the origin), once per event.
func (a *Applier) recordStop(tx *change.Tx, failure error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		kind, table, stmt, detail string
		local, remote             []byte
		seq                       int
		ce                        *ConflictError
		de                        *DDLError
	)
	switch {
	case errors.As(failure, &ce):
		kind, stmt, detail, seq = ce.Kind, ce.Statement, ce.Detail, ce.seq
		if ce.Statement == "" {
			ch := &tx.Changes[ce.seq-a.base]
			table, remote = ch.Rel.Table.String(), remoteRow(ch)
			detail = fmt.Sprintf("key %s: %s", ce.Key, ce.Detail)
		}
	case errors.As(failure, &de):
		kind, stmt, detail, seq = KindDDLFailed, de.Statement, de.err.Error(), de.Seq
	default:
		return
	}
	a.count(kind, ResolutionStopped, 1)
	if a.stopped != nil {
		a.stopped[tx.EndLSN] = true
	}
	conn, err := pgx.Connect(ctx, a.cfg.ConnString)
	if err == nil {
		if ce != nil && ce.Kind == KindInsertExists && ce.Statement == "" {
			local = a.localRow(ctx, conn, &tx.Changes[ce.seq-a.base])
		}
		_, err = conn.Exec(ctx, insertConflictSQL, a.cfg.Pair, a.cfg.Peer, kind, a.policyName(), ResolutionStopped,
			nullIfEmpty(table), nullIfEmpty(stmt), detail, jsonArg(local), jsonArg(remote), tx.EndLSN.String(), int64(tx.Xid), seq)
		conn.Close(ctx)
	}
	if err != nil {
		a.log.Warn("could not record the stopped event in pgduet.conflicts", "err", err, "kind", kind, "lsn", tx.EndLSN)
	}
}

// resolveStops marks, inside the transaction about to commit, the rows of
// pgduet.conflicts that stopped on it earlier (the DBA fixed the cause, or it
// went away) as applied_on_retry. Only transactions that stopped before cost
// the round trip.
func (a *Applier) resolveStops(ctx context.Context, tx *change.Tx) error {
	if !a.stopped[tx.EndLSN] {
		return nil
	}
	a.roundTrip()
	if _, err := a.conn.Exec(ctx, `UPDATE pgduet.conflicts SET resolution = 'applied_on_retry', resolved_at = pg_catalog.clock_timestamp()
		WHERE pair = $1 AND origin_node = $2 AND source_lsn = $3::pg_lsn AND resolution = 'stopped'`,
		a.cfg.Pair, a.cfg.Peer, tx.EndLSN.String()); err != nil {
		return fmt.Errorf("mark earlier stops of this transaction applied in pgduet.conflicts: %w", err)
	}
	return nil
}

// localRow reads the local row an INSERT collided with, by the target's key
// (replica identity or primary key) taken from the remote row; nil when the
// collision was on another unique key or the table has no key.
func (a *Applier) localRow(ctx context.Context, conn *pgx.Conn, ch *change.Change) []byte {
	t := a.tables[ch.Rel.Table]
	if t == nil || t.target == nil || len(t.target.key) == 0 {
		return nil
	}
	b := t.bindings[ch.Rel]
	if b == nil {
		return nil
	}
	var where []string
	var args []any
	for _, j := range t.target.key {
		src := b.tgtToSrc[j]
		if src < 0 || src >= len(ch.New) || ch.New[src].Kind != change.Text {
			return nil
		}
		args = append(args, string(ch.New[src].Data))
		// Read by the column's own type: settings like TimeZone do not matter.
		where = append(where, fmt.Sprintf("%s = $%d", pgx.Identifier{t.target.cols[j].name}.Sanitize(), len(args)))
	}
	var row []byte
	q := fmt.Sprintf("SELECT to_jsonb(t)::text FROM %s t WHERE %s", t.from, strings.Join(where, " AND "))
	if err := conn.QueryRow(ctx, q, args...).Scan(&row); err != nil {
		return nil
	}
	return row
}

// jsonArg passes a JSON document as text (a []byte would be sent as bytea).
func jsonArg(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// count adds n events of kind with resolution to Stats.Outcomes.
func (a *Applier) count(kind, resolution string, n int) {
	if n == 0 {
		return // no zero entries in the metrics
	}
	a.statsMu.Lock()
	a.stats.Outcomes[kind+"/"+resolution] += uint64(n)
	a.statsMu.Unlock()
}

// warnInterval is how often one (table, kind) may log a Warn line; the
// events in between are counted and reported with the next one.
const warnInterval = 10 * time.Second

type warnState struct {
	last       time.Time
	suppressed int
}

// warnConflict logs a conflict at Warn, at most once per warnInterval per
// table and kind (the rest at Debug), so a burst does not flood the log;
// every event is in pgduet.conflicts anyway.
func (a *Applier) warnConflict(t change.TableRef, kind, msg string, args ...any) {
	key := t.String() + "/" + kind
	if a.warned == nil {
		a.warned = map[string]*warnState{}
	}
	w := a.warned[key]
	if w == nil {
		w = &warnState{}
		a.warned[key] = w
	}
	now := time.Now()
	if now.Sub(w.last) < warnInterval {
		w.suppressed++
		a.log.Debug(msg, args...)
		return
	}
	if w.suppressed > 0 {
		args = append(args, "similar_since_last_warning", w.suppressed)
	}
	w.last, w.suppressed = now, 0
	a.log.Warn(msg, args...)
}
