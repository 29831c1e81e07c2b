package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
)

// last_write_wins (SPEC §7).
//
// A row version is (commit timestamp, node): the commit timestamp of the
// transaction that wrote it (track_commit_timestamp; rows the applier wrote
// carry their source's commit time, set by pg_replication_origin_xact_setup),
// ties broken by node name. pgduet.lww_remote_wins (sql/0003_lww.sql)
// compares a local row's version with the remote transaction's.
//
// The conflict-free path stays one pipeline: UPDATE and DELETE carry the
// comparison in their WHERE clause; INSERT does nothing on a collision (ON
// CONFLICT DO NOTHING) and fails (PD001) on a key that a newer local delete
// left a tombstone for, as does an UPDATE that moves its row to such a key.
// A row count of 0, or that error, is then looked at in place (runSegment's
// redo):
//
//   - INSERT: when a colliding local row is newer, or the key was deleted
//     here later (a tombstone), it is left out (kept_local, kept_delete);
//     otherwise the colliding rows are replaced (overwritten).
//   - UPDATE: a newer local row is kept (update_older, kept_local); a missing
//     row deleted here later stays deleted (update_missing, kept_delete);
//     otherwise the whole new row is inserted (update_missing, inserted). An
//     UPDATE that changes the key is a delete of the old key and an insert of
//     the new one: the new key is decided like an INSERT even when the old
//     key's version was newer here. A collision of the new values with
//     other rows (update_exists) replaces them when they are all older.
//   - DELETE: a newer local row is kept (delete_older, kept_local); no row is
//     delete_missing (skipped).
//
// Both nodes take the same decision for every pair of versions of a key, so
// they converge on the primary key (replica identity). Collisions on other
// unique keys are decided by the same rule row by row, which cannot always
// give both nodes the same rows (README, "Conflicts").

// Resolutions of last_write_wins.
const (
	ResolutionKeptLocal  = "kept_local"  // the local row is newer: the remote change was left out
	ResolutionKeptDelete = "kept_delete" // the row was deleted here after the remote change committed: left out
)

// lwwShape is the part of a statement's cache key that says it compares
// versions, with the tie rule (" l1" when the remote node wins a tie, " l0"
// otherwise) and, for an UPDATE that moves its row to another key, "m": the
// new key is checked against the tombstones.
type lwwShape struct{ tie, move bool }

func parseLWW(s string) *lwwShape {
	return &lwwShape{tie: strings.HasPrefix(s, "1"), move: strings.HasSuffix(s, "m")}
}

// errTombstone is the SQLSTATE pgduet.lww_check_insert raises.
const errTombstone = "PD001"

// lwwReturning is the RETURNING clause of an INSERT, or of an UPDATE that
// moves a row: once the row is in, pgduet.lww_check_insert fails the
// statement when its key was deleted here after the remote commit. It reads
// the tombstones after the row went in, so a local DELETE of that key that
// the statement waited for is seen (a check in the statement's own
// snapshot would miss it).
func lwwReturning(t *table, l *lwwShape, ts string) string {
	keys := make([]string, len(t.target.key))
	for k, j := range t.target.key {
		keys[k] = pgx.Identifier{t.target.cols[j].name}.Sanitize()
	}
	return " RETURNING pgduet.lww_check_insert(" + strconv.FormatUint(uint64(t.target.oid), 10) + "::pg_catalog.regclass, ROW(" +
		strings.Join(keys, ", ") + "), " + ts + "::pg_catalog.timestamptz, " + strconv.FormatBool(l.tie) + ")"
}

// remoteWinsTie is the tie rule for this direction: the node whose name sorts
// last wins equal timestamps, on both nodes.
func (a *Applier) remoteWinsTie() bool { return a.cfg.Peer > a.cfg.Node }

// lwwWins is the SQL condition "the remote change is newer than the row
// version written by xmin"; ts is the parameter holding the remote commit time.
func lwwWins(xmin, ts string, tie bool) string {
	return "pgduet.lww_remote_wins(" + xmin + ", " + ts + "::pg_catalog.timestamptz, " + strconv.FormatBool(tie) + ")"
}

