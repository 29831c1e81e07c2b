package initial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/throttle"
	"github.com/pgduet/pgduet/agent/transport"
	"github.com/pgduet/pgduet/ddlparse"
	"github.com/pgduet/pgduet/policies"
	pgsql "github.com/pgduet/pgduet/sql"
)

// Config is what Run needs on the receiving node.
type Config struct {
	Cfg        *policies.Config
	Node, Peer string // this node, and the DDL source
	ConnString string
	Client     *transport.SourceClient
	Limiter    *throttle.Limiter // throttle "initial"; nil: unlimited
	Logger     *slog.Logger
	Progress   *Progress
	// AfterSchema runs after the schema step and after the post-data step
	// committed (the agent refreshes its publication and triggers there).
	AfterSchema func(ctx context.Context) error
	// ProgressEvery is the log interval of per-table progress (default 10s).
	ProgressEvery time.Duration
	// SplitBytes: tables larger than this are copied in parts of about this
	// size (0: DefaultSplitBytes; negative: never split).
	SplitBytes int64
	// WaitSent returns once this node's outbound direction confirmed lsn:
	// every change committed here before it is applied on the source. A
	// restart that undid partly copied tables waits for it before taking the
	// new snapshot (see undoPartial).
	WaitSent func(ctx context.Context, lsn change.LSN) error
	// AfterPart, when set (tests), runs after each part committed; an error
	// ends the run there, as a crash would.
	AfterPart func(schema, name string, part, parts int) error

	// resumed: an earlier run did the schema step under another snapshot.
	// Rows this node wrote since may be in the new snapshot too (they
	// reached the source), so every table goes through the staging table
	// and keeps this node's rows on key collisions.
	resumed bool
}

// Done reports whether the initial sync of pair is done on the database conn
// is connected to.
func Done(ctx context.Context, conn *pgx.Conn, pair string) (bool, error) {
	var state string
	err := conn.QueryRow(ctx, "SELECT state FROM pgduet.initial_sync WHERE pair = $1", pair).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return state == "done", err
}

