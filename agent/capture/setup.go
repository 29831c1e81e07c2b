package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/pgduet/pgduet/agent/change"
	pgsql "github.com/pgduet/pgduet/sql"
)

// PublicationName is the pair's publication on every node (SPEC §1).
func PublicationName(pair string) string { return "pgduet_" + pair }

// SlotName is the node's logical replication slot (SPEC §1).
func SlotName(pair, node string) string { return "pgduet_" + pair + "_" + node }

// echoPrefix starts the name of every replication origin pgduet's apply uses for
// this pair (`pgduet_<pair>_<from-node>`). A transaction committed under such an
// origin was written by pgduet and must not be sent back.
// echoOrigin is the origin under which pgduet applies the peer's changes on this
// node (SPEC §1): transactions carrying it are echoes. The match is exact: pair
// and node names may contain "_", so a prefix would also catch another pair's
// origin (pair "shop" would swallow pair "shop_eu"'s "pgduet_shop_eu_west").
func echoOrigin(pair, peer string) string { return "pgduet_" + pair + "_" + peer }

// isEcho reports whether a transaction committed under origin was written by
// pgduet from the peer: under the apply's origin (echo), or under one of the
// initial sync's copy origins, echo + "-copy-<n>" ("-" cannot occur in pair
// or node names, so no other pair's origin looks like one).
func isEcho(origin, echo string) bool {
	if origin == echo {
		return true
	}
	n, ok := strings.CutPrefix(origin, echo+"-copy-")
	if !ok || n == "" {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkName enforces SPEC §1's naming rule for pairs and nodes. It matters beyond
// style: slot and publication names go into replication commands unquoted
// (pglogrepl quotes nothing), so only [a-z0-9_] may ever reach them.
func checkName(kind, s string) error {
	if s == "" || len(s) > 20 {
		return fmt.Errorf("%s name %q: must be 1 to 20 characters", kind, s)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r == '_' && i > 0 || r >= '0' && r <= '9' && i > 0
		if !ok {
			return fmt.Errorf("%s name %q: must match [a-z][a-z0-9_]*", kind, s)
		}
	}
	return nil
}

// setupLock is the advisory lock key Setup holds while it changes the publication,
// so two agents (or two runs) on one database never race ("pgdcap" in ASCII).
const setupLock = 0x706764636170

// publishAll is the publish option pgduet needs: every DML kind. The Filter decides
// per table and operation on the sending side.
const publishAll = "insert, update, delete, truncate"

// Setup makes the node's publication and slot exist (idempotent; safe to run at
// every start).
//
// conn is a normal (non-replication) connection to the node's database. The
// publication `pgduet_<pair>` is made `FOR TABLES IN SCHEMA <schemas...>, TABLE
// <tables...>` (PG15 syntax); when it exists already its membership is set to
// exactly that list, and left untouched when it is already equal (an ALTER would
// invalidate the tables' relcache entries for nothing). With nothing selected the
// publication has no tables. A schema or table that does not exist is an error
// naming it. Every identifier is quoted.
//
// The slot `pgduet_<pair>_<node>` is created with pgoutput, permanent, without an
// exported snapshot, through a replication connection opened from connString,
// only when it is missing; a slot of that name with another plugin, type or
// database is an error. The publication is created first: a slot must never start
// decoding at a position older than its publication.
//
// When Setup returns nil, both objects are committed.
func Setup(ctx context.Context, conn *pgx.Conn, connString, pair, node string, schemas []string, tables [][2]string) error {
	fail := func(err error) error { return fmt.Errorf("capture %s: setup: %w", node, err) }
	if err := checkName("pair", pair); err != nil {
		return fail(err)
	}
	if err := checkName("node", node); err != nil {
		return fail(err)
	}
	if err := setupPublication(ctx, conn, PublicationName(pair), schemas, tables); err != nil {
		return fail(fmt.Errorf("publication %s: %w", PublicationName(pair), err))
	}
	if err := setupSlot(ctx, conn, connString, SlotName(pair, node)); err != nil {
		return fail(fmt.Errorf("slot %s: %w", SlotName(pair, node), err))
	}
	return nil
}

// membership is what a publication publishes, in a canonical order.
type membership struct {
	schemas []string
	tables  []change.TableRef
}

func newMembership(schemas []string, tables [][2]string) membership {
	var m membership
	for _, s := range schemas {
		if !slices.Contains(m.schemas, s) {
			m.schemas = append(m.schemas, s)
		}
	}
	for _, t := range tables {
		ref := change.TableRef{Schema: t[0], Name: t[1]}
		if !slices.Contains(m.tables, ref) {
			m.tables = append(m.tables, ref)
		}
	}
	m.sort()
	return m
}

func (m *membership) sort() {
	slices.Sort(m.schemas)
	slices.SortFunc(m.tables, func(a, b change.TableRef) int {
		if c := strings.Compare(a.Schema, b.Schema); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func (m membership) empty() bool { return len(m.schemas) == 0 && len(m.tables) == 0 }

func (m membership) equal(o membership) bool {
	return slices.Equal(m.schemas, o.schemas) && slices.Equal(m.tables, o.tables)
}

// objects renders the PG15 publication object list:
// `TABLES IN SCHEMA "a", "b", TABLE "s"."t", "s"."u"`.
func (m membership) objects() string {
	var parts []string
	if len(m.schemas) > 0 {
		q := make([]string, len(m.schemas))
		for i, s := range m.schemas {
			q[i] = pgx.Identifier{s}.Sanitize()
		}
		parts = append(parts, "TABLES IN SCHEMA "+strings.Join(q, ", "))
	}
	if len(m.tables) > 0 {
		q := make([]string, len(m.tables))
		for i, t := range m.tables {
			q[i] = pgx.Identifier{t.Schema, t.Name}.Sanitize()
		}
		parts = append(parts, "TABLE "+strings.Join(q, ", "))
	}
	return strings.Join(parts, ", ")
}

func setupPublication(ctx context.Context, conn *pgx.Conn, name string, schemas []string, tables [][2]string) error {
	want := newMembership(schemas, tables)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(setupLock)); err != nil {
		return fmt.Errorf("take setup lock: %w", err)
	}
	// Publication DDL is pgduet's own: its event triggers must not capture it.
	if _, err := tx.Exec(ctx, pgsql.InternalSQL); err != nil {
		return err
	}
	if err := checkSelection(ctx, tx, want); err != nil {
		return err
	}

	pub := pgx.Identifier{name}.Sanitize()
	var (
		oid                              uint32
		allTables                        bool
		pubIns, pubUpd, pubDel, pubTrunc bool
	)
	err = tx.QueryRow(ctx, `SELECT oid, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate
		FROM pg_catalog.pg_publication WHERE pubname = $1`, name).Scan(&oid, &allTables, &pubIns, &pubUpd, &pubDel, &pubTrunc)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		stmt := "CREATE PUBLICATION " + pub
		if !want.empty() {
			stmt += " FOR " + want.objects()
		}
		stmt += " WITH (publish = '" + publishAll + "')"
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
		return tx.Commit(ctx)
	case err != nil:
		return err
	}

	if allTables {
		return errors.New("exists as FOR ALL TABLES; pgduet sets its membership from the config, so drop it (DROP PUBLICATION) and run again")
	}
	have, filtered, err := publishedObjects(ctx, tx, oid)
	if err != nil {
		return err
	}
	if filtered || !have.equal(want) {
		var stmts []string
		switch {
		case !want.empty():
			// SET replaces the whole list and clears row filters and column lists.
			stmts = append(stmts, "ALTER PUBLICATION "+pub+" SET "+want.objects())
		default:
			// SET needs at least one object; empty the publication by dropping
			// what it has (never DROP PUBLICATION: a slot decoding WAL from
			// before a re-creation fails with "publication does not exist").
			if len(have.schemas) > 0 {
				stmts = append(stmts, "ALTER PUBLICATION "+pub+" DROP "+membership{schemas: have.schemas}.objects())
			}
			if len(have.tables) > 0 {
				stmts = append(stmts, "ALTER PUBLICATION "+pub+" DROP "+membership{tables: have.tables}.objects())
			}
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
	}
	if !(pubIns && pubUpd && pubDel && pubTrunc) {
		if _, err := tx.Exec(ctx, "ALTER PUBLICATION "+pub+" SET (publish = '"+publishAll+"')"); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// checkSelection returns an error naming the first selected schema or table that
// does not exist (or is not a table), rather than PostgreSQL's generic message.
func checkSelection(ctx context.Context, tx pgx.Tx, want membership) error {
	for _, s := range want.schemas {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", s).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("selected schema %s does not exist", pgx.Identifier{s}.Sanitize())
		}
	}
	for _, t := range want.tables {
		var kind string
		err := tx.QueryRow(ctx, `SELECT c.relkind::text FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2`, t.Schema, t.Name).Scan(&kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("selected table %s does not exist", pgx.Identifier{t.Schema, t.Name}.Sanitize())
		}
		if err != nil {
			return err
		}
		if kind != "r" && kind != "p" {
			return fmt.Errorf("selected table %s is not a table (relkind %q)", pgx.Identifier{t.Schema, t.Name}.Sanitize(), kind)
		}
	}
	return nil
}

// publishedObjects reads a publication's schemas and explicitly listed tables.
// filtered reports a member with a row filter or column list: pgduet never sets
// those (its filters run in the agent), so they are reset.
func publishedObjects(ctx context.Context, tx pgx.Tx, oid uint32) (m membership, filtered bool, err error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname FROM pg_catalog.pg_publication_namespace pn
		JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = $1`, oid)
	if err != nil {
		return m, false, err
	}
	m.schemas, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return m, false, err
	}
	rows, err = tx.Query(ctx, `SELECT n.nspname, c.relname, pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL
		FROM pg_catalog.pg_publication_rel pr
		JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = $1`, oid)
	if err != nil {
		return m, false, err
	}
	var t change.TableRef
	var f bool
	_, err = pgx.ForEachRow(rows, []any{&t.Schema, &t.Name, &f}, func() error {
		m.tables = append(m.tables, t)
		filtered = filtered || f
		return nil
	})
	m.sort()
	return m, filtered, err
}

func setupSlot(ctx context.Context, conn *pgx.Conn, connString, slot string) error {
	for attempt := 0; ; attempt++ {
		exists, err := checkSlot(ctx, conn, slot)
		if err != nil || exists {
			return err
		}
		repl, err := ConnectReplication(ctx, connString)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		_, err = CreateSlot(ctx, repl, slot, false)
		closeQuietly(repl)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42710" && attempt == 0 {
			continue // created concurrently: check what it is
		}
		return err
	}
}

// checkSlot reports whether the slot exists, and an error when it exists but is
// not a permanent pgoutput logical slot of this database.
func checkSlot(ctx context.Context, conn *pgx.Conn, slot string) (bool, error) {
	var (
		plugin, slotType, db, curDB *string
		temporary, twoPhase         bool
	)
	err := conn.QueryRow(ctx, `SELECT plugin::text, slot_type, database::text, current_database()::text, temporary, two_phase
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, slot).Scan(&plugin, &slotType, &db, &curDB, &temporary, &twoPhase)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	str := func(p *string) string {
		if p == nil {
			return "(none)"
		}
		return *p
	}
	switch {
	case str(slotType) != "logical":
		return true, fmt.Errorf("exists as a %s slot; pgduet needs a logical pgoutput slot (drop it with pg_drop_replication_slot)", str(slotType))
	case str(plugin) != "pgoutput":
		return true, fmt.Errorf("exists with plugin %s; pgduet needs pgoutput (drop it with pg_drop_replication_slot)", str(plugin))
	case str(db) != str(curDB):
		return true, fmt.Errorf("exists for database %s, not %s", str(db), str(curDB))
	case temporary:
		return true, errors.New("exists as a temporary slot of another session")
	case twoPhase:
		return true, errors.New("exists with two_phase enabled; pgduet decodes committed transactions only (drop and recreate it)")
	}
	return true, nil
}

// ConnectReplication opens a replication connection (replication=database) to the
// database that connString names. Only the simple query protocol works on it.
func ConnectReplication(ctx context.Context, connString string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["replication"] = "database"
	// pgoutput prints values with this session's output settings, and the peer
	// parses them with its own: pin the unambiguous ones, as PostgreSQL's own
	// subscriber does, whatever the server's defaults (a DMY DateStyle would
	// otherwise turn 01/02/2024 into the wrong day on the peer).
	cfg.RuntimeParams["DateStyle"] = "ISO"
	cfg.RuntimeParams["IntervalStyle"] = "postgres"
	cfg.RuntimeParams["extra_float_digits"] = "3"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "pgduet"
	}
	// A cancelled context must only interrupt the read in progress (a network
	// deadline), never send a cancel request to the walsender. (Run's
	// receives use no context at all: they set the read deadline themselves,
	// see (*Capture).receive.)
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	return pgconn.ConnectConfig(ctx, cfg)
}

// Slot is a replication slot as CREATE_REPLICATION_SLOT reported it.
type Slot struct {
	Name            string
	ConsistentPoint change.LSN // streaming from the slot starts here
	SnapshotName    string     // the exported snapshot; "" unless asked for
}

// CreateSlot creates the permanent pgoutput logical slot name on repl, a
// connection from ConnectReplication. name must be a valid unquoted identifier
// (SlotName's output is).
//
// With exportSnapshot the slot is created with EXPORT_SNAPSHOT: other sessions can
// import SnapshotName (`BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION
// SNAPSHOT '...'`) and see the database exactly as of ConsistentPoint, so a copy
// made under it and the stream from ConsistentPoint meet with no gap and no
// overlap. The snapshot exists only while repl stays open and idle: run nothing
// else on repl until every reader has imported it, then close it. Without
// exportSnapshot the slot is created with NOEXPORT_SNAPSHOT.
func CreateSlot(ctx context.Context, repl *pgconn.PgConn, name string, exportSnapshot bool) (Slot, error) {
	if err := checkSlotName(name); err != nil {
		return Slot{}, err
	}
	action := "NOEXPORT_SNAPSHOT"
	if exportSnapshot {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, name, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Mode:           pglogrepl.LogicalReplication,
		SnapshotAction: action,
	})
	if err != nil {
		return Slot{}, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return Slot{}, fmt.Errorf("create replication slot %s: consistent point %q: %w", name, res.ConsistentPoint, err)
	}
	return Slot{Name: res.SlotName, ConsistentPoint: lsn, SnapshotName: res.SnapshotName}, nil
}

func checkSlotName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("slot name %q: must be 1 to 63 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("slot name %q: only a-z, 0-9 and _ are allowed", name)
		}
	}
	return nil
}

// closeQuietly closes a connection whose close error has nothing to add.
func closeQuietly(c *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = c.Close(ctx)
}