// lwwGuard is the WHERE clause addition of a last_write_wins UPDATE or DELETE.
func lwwGuard(l *lwwShape, ts string) string {
	return " AND " + lwwWins("xmin", ts, l.tie)
}

var errLWWNoKey = errors.New("last_write_wins needs a primary key (or replica identity index) on the table to find a row's version and to remember deleted keys: add one, or give the table another conflict policy")

// lwwPlan marks a plan for a last_write_wins table: its statement compares
// versions, with the transaction's commit time as the last parameter.
func (a *Applier) lwwPlan(p *rowPlan, b *binding, ch *change.Change) error {
	t := p.tbl
	if t.policy() != policyLWW {
		return nil
	}
	if len(t.target.key) == 0 {
		return fmt.Errorf("table has no key on node %s: %w", a.cfg.Node, errLWWNoKey)
	}
	switch ch.Op {
	case change.Insert:
		for _, j := range t.target.key {
			if i := b.tgtToSrc[j]; i < 0 || ch.New[i].Kind != change.Text {
				return fmt.Errorf("key column %q of node %s has no value in the source row: last_write_wins cannot check it against deleted keys", t.target.cols[j].name, a.cfg.Node)
			}
		}
	default:
		if bytes.Contains(p.key, []byte(" f,")) {
			return fmt.Errorf("the source did not send the values of node %s's key columns: last_write_wins needs the same key (primary key or replica identity index) on both nodes", a.cfg.Node)
		}
	}
	if a.remoteWinsTie() {
		p.key = append(p.key, " l1"...)
	} else {
		p.key = append(p.key, " l0"...)
	}
	if ch.Op == change.Update && keyChanged(ch, p) {
		p.key = append(p.key, 'm')
	}
	p.params = append(p.params, a.txTime)
	return nil
}

// lwwInsertSQL is the INSERT of a last_write_wins table: nothing happens (0
// rows) when the row collides with a local one, and it fails with PD001 when
// its key was deleted here after the remote commit.
func lwwInsertSQL(t *table, write []int, l *lwwShape) string {
	n := 0
	return insertSQL(t, write, true, func() string { n++; return "$" + strconv.Itoa(n) }) + lwwReturning(t, l, "$"+strconv.Itoa(len(write)+1))
}

// tombstoneMatch finds the tombstone of the key whose typed values are keys.
// Tombstones name the root of a partitioned table (its trigger is cloned to
// the partitions); pg_partition_root is NULL for other tables.
func tombstoneMatch(t *table, keys []string) string {
	rel := strconv.FormatUint(uint64(t.target.oid), 10) + "::pg_catalog.regclass"
	return "d.relid = coalesce(pg_catalog.pg_partition_root(" + rel + "), " + rel + ")" +
		" AND d.key_hash = pgduet.lww_hash(pgduet.lww_key(ROW(" + strings.Join(keys, ", ") + "), NULL))"
}