// Run performs (or resumes) the initial sync and returns nil once it is done.
// It is safe to run again after any failure: what is committed stays, the
// rest is redone.
func Run(ctx context.Context, c Config) error {
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 10 * time.Second
	}
	if c.Progress == nil {
		c.Progress = &Progress{}
	}
	if c.SplitBytes == 0 {
		c.SplitBytes = DefaultSplitBytes
	}
	conn, err := connect(ctx, c.ConnString)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	pair := c.Cfg.Pair.Name
	var state string
	err = conn.QueryRow(ctx, "SELECT state FROM pgduet.initial_sync WHERE pair = $1", pair).Scan(&state)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		state = ""
	case err != nil:
		return fmt.Errorf("initial sync: read state: %w", err)
	}
	if state == "done" {
		// Done by an earlier attempt (of this process, or before a restart).
		if err := c.Progress.loadCopied(ctx, conn, pair); err != nil {
			return err
		}
		c.Progress.set(StateDone)
		return nil
	}
	if state == "" {
		// A pair that ran before the initial sync existed has applied changes
		// from the source already: nothing to copy.
		var applied bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin_status s
			JOIN pg_catalog.pg_replication_origin o ON o.roident = s.local_id
			WHERE o.roname = $1 AND s.remote_lsn > '0/0')`, "pgduet_"+pair+"_"+c.Peer).Scan(&applied); err != nil {
			return fmt.Errorf("initial sync: read origin: %w", err)
		}
		if applied {
			c.Logger.Info("initial sync: skipped, this node has applied changes from the source before", "source", c.Peer)
			if _, err := conn.Exec(ctx, `INSERT INTO pgduet.initial_sync (pair, source, state, schema_lsn, finished)
				VALUES ($1, $2, 'done', '0/0', now())`, pair, c.Peer); err != nil {
				return fmt.Errorf("initial sync: record state: %w", err)
			}
			c.Progress.set(StateDone)
			return nil
		}
	}

	if state != "" && c.Cfg.Sync.Data {
		undone, err := c.undoPartial(ctx, conn)
		if err != nil {
			return err
		}
		if undone > 0 && c.WaitSent != nil {
			var lsn string
			if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
				return fmt.Errorf("initial sync: read WAL position: %w", err)
			}
			l, err := parseLSN(lsn)
			if err != nil {
				return err
			}
			c.Logger.Info("initial sync: waiting until this node's changes so far are applied on the source, so that the new snapshot holds them", "source", c.Peer, "lsn", l)
			if err := c.WaitSent(ctx, l); err != nil {
				return fmt.Errorf("initial sync: wait for this node's changes up to %s to reach %s: %w", l, c.Peer, err)
			}
		}
	}

	snap, release, lost, err := c.Client.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("initial sync: snapshot of %s: %w", c.Peer, err)
	}
	defer release()
	c.Logger.Info("initial sync: snapshot", "source", c.Peer, "lsn", snap.LSN, "tables", len(snap.Tables))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		if err, ok := <-lost; ok && err != nil {
			cancel(fmt.Errorf("initial sync: the snapshot on %s ended: %w", c.Peer, err))
		}
	}()

	c.resumed = state != ""
	if state == "" {
		if err := c.schemaStep(ctx, conn, snap); err != nil {
			return causeOf(ctx, err)
		}
	}
	if c.AfterSchema != nil { // idempotent: also after a restart
		if err := c.AfterSchema(ctx); err != nil {
			return err
		}
	}
	if c.Cfg.Sync.Data {
		if err := c.copyTables(ctx, conn, snap); err != nil {
			return causeOf(ctx, err)
		}
		if err := c.setSequences(ctx, conn, snap.ID); err != nil {
			return causeOf(ctx, err)
		}
	}
	if err := c.postData(ctx, conn); err != nil {
		return causeOf(ctx, err)
	}
	if c.AfterSchema != nil {
		if err := c.AfterSchema(ctx); err != nil {
			return err
		}
	}
	c.Progress.set(StateDone)
	c.Logger.Info("initial sync: done", "source", c.Peer)
	return nil
}

func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// beginApplyTx starts a transaction of pgduet's own on the receiving node:
// replica mode (no user or event trigger fires, foreign keys are not checked:
// the source checked them), marked internal.
func beginApplyTx(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		"SET LOCAL session_replication_role = replica",
		"SET LOCAL search_path = ''",
		"SET LOCAL check_function_bodies = off",
		"SET LOCAL client_min_messages = warning",
		"SET LOCAL row_security = off",
		"SET LOCAL standard_conforming_strings = on",
		"SET LOCAL xmloption = content",
		pgsql.InternalSQL,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			tx.Rollback(context.Background())
			return nil, err
		}
	}
	return tx, nil
}

// schemaStep checks the targets, then creates the schema (unless sync.schema
// is off) and records the state, in one transaction.
func (c Config) schemaStep(ctx context.Context, conn *pgx.Conn, snap transport.Snapshot) error {
	c.Progress.set(StateSchema)
	if err := c.checkTargets(ctx, conn, snap); err != nil {
		return err
	}
	var pre, keys, post []stmt
	if c.Cfg.Sync.Schema {
		var err error
		pre, keys, post, err = c.dump(ctx, snap.ID)
		if err != nil {
			return err
		}
	}
	tx, err := beginApplyTx(ctx, conn)
	if err != nil {
		return fmt.Errorf("initial sync: schema: %w", err)
	}
	defer tx.Rollback(context.Background())
	if c.Cfg.Sync.Schema {
		// Target schemas of table blocks: pg_dump --table does not create them.
		for _, t := range snap.Tables {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{t.TargetSchema}.Sanitize()); err != nil {
				return fmt.Errorf("initial sync: create schema %s: %w", pgx.Identifier{t.TargetSchema}.Sanitize(), err)
			}
		}
		for _, st := range append(pre, keys...) {
			if err := c.execDDL(ctx, tx, st); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pgduet.initial_sync (pair, source, state, schema_lsn, post_data)
		VALUES ($1, $2, 'copying', $3, $4)`, c.Cfg.Pair.Name, c.Peer, pglsn(snap.LSN), joinStmts(post)); err != nil {
		return fmt.Errorf("initial sync: record state: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("initial sync: schema: commit: %w", err)
	}
	c.Logger.Info("initial sync: schema created", "statements", len(pre)+len(keys), "post_data_statements", len(post), "schema_lsn", snap.LSN)
	return nil
}