// lwwResolve looks at a change of a last_write_wins table whose statement
// changed no row (or hit a unique violation), in place: see the top of this
// file.
func (a *Applier) lwwResolve(ctx context.Context, tx *change.Tx, i int, kind string, p *rowPlan, out *outcome) error {
	ch := &tx.Changes[i]
	switch ch.Op {
	case change.Insert:
		return a.lwwInsert(ctx, tx, i, ch.New, KindInsertExists, out)

	case change.Delete:
		local, wins, err := a.lwwLocalRow(ctx, p)
		if err != nil {
			return err
		}
		switch {
		case local == nil:
			out.missing = append(out.missing, i)
			return nil
		case wins:
			return fmt.Errorf("%s %s: the remote delete is newer than the row %s but deleted nothing (a local transaction changed the row meanwhile); the transaction will be retried", ch.Op, ch.Rel.Table, p.keyString())
		}
		out.events = append(out.events, event{idx: i, kind: KindDeleteOlder, resolution: ResolutionKeptLocal, local: local,
			detail: "the local row is newer than the remote delete (last_write_wins): kept"})
		return nil

	case change.Update:
		if kind == KindUpdateExists {
			return a.lwwUpdateExists(ctx, tx, i, p, out)
		}
		rekey := keyChanged(ch, p)
		local, wins, err := a.lwwLocalRow(ctx, p)
		if err != nil {
			return err
		}
		next := KindUpdateMissing // what inserting the new row is
		switch {
		case local != nil && !wins:
			out.events = append(out.events, event{idx: i, kind: KindUpdateOlder, resolution: ResolutionKeptLocal, local: local,
				detail: "the local row is newer than the remote update (last_write_wins): kept"})
			if !rekey {
				return nil
			}
			next = ""
		case local != nil:
			if !rekey {
				return fmt.Errorf("%s %s: the remote update is newer than the row %s but changed nothing (a local transaction changed the row meanwhile); the transaction will be retried", ch.Op, ch.Rel.Table, p.keyString())
			}
			// A move whose new key was deleted here later (PD001): the old
			// key's half wins, the new key's is decided as an insert.
			if err := a.deleteAt(ctx, p, out); err != nil {
				return fmt.Errorf("%s %s: delete the row at the old key: %w", ch.Op, ch.Rel.Table, err)
			}
			next = ""
		default:
			keys := make([]change.Value, len(p.match))
			for k := range p.match {
				keys[k] = p.vals[p.srcIdx[k]]
			}
			newer, err := a.tombstoneNewer(ctx, p.tbl, keys)
			if err != nil {
				return err
			}
			if newer {
				out.events = append(out.events, event{idx: i, kind: KindUpdateMissing, resolution: ResolutionKeptDelete,
					detail: "the row was deleted here after the remote update committed (last_write_wins): it stays deleted"})
				if !rekey {
					return nil
				}
				next = ""
			}
		}
		// The new row: the whole row for a missing one, and for an UPDATE
		// that moved the row to a new key, that key's insert.
		row, why := completeRow(ch)
		if row == nil {
			k := next
			if k == "" {
				k = KindInsertExists
			}
			out.events = append(out.events, event{idx: i, kind: k, resolution: ResolutionIncomplete, detail: why})
			return nil
		}
		return a.lwwInsert(ctx, tx, i, row, next, out)
	}
	return fmt.Errorf("%s %s: no last_write_wins resolution for %s", ch.Op, ch.Rel.Table, kind)
}