// placesObjects reports pg_dump's SET statements that decide where the
// objects after them go (table access method, tablespace), which run in
// order; its other settings are its session's (and a newer pg_dump's may be
// unknown to an older server).
func placesObjects(st ddlparse.Statement) bool {
	if st.Tag != "SET" {
		return false
	}
	f := strings.Fields(strings.ToLower(st.Text))
	return len(f) >= 2 && f[0] == "set" && (f[1] == "default_table_access_method" || f[1] == "default_tablespace")
}

// stmt is one statement of the dump, as it runs here.
type stmt struct {
	sql, tag string
}

func joinStmts(sts []stmt) string {
	var b strings.Builder
	for _, st := range sts {
		b.WriteString(st.sql)
		b.WriteString(";\n")
	}
	return b.String()
}

// execDDL runs one statement of the dump in a savepoint. A schema that
// exists already is kept (public always does); under existing_tables =
// "ignore" so is any other object.
func (c Config) execDDL(ctx context.Context, tx pgx.Tx, st stmt) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.Exec(ctx, st.sql); err != nil {
		sp.Rollback(context.Background())
		var pe *pgconn.PgError
		if errors.As(err, &pe) && duplicateObject(pe.Code) &&
			(c.Cfg.Sync.ExistingTables == policies.ExistingTablesIgnore || st.tag == "CREATE SCHEMA") {
			c.Logger.Info("initial sync: object exists, kept", "statement", oneLine(st.sql), "err", pe.Message)
			return nil
		}
		// Retried within retry.other: a missing role, a lock conflict or a
		// lost connection may go away.
		return fmt.Errorf("initial sync: schema statement failed: %s: %w", oneLine(st.sql), err)
	}
	return sp.Commit(ctx)
}

func duplicateObject(code string) bool {
	switch code {
	case "42P06", "42P07", "42710", "42723", "42P16":
		return true
	}
	return false
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// checkTargets refuses to start, naming every table, when a target table
// exists (existing_tables = "error", with schema sync on), or when a table
// the schema step will not create is missing.
func (c Config) checkTargets(ctx context.Context, conn *pgx.Conn, snap transport.Snapshot) error {
	var exist, missing []string
	for _, t := range snap.Tables {
		name := pgx.Identifier{t.TargetSchema, t.TargetName}.Sanitize()
		var found bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&found); err != nil {
			return fmt.Errorf("initial sync: look up %s: %w", name, err)
		}
		switch {
		case !t.SchemaSynced || !c.Cfg.Sync.Schema:
			if !found {
				missing = append(missing, name)
			}
		case found && c.Cfg.Sync.ExistingTables == policies.ExistingTablesError:
			exist = append(exist, name)
		}
	}
	var problems []string
	if len(exist) > 0 {
		problems = append(problems, fmt.Sprintf("target table(s) %s exist on %s already and sync.existing_tables is \"error\": drop them, or set existing_tables = \"ignore\" to keep their rows (the copy skips rows whose key they hold)",
			strings.Join(exist, ", "), c.Node))
	}
	if len(missing) > 0 {
		why := "sync.schema is off"
		if c.Cfg.Sync.Schema {
			why = "their table blocks select or rename columns, which the schema sync cannot create"
		}
		problems = append(problems, fmt.Sprintf("table(s) %s do not exist on %s and %s: create them there first", strings.Join(missing, ", "), c.Node, why))
	}
	if len(problems) > 0 {
		return transport.Permanent(fmt.Errorf("initial sync refused: %s", strings.Join(problems, "; ")))
	}
	return nil
}