// lwwInsert inserts row (source column order) unless a colliding local row
// is newer or a newer local delete left a tombstone for its key; older
// colliding rows are replaced. kind is the conflict it stands for
// (insert_exists, update_missing), or "" for the new key of an UPDATE that
// moved its row (recorded only when it meets something).
//
// The colliding rows are locked while it decides, and the insert itself
// still does nothing on a collision and checks the tombstones after the row
// is in (lwwInsertSQL): a local transaction that inserted or deleted the key
// meanwhile is seen, and the decision is taken again.
func (a *Applier) lwwInsert(ctx context.Context, tx *change.Tx, i int, row []change.Value, kind string, out *outcome) error {
	ch := &tx.Changes[i]
	t := a.tables[ch.Rel.Table]
	b, err := t.bind(ch.Rel, a.cfg.Node)
	if err != nil {
		return err
	}
	label := kind
	if label == "" {
		label = KindInsertExists
	}
	keepDelete := event{idx: i, kind: label, resolution: ResolutionKeptDelete,
		detail: "the key was deleted here after the remote row committed (last_write_wins): it stays deleted"}
	for range 3 {
		local, newer, err := a.lwwColliding(ctx, t, b, row, nil)
		if err != nil {
			return fmt.Errorf("%s %s: look up the colliding rows: %w", ch.Op, ch.Rel.Table, err)
		}
		if newer {
			out.events = append(out.events, event{idx: i, kind: label, resolution: ResolutionKeptLocal, local: local,
				detail: "a colliding local row is newer than the remote row (last_write_wins): kept"})
			return nil
		}
		keys := make([]change.Value, len(t.target.key))
		for k, j := range t.target.key {
			keys[k] = row[b.tgtToSrc[j]]
		}
		gone, err := a.tombstoneNewer(ctx, t, keys)
		if err != nil {
			return err
		}
		if gone {
			out.events = append(out.events, keepDelete)
			return nil
		}
		if local != nil {
			if _, err := a.deleteColliding(ctx, t, b, row, nil, out); err != nil {
				return fmt.Errorf("%s %s: delete the colliding rows: %w", ch.Op, ch.Rel.Table, err)
			}
		}
		var write []int
		var args []any
		for k, v := range row {
			if j := b.srcToTgt[k]; j >= 0 && v.Kind != change.Unchanged {
				write = append(write, j)
				args = append(args, textArg(v))
			}
		}
		args = append(args, string(a.txTime))
		shape := &lwwShape{tie: a.remoteWinsTie()}
		n, tomb, err := a.inSavepoint(ctx, lwwInsertSQL(t, write, shape), args)
		if err != nil {
			return fmt.Errorf("%s %s: insert the remote row: %w", ch.Op, ch.Rel.Table, err)
		}
		switch {
		case tomb:
			out.events = append(out.events, keepDelete)
			return nil
		case n == 0:
			continue // a local transaction committed a colliding row meanwhile: decide again
		}
		out.rows.Insert++
		switch {
		case local != nil:
			out.events = append(out.events, event{idx: i, kind: label, resolution: ResolutionOverwritten, local: local})
		case kind == KindUpdateMissing:
			out.events = append(out.events, event{idx: i, kind: kind, resolution: ResolutionInserted})
		}
		return nil
	}
	return fmt.Errorf("%s %s: local transactions kept writing the key while last_write_wins decided (tried 3 times); the transaction will be retried", ch.Op, ch.Rel.Table)
}

// inSavepoint runs one statement in a savepoint of its own and returns its
// row count, or tomb when pgduet.lww_check_insert refused it (PD001): the
// savepoint is then rolled back and the transaction goes on.
func (a *Applier) inSavepoint(ctx context.Context, sql string, args []any) (rows int64, tomb bool, err error) {
	a.roundTrip()
	if _, err := a.conn.Exec(ctx, "SAVEPOINT pgduet_lww"); err != nil {
		return 0, false, err
	}
	a.roundTrip()
	tag, err := a.conn.Exec(ctx, sql, args...)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == errTombstone {
		a.roundTrip()
		if _, err := a.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT pgduet_lww"); err != nil {
			return 0, false, err
		}
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	a.roundTrip()
	if _, err := a.conn.Exec(ctx, "RELEASE SAVEPOINT pgduet_lww"); err != nil {
		return 0, false, err
	}
	return tag.RowsAffected(), false, nil
}