// dump fetches the source's pre-data and post-data sections and turns them
// into statements to run here: mapped, without pg_dump's session settings;
// post-data split into keys (run with the schema) and the rest.
func (c Config) dump(ctx context.Context, snapshot string) (pre, keys, post []stmt, err error) {
	m := Mapping(c.Cfg)
	for _, section := range []string{"pre-data", "post-data"} {
		var buf bytes.Buffer
		if err := c.Client.Schema(ctx, snapshot, section, &buf); err != nil {
			return nil, nil, nil, fmt.Errorf("initial sync: schema dump (%s) from %s: %w", section, c.Peer, err)
		}
		sts, err := ddlparse.SplitScript(buf.String())
		if err != nil {
			return nil, nil, nil, transport.Permanent(fmt.Errorf("initial sync: parse the schema dump (%s): %w", section, err))
		}
		for _, st := range sts {
			if st.Kind != ddlparse.KindDDL && !placesObjects(st) {
				continue // pg_dump's session settings: this session sets its own
			}
			q := st.Text
			if st.Kind == ddlparse.KindDDL && (len(m.Schemas) > 0 || len(m.Tables) > 0) {
				if q, err = ddlparse.Rewrite(st, m, ddlparse.Options{}); err != nil {
					return nil, nil, nil, transport.Permanent(fmt.Errorf("initial sync: the schema dump's statement %s cannot be mapped: %w", oneLine(st.Text), err))
				}
			}
			switch s := (stmt{sql: q, tag: st.Tag}); {
			case section == "pre-data":
				pre = append(pre, s)
			case ddlparse.DefinesKey(st):
				keys = append(keys, s)
			default:
				post = append(post, s)
			}
		}
	}
	return pre, keys, post, nil
}

// Mapping is the config's name mapping for statements of the DDL source,
// with names.case (the schema blocks' schemas and the table blocks' tables
// are its fold scope).
func Mapping(cfg *policies.Config) ddlparse.Mapping {
	m := ddlparse.Mapping{Schemas: map[string]string{}, Tables: map[ddlparse.QName]ddlparse.QName{}}
	if cfg.Names.Folds() {
		m.Fold = cfg.Names.Fold
		m.FoldSchemas = map[string]bool{}
		for from := range cfg.SchemaTargets() {
			m.FoldSchemas[from] = true
		}
	}
	for from, to := range cfg.SchemaTargets() {
		if from != to {
			m.Schemas[from] = to
		}
	}
	for from, to := range cfg.TableTargets() {
		src, dst := ddlparse.QName{Schema: from[0], Name: from[1]}, ddlparse.QName{Schema: to[0], Name: to[1]}
		if src != dst && m.Relation(src) != dst {
			m.Tables[src] = dst
		}
	}
	return m
}

// DefaultSplitBytes is the size (pg_table_size at the snapshot) above which
// a table is copied in parts of about that size: block ranges of its heap
// that the workers copy in parallel, each in a transaction of its own.
const DefaultSplitBytes = 256 << 20

// maxParts bounds the parts of one table.
const maxParts = 1024

// part is one COPY: a table, or a block range of it, in one transaction.
type part struct {
	t      transport.SyncTable
	n, of  int // part n of `of` (0-based)
	blocks transport.Blocks
}

// parts splits t in block ranges of about splitBytes (0: never split). A
// partitioned table (no blocks) is copied whole, through its root.
func parts(t transport.SyncTable, splitBytes int64) []part {
	n := int64(1)
	if splitBytes > 0 && t.Blocks > 1 && t.EstBytes > splitBytes {
		n = min((t.EstBytes+splitBytes-1)/splitBytes, t.Blocks, maxParts)
	}
	out := make([]part, n)
	for i := range n {
		// Part i covers blocks [i*B/n, (i+1)*B/n); the first starts at 0 and
		// the last has no end (rows the snapshot sees may not be in blocks
		// added since it was taken, but a bound there would be a guess).
		p := part{t: t, n: int(i), of: int(n)}
		if i > 0 {
			p.blocks.From = uint32(i * t.Blocks / n)
		}
		if i < n-1 {
			p.blocks.To = uint32((i + 1) * t.Blocks / n)
		}
		out[i] = p
	}
	return out
}

// copyTables copies every table not recorded yet, in parts, Parallelism
// parts at a time. Tables an earlier attempt copied only some parts of
// (under another snapshot) are taken out first (undoParts).
func (c Config) copyTables(ctx context.Context, conn *pgx.Conn, snap transport.Snapshot) error {
	done := map[[2]string]bool{}
	rows, err := conn.Query(ctx, "SELECT schema::text, name::text FROM pgduet.initial_sync_tables WHERE pair = $1 GROUP BY 1, 2 HAVING "+completeSQL, c.Cfg.Pair.Name)
	if err != nil {
		return fmt.Errorf("initial sync: read copied tables: %w", err)
	}
	for rows.Next() {
		var s, n string
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return err
		}
		done[[2]string{s, n}] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var todo []part
	for _, t := range snap.Tables {
		if done[[2]string{t.TargetSchema, t.TargetName}] {
			continue
		}
		ps := parts(t, c.SplitBytes)
		c.Progress.addTable(t, len(ps))
		todo = append(todo, ps...)
	}
	if err := c.Progress.loadCopied(ctx, conn, c.Cfg.Pair.Name); err != nil {
		return err
	}
	c.Progress.set(StateCopying)
	c.Logger.Info("initial sync: copying", "tables", len(snap.Tables)-len(done), "parts", len(todo), "already_copied", len(done),
		"parallelism", c.Cfg.Sync.Parallelism)
	work := make(chan part)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for _, t := range todo {
			select {
			case work <- t:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	workers := min(c.Cfg.Sync.Parallelism, len(todo))
	for i := 1; i <= workers; i++ {
		g.Go(func() error { return c.worker(gctx, i, snap, work) })
	}
	tickCtx, stopTicks := context.WithCancel(gctx)
	defer stopTicks()
	go func() {
		t := time.NewTicker(c.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case <-t.C:
				c.Progress.log(c.Logger)
			}
		}
	}()
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// copyOrigin is worker n's replication origin: the echo filter of the
// receiving node's capture drops what it commits (capture.IsEcho).
func copyOrigin(pair, source string, n int) string {
	return fmt.Sprintf("pgduet_%s_%s-copy-%d", pair, source, n)
}

// originConn connects with worker n's origin set up for the session; release
// ends the session and closes the connection.
func (c Config) originConn(ctx context.Context, n int) (conn *pgx.Conn, release func(), err error) {
	conn, err = connect(ctx, c.ConnString)
	if err != nil {
		return nil, nil, err
	}
	origin := copyOrigin(c.Cfg.Pair.Name, c.Peer, n)
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_replication_origin_create($1)
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)`, origin); err != nil {
		conn.Close(context.Background())
		return nil, nil, fmt.Errorf("initial sync: create origin %s: %w", origin, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_replication_origin_session_setup($1)", origin); err != nil {
		conn.Close(context.Background())
		return nil, nil, fmt.Errorf("initial sync: use origin %s: %w", origin, err)
	}
	return conn, func() {
		// Release the origin now, so that it can be dropped at the end.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(rctx, "SELECT pg_catalog.pg_replication_origin_session_reset()")
		conn.Close(rctx)
	}, nil
}

// worker copies parts from work on a connection of its own, under its own origin.
func (c Config) worker(ctx context.Context, n int, snap transport.Snapshot, work <-chan part) error {
	conn, release, err := c.originConn(ctx, n)
	if err != nil {
		return err
	}
	defer release()
	for p := range work {
		if err := c.copyPart(ctx, conn, snap, p); err != nil {
			return err
		}
	}
	return nil
}

// completeSQL is the HAVING condition, over one table's records, of a table
// copied completely: every part once, all from one attempt (one snapshot).
const completeSQL = "count(*) = max(parts) AND count(DISTINCT part) = max(parts) AND min(parts) = max(parts) AND count(DISTINCT lsn) = 1"

// undoPartial takes out what earlier attempts copied of tables they did not
// copy completely: those parts came from another snapshot than the rest
// will. The rows still carrying a recorded part's transaction id as xmin
// are deleted, with the table's records, under a copy origin so that the
// deletes are not replicated. Rows this node changed since have another
// xmin and stay; the copy keeps them (it goes through the staging table on
// a resumed run). It returns how many tables it undid.
//
// A copied row that this node deleted (or whose key it changed) is gone
// here, but the next snapshot holds it again unless the delete reached the
// source first: the caller waits for that (Config.WaitSent) before taking
// the snapshot.
func (c Config) undoPartial(ctx context.Context, conn *pgx.Conn) (int, error) {
	var tables [][2]string
	rows, err := conn.Query(ctx, "SELECT schema::text, name::text FROM pgduet.initial_sync_tables WHERE pair = $1 GROUP BY 1, 2 HAVING NOT ("+completeSQL+") ORDER BY 1, 2", c.Cfg.Pair.Name)
	if err != nil {
		return 0, fmt.Errorf("initial sync: read copied tables: %w", err)
	}
	for rows.Next() {
		var t [2]string
		if err := rows.Scan(&t[0], &t[1]); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(tables) == 0 {
		return 0, nil
	}
	oconn, release, err := c.originConn(ctx, 1)
	if err != nil {
		return 0, err
	}
	defer release()
	for _, t := range tables {
		target := pgx.Identifier{t[0], t[1]}.Sanitize()
		tx, err := beginApplyTx(ctx, oconn)
		if err != nil {
			return 0, fmt.Errorf("initial sync: undo the parts of %s: %w", target, err)
		}
		// xmin is the 32-bit transaction id, xid8 the 64-bit one.
		tag, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE xmin::text::bigint IN (
			SELECT xid::text::bigint %% 4294967296 FROM pgduet.initial_sync_tables
			WHERE pair = $1 AND schema = $2 AND name = $3 AND xid IS NOT NULL)`, target),
			c.Cfg.Pair.Name, t[0], t[1])
		if err == nil {
			_, err = tx.Exec(ctx, "DELETE FROM pgduet.initial_sync_tables WHERE pair = $1 AND schema = $2 AND name = $3",
				c.Cfg.Pair.Name, t[0], t[1])
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			tx.Rollback(context.Background())
			return 0, fmt.Errorf("initial sync: undo the parts of %s: %w", target, err)
		}
		c.Logger.Info("initial sync: table left partly copied by an earlier attempt: its copied rows are taken out, and it is copied again",
			"table", target, "rows_deleted", tag.RowsAffected())
	}
	return len(tables), nil
}