// lwwUpdateExists decides an UPDATE whose new values collide with other
// local rows. The row it updates is locked first; when the update is newer
// than it and than every colliding row, those are replaced and the update
// runs; a newer colliding row keeps its place (and an UPDATE that moved its
// row still takes the row away from the old key).
func (a *Applier) lwwUpdateExists(ctx context.Context, tx *change.Tx, i int, p *rowPlan, out *outcome) error {
	ch := &tx.Changes[i]
	t := p.tbl
	b, err := t.bind(ch.Rel, a.cfg.Node)
	if err != nil {
		return err
	}
	if self, wins, err := a.lwwLocalRow(ctx, p); err != nil {
		return err
	} else if self == nil || !wins {
		// Changed by a local transaction since the collision (the lock
		// went with the savepoint): decide as for any other UPDATE.
		return a.lwwResolve(ctx, tx, i, KindUpdateMissing, p, out)
	}
	self := keyCond{cols: p.match, vals: make([]change.Value, len(p.match))}
	for k := range p.match {
		self.vals[k] = p.vals[p.srcIdx[k]]
	}
	local, newer, err := a.lwwColliding(ctx, t, b, ch.New, &self)
	if err != nil {
		return fmt.Errorf("%s %s: update_exists: look up the colliding rows: %w", ch.Op, ch.Rel.Table, err)
	}
	rekey := keyChanged(ch, p)
	detail := "a colliding local row is newer than the remote update (last_write_wins): kept, the update left out"
	if !newer {
		if _, err := a.deleteColliding(ctx, t, b, ch.New, &self, out); err != nil {
			return fmt.Errorf("%s %s: update_exists: delete the colliding rows: %w", ch.Op, ch.Rel.Table, err)
		}
		args := make([]any, len(p.params))
		for k, v := range p.params {
			if v != nil {
				args[k] = string(v)
			}
		}
		n, tomb, err := a.inSavepoint(ctx, a.statement(ch.Op, p).sql, args)
		if err != nil {
			return fmt.Errorf("%s %s: update_exists: update after removing the colliding rows: %w", ch.Op, ch.Rel.Table, err)
		}
		if !tomb {
			out.rows.Update += uint64(n)
			out.events = append(out.events, event{idx: i, kind: KindUpdateExists, resolution: ResolutionOverwritten, local: local})
			return nil
		}
		detail = "the new key was deleted here after the remote update committed (last_write_wins): it stays deleted"
	}
	if rekey {
		// The old key's half of the move still wins: its row here is older.
		if err := a.deleteAt(ctx, p, out); err != nil {
			return fmt.Errorf("%s %s: update_exists: delete the row at the old key: %w", ch.Op, ch.Rel.Table, err)
		}
		detail += "; the row at the old key was deleted, as the update moved it away"
	}
	res := ResolutionKeptLocal
	if !newer {
		res = ResolutionKeptDelete
	}
	out.events = append(out.events, event{idx: i, kind: KindUpdateExists, resolution: res, local: local, detail: detail})
	return nil
}

// lwwLocalRow returns the local row with the plan's old key, locked, as JSON
// (nil when there is none), and whether the remote change is newer than it.
func (a *Applier) lwwLocalRow(ctx context.Context, p *rowPlan) ([]byte, bool, error) {
	args := p.oldKeyArgs()
	args = append(args, string(a.txTime))
	n := 0
	next := func() string { n++; return "$" + strconv.Itoa(n) }
	q := "SELECT pg_catalog.to_jsonb(t)::text, " + lwwWins("t.xmin", "$"+strconv.Itoa(len(args)), a.remoteWinsTie()) +
		" FROM " + p.tbl.from + " AS t WHERE " + keyMatch(p.tbl, p.match, next) + " FOR UPDATE"
	var row string
	var wins bool
	a.roundTrip()
	err := a.conn.QueryRow(ctx, q, args...).Scan(&row, &wins)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up the local row %s: %w", p.keyString(), err)
	}
	return []byte(row), wins, nil
}

// deleteAt deletes the local row with the plan's old key.
func (a *Applier) deleteAt(ctx context.Context, p *rowPlan, out *outcome) error {
	n := 0
	next := func() string { n++; return "$" + strconv.Itoa(n) }
	a.roundTrip()
	tag, err := a.conn.Exec(ctx, "DELETE FROM "+p.tbl.from+" WHERE "+keyMatch(p.tbl, p.match, next), p.oldKeyArgs()...)
	if err != nil {
		return err
	}
	out.rows.Delete += uint64(tag.RowsAffected())
	return nil
}

// oldKeyArgs are the plan's old key values as query arguments.
func (p *rowPlan) oldKeyArgs() []any {
	args := make([]any, len(p.match))
	for k := range p.match {
		args[k] = textArg(p.vals[p.srcIdx[k]])
	}
	return args
}