// copyPart copies one part of a table in one transaction, which also records it.
func (c Config) copyPart(ctx context.Context, conn *pgx.Conn, snap transport.Snapshot, p part) error {
	t := p.t
	target := pgx.Identifier{t.TargetSchema, t.TargetName}.Sanitize()
	label := target
	if p.of > 1 {
		label = fmt.Sprintf("%s (part %d of %d)", target, p.n+1, p.of)
	}
	cols := make([]string, len(t.TargetColumns))
	for i, col := range t.TargetColumns {
		cols[i] = pgx.Identifier{col}.Sanitize()
	}
	list := strings.Join(cols, ", ")
	if err := c.Limiter.Wait(ctx, 0, 0, 1); err != nil {
		return err
	}
	tx, err := beginApplyTx(ctx, conn)
	if err != nil {
		return fmt.Errorf("initial sync: copy %s: %w", label, err)
	}
	defer tx.Rollback(context.Background())
	ignore := c.Cfg.Sync.ExistingTables == policies.ExistingTablesIgnore || c.resumed
	into := target
	if ignore {
		// Rows whose key the table holds already are kept: COPY into a
		// staging table, then insert what does not collide.
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMPORARY TABLE pgduet_copy ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA", list, target)); err != nil {
			return fmt.Errorf("initial sync: copy %s: staging table: %w", label, err)
		}
		into = "pg_temp.pgduet_copy"
	}
	start := time.Now()
	fctx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	src, err := c.Client.Copy(fctx, snap.ID, t.Schema, t.Name, p.blocks)
	if err != nil {
		return fmt.Errorf("initial sync: copy %s from %s: %w", label, c.Peer, err)
	}
	counter := &countingReader{r: src, ctx: fctx, lim: c.Limiter, progress: c.Progress.table(t.TargetSchema, t.TargetName)}
	_, err = tx.Conn().PgConn().CopyFrom(ctx, counter, fmt.Sprintf("COPY %s (%s) FROM STDIN", into, list))
	// Read the fetch's error before ending the call: CopyFrom can return
	// while its reader still runs (a broken connection), which would then
	// see the cancellation.
	rerr := counter.error()
	stopFetch() // the call has ended, or the rows have nowhere to go
	if rerr != nil {
		// The rows stopped coming: COPY FROM failed because of that.
		return fmt.Errorf("initial sync: copy %s from %s: %w", label, c.Peer, rerr)
	}
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return transport.Permanent(fmt.Errorf("initial sync: copy %s: %s already holds a row with a key the source has (%s), written during the copy or before it: set sync.existing_tables = \"ignore\" to keep such rows, or remove them", label, c.Node, pe.Detail))
		}
		return fmt.Errorf("initial sync: copy %s: %w", label, err)
	}
	if ignore {
		if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.pgduet_copy ON CONFLICT DO NOTHING", target, list, list)); err != nil {
			return fmt.Errorf("initial sync: copy %s: insert from staging: %w", label, err)
		}
	}
	rowsCopied, bytesCopied := counter.rows, counter.bytes
	seconds := time.Since(start).Seconds()
	if _, err := tx.Exec(ctx, `INSERT INTO pgduet.initial_sync_tables (pair, schema, name, part, parts, lsn, rows, bytes, seconds, xid)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, pg_catalog.pg_current_xact_id())`,
		c.Cfg.Pair.Name, t.TargetSchema, t.TargetName, p.n, p.of, pglsn(snap.LSN), rowsCopied, bytesCopied, seconds); err != nil {
		return fmt.Errorf("initial sync: record %s: %w", label, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("initial sync: copy %s: commit: %w", label, err)
	}
	c.Progress.finish(t.TargetSchema, t.TargetName)
	if c.AfterPart != nil {
		if err := c.AfterPart(t.TargetSchema, t.TargetName, p.n, p.of); err != nil {
			return err
		}
	}
	c.Logger.Info("initial sync: copied", "table", label, "rows", rowsCopied, "bytes", bytesCopied,
		"seconds", seconds)
	return nil
}