// lwwColliding locks the local rows that share a unique key with row (except
// the row except names) and returns their images (a JSON array, nil when
// none) and whether any of them is newer than the remote change.
func (a *Applier) lwwColliding(ctx context.Context, t *table, b *binding, row []change.Value, except *keyCond) ([]byte, bool, error) {
	where, args := collidingWhere(t, b, row, except)
	if where == "" {
		return nil, false, nil
	}
	args = append(args, string(a.txTime))
	ts := "$" + strconv.Itoa(len(args))
	q := "WITH c AS (SELECT pg_catalog.to_jsonb(t) AS r, " + lwwWins("t.xmin", ts, a.remoteWinsTie()) + " AS older FROM " + t.from +
		" AS t WHERE " + where + " FOR UPDATE) SELECT pg_catalog.jsonb_agg(r)::text, coalesce(bool_or(NOT older), false) FROM c"
	var local *string
	var newer bool
	a.roundTrip()
	if err := a.conn.QueryRow(ctx, q, args...).Scan(&local, &newer); err != nil {
		return nil, false, err
	}
	if local == nil {
		return nil, false, nil
	}
	return []byte(*local), newer, nil
}

// tombstoneNewer says whether the key (values of the table's key columns)
// was deleted here after the remote change committed.
func (a *Applier) tombstoneNewer(ctx context.Context, t *table, keys []change.Value) (bool, error) {
	exprs := make([]string, len(keys))
	args := make([]any, 0, len(keys)+1)
	for k, j := range t.target.key {
		args = append(args, textArg(keys[k]))
		exprs[k] = "$" + strconv.Itoa(k+1) + "::" + t.target.cols[j].base
	}
	args = append(args, string(a.txTime))
	q := "SELECT NOT " + lwwWins("d.xmin", "$"+strconv.Itoa(len(args)), a.remoteWinsTie()) +
		" FROM pgduet.tombstones d WHERE " + tombstoneMatch(t, exprs)
	var newer bool
	a.roundTrip()
	err := a.conn.QueryRow(ctx, q, args...).Scan(&newer)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up the tombstone of %s: %w", t.ref, err)
	}
	return newer, nil
}

// keyChanged says whether an UPDATE moves its row to another key.
func keyChanged(ch *change.Change, p *rowPlan) bool {
	for k := range p.match {
		i := p.srcIdx[k]
		if nv := ch.New[i]; nv.Kind != change.Unchanged && !sameValue(p.vals[i], nv) {
			return true
		}
	}
	return false
}

// Tombstones are pruned once every pruneEvery, when the applier has applied a
// transaction that committed more than tombstoneMargin after them: every
// later change from the peer commits after that one (commit timestamps
// follow the WAL order but for a few concurrent commits), so it is newer
// than the tombstone anyway. The margin covers those, and more.
const (
	pruneEvery      = 30 * time.Second
	tombstoneMargin = "1 minute"
)

// pruneTombstones removes the tombstones of this applier's last_write_wins
// tables that no change still to come from the peer can be older than. A
// failure is logged: the agent also prunes week-old tombstones at start.
func (a *Applier) pruneTombstones(ctx context.Context, tx *change.Tx) {
	if time.Since(a.pruned) < pruneEvery || tx.CommitTime.IsZero() {
		return
	}
	var rels []uint32
	for _, t := range a.tables {
		if t.pol == policyLWW && t.target != nil {
			rels = append(rels, t.target.oid)
		}
	}
	if len(rels) == 0 {
		return
	}
	a.pruned = time.Now()
	a.roundTrip()
	tag, err := a.conn.Exec(ctx, `DELETE FROM pgduet.tombstones d
		WHERE d.relid IN (SELECT coalesce(pg_catalog.pg_partition_root(r::pg_catalog.regclass), r) FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS r)
		  AND coalesce(pg_catalog.pg_xact_commit_timestamp(d.xmin), d.deleted_at) < $2::pg_catalog.timestamptz - $3::pg_catalog.interval`,
		rels, originTime(tx.CommitTime), tombstoneMargin)
	if err != nil {
		a.log.Warn("could not prune pgduet.tombstones", "err", err)
		return
	}
	if n := tag.RowsAffected(); n > 0 {
		a.log.Debug("tombstones pruned", "rows", n, "before", tx.CommitTime)
	}
}