// countingReader counts rows (COPY text: one line per row; line breaks in
// values are escaped) and bytes, and applies the throttle. It keeps the
// first error other than io.EOF (error).
type countingReader struct {
	r        io.Reader
	ctx      context.Context
	lim      *throttle.Limiter
	progress *TableProgress
	rows     int64
	bytes    int64
	mu       sync.Mutex
	err      error
}

func (cr *countingReader) error() error {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.err
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if n > 0 {
		rows := int64(bytes.Count(p[:n], []byte{'\n'}))
		if werr := cr.lim.Wait(cr.ctx, rows, int64(n), 0); werr != nil && err == nil {
			err = werr
		}
		cr.rows += rows
		cr.bytes += int64(n)
		cr.progress.add(rows, int64(n))
	}
	if err != nil && err != io.EOF {
		cr.mu.Lock()
		if cr.err == nil {
			cr.err = err
		}
		cr.mu.Unlock()
	}
	return n, err
}

// setSequences sets the source's sequence values here.
func (c Config) setSequences(ctx context.Context, conn *pgx.Conn, snapshot string) error {
	seqs, err := c.Client.Sequences(ctx, snapshot)
	if err != nil {
		return fmt.Errorf("initial sync: sequences from %s: %w", c.Peer, err)
	}
	for _, q := range seqs {
		name := pgx.Identifier{q.Schema, q.Name}.Sanitize()
		var found bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&found); err != nil {
			return err
		}
		if !found {
			c.Logger.Warn("initial sync: sequence missing here, not set", "sequence", name)
			continue
		}
		if _, err := conn.Exec(ctx, "SELECT pg_catalog.setval($1::regclass, $2, $3)", name, q.LastValue, q.IsCalled); err != nil {
			return fmt.Errorf("initial sync: set sequence %s: %w", name, err)
		}
	}
	return nil
}

// postData runs the recorded post-data statements and marks the sync done,
// in one transaction.
func (c Config) postData(ctx context.Context, conn *pgx.Conn) error {
	c.Progress.set(StateIndexes)
	var post string
	if err := conn.QueryRow(ctx, "SELECT post_data FROM pgduet.initial_sync WHERE pair = $1", c.Cfg.Pair.Name).Scan(&post); err != nil {
		return fmt.Errorf("initial sync: read state: %w", err)
	}
	// Tables copied by different attempts (under different snapshots) may
	// not satisfy a foreign key between them until the source's changes
	// made between the snapshots are applied, which happens after this step:
	// their foreign keys are added NOT VALID, then validated if they can be.
	var snapshots int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT lsn) FROM pgduet.initial_sync_tables WHERE pair = $1", c.Cfg.Pair.Name).Scan(&snapshots); err != nil {
		return fmt.Errorf("initial sync: read copied tables: %w", err)
	}
	type foreignKey struct{ table, name string }
	var notValid []foreignKey
	tx, err := beginApplyTx(ctx, conn)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	n := 0
	if post != "" {
		sts, err := ddlparse.Split(post)
		if err != nil {
			return transport.Permanent(fmt.Errorf("initial sync: recorded post-data: %w", err))
		}
		for _, st := range sts {
			sql := st.Text
			if snapshots > 1 {
				if nv, table, name, ok := ddlparse.ForeignKeyNotValid(st); ok {
					sql = nv
					notValid = append(notValid, foreignKey{table: pgx.Identifier{table.Schema, table.Name}.Sanitize(), name: pgx.Identifier{name}.Sanitize()})
				}
			}
			if err := c.execDDL(ctx, tx, stmt{sql: sql, tag: st.Tag}); err != nil {
				return err
			}
			n++
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE pgduet.initial_sync SET state = 'done', post_data = '', finished = now() WHERE pair = $1", c.Cfg.Pair.Name); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// The copy origins are not needed any more (each holds a replication
	// state slot of max_replication_slots). Their sessions have ended.
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_replication_origin_drop(roname) FROM pg_catalog.pg_replication_origin
		WHERE starts_with(roname, $1)`, fmt.Sprintf("pgduet_%s_%s-copy-", c.Cfg.Pair.Name, c.Peer)); err != nil {
		c.Logger.Warn("initial sync: could not drop the copy origins; drop them with pg_replication_origin_drop", "err", err)
	}
	c.Logger.Info("initial sync: indexes, constraints and triggers created", "statements", n)
	for _, fk := range notValid {
		validate := fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", fk.table, fk.name)
		err := func() error {
			tx, err := beginApplyTx(ctx, conn)
			if err != nil {
				return err
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(ctx, validate); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}()
		if err != nil {
			c.Logger.Warn("initial sync: a foreign key between tables copied under different snapshots (the copy was resumed) does not hold yet and stays NOT VALID; it holds for new rows. Validate it once the pair has caught up",
				"table", fk.table, "constraint", fk.name, "run", validate, "err", err)
		}
	}
	return nil
}

func pglsn(l change.LSN) string { return l.String() }
