package initial

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/capture"
	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/transport"
	"github.com/pgduet/pgduet/policies"
)

// Source serves the initial sync on the DDL source's agent
// (transport.Source): it exports snapshots and reads schema, rows and
// sequences under them, in its own database, for the selection of the config.
type Source struct {
	cfg        *policies.Config
	node       *policies.Node
	connString string
	log        *slog.Logger

	mu    sync.Mutex
	snaps map[string]*heldSnapshot
	seq   atomic.Uint64
}

type heldSnapshot struct {
	lsn         change.LSN
	tables      map[[2]string]transport.SyncTable // by source (schema, name)
	partitioned map[[2]string]bool
	// schemas with a schema block, and table-block tables outside them: what
	// the schema dump selects.
	dumpSchemas []string
	excluded    [][2]string
	dumpTables  [][2]string
	extensions  []string
}

// NewSource returns the Source of node (the pair's DDL source).
func NewSource(cfg *policies.Config, node *policies.Node, connString string, log *slog.Logger) *Source {
	return &Source{cfg: cfg, node: node, connString: connString, log: log, snaps: map[string]*heldSnapshot{}}
}

// snapshotName is what PostgreSQL's pg_export_snapshot returns.
var snapshotName = regexp.MustCompile(`^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$`)

// ExportSnapshot creates a temporary logical slot with an exported snapshot,
// so that the snapshot corresponds exactly to an LSN (the slot's consistent
// point), imports it in a transaction that re-exports it, drops the slot, and
// keeps that transaction open until ctx ends.
func (s *Source) ExportSnapshot(ctx context.Context, ready func(transport.Snapshot) error) error {
	repl, err := capture.ConnectReplication(ctx, s.connString)
	if err != nil {
		return fmt.Errorf("initial sync: replication connection: %w", err)
	}
	replOpen := true
	defer func() {
		if replOpen {
			repl.Close(context.Background())
		}
	}()
	slot := fmt.Sprintf("pgduet_%s_%s_init%d", s.cfg.Pair.Name, s.node.Name, s.seq.Add(1))
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary: true, SnapshotAction: "EXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication,
	})
	if err != nil {
		return fmt.Errorf("initial sync: create temporary slot %s (needs a free replication slot: max_replication_slots): %w", slot, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return fmt.Errorf("initial sync: slot %s consistent point %q: %w", slot, res.ConsistentPoint, err)
	}
	if !snapshotName.MatchString(res.SnapshotName) {
		return fmt.Errorf("initial sync: slot %s exported an unexpected snapshot name %q", slot, res.SnapshotName)
	}
	holder, err := connect(ctx, s.connString)
	if err != nil {
		return err
	}
	defer holder.Close(context.Background())
	tx, err := importSnapshot(ctx, holder, res.SnapshotName)
	if err != nil {
		return err
	}
	var id string
	if err := tx.QueryRow(ctx, "SELECT pg_catalog.pg_export_snapshot()").Scan(&id); err != nil {
		return fmt.Errorf("initial sync: re-export snapshot: %w", err)
	}
	if !snapshotName.MatchString(id) {
		return fmt.Errorf("initial sync: unexpected snapshot name %q", id)
	}
	// The imported snapshot lives on in tx: the slot is not needed any more.
	repl.Close(ctx)
	replOpen = false

	held, err := s.selection(ctx, tx)
	if err != nil {
		return err
	}
	// As pg_dump does: a table rewrite (ALTER TABLE ... TYPE, TRUNCATE)
	// committed after the snapshot would make the table look empty under
	// it. DDL on a selected table waits until the copy is done.
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '60s'"); err != nil {
		return err
	}
	for t := range held.tables {
		if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{t[0], t[1]}.Sanitize()+" IN ACCESS SHARE MODE"); err != nil {
			return fmt.Errorf("initial sync: lock %s: %w", pgx.Identifier{t[0], t[1]}.Sanitize(), err)
		}
	}
	held.lsn = change.LSN(lsn)
	s.mu.Lock()
	s.snaps[id] = held
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.snaps, id)
		s.mu.Unlock()
	}()
	snap := transport.Snapshot{ID: id, LSN: held.lsn}
	for _, t := range held.tables {
		snap.Tables = append(snap.Tables, t)
	}
	slices.SortFunc(snap.Tables, func(a, b transport.SyncTable) int {
		return strings.Compare(a.Schema+"\x00"+a.Name, b.Schema+"\x00"+b.Name)
	})
	s.log.Info("initial sync: snapshot exported", "lsn", held.lsn, "tables", len(snap.Tables))
	if err := ready(snap); err != nil {
		return err
	}
	<-ctx.Done()
	s.log.Info("initial sync: snapshot released", "lsn", held.lsn)
	return nil
}

// held returns the snapshot id names, or a retryable error.
func (s *Source) held(id string) (*heldSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.snaps[id]
	if h == nil {
		return nil, fmt.Errorf("initial sync: snapshot %q is gone (the Snapshot call ended); the copy starts again with a new one", id)
	}
	return h, nil
}

// importSnapshot starts a read-only repeatable-read transaction that sees the
// exported snapshot name.
func importSnapshot(ctx context.Context, conn *pgx.Conn, name string) (pgx.Tx, error) {
	if !snapshotName.MatchString(name) {
		return nil, fmt.Errorf("initial sync: bad snapshot name %q", name)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("initial sync: begin: %w", err)
	}
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+name+"'"); err != nil {
		tx.Rollback(context.Background())
		return nil, fmt.Errorf("initial sync: import snapshot %s: %w", name, err)
	}
	return tx, nil
}

// connect opens a session with the settings under which COPY text is read
// the same way on the other node.
func connect(ctx context.Context, connString string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("initial sync: %w", err)
	}
	for k, v := range sessionSettings {
		cfg.RuntimeParams[k] = v
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "pgduet initial sync"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("initial sync: connect: %w", err)
	}
	return conn, nil
}

// sessionSettings pin how values are printed and parsed in COPY text, on
// both nodes.
var sessionSettings = map[string]string{
	"DateStyle":                           "ISO",
	"IntervalStyle":                       "postgres",
	"extra_float_digits":                  "3",
	"TimeZone":                            "UTC",
	"bytea_output":                        "hex",
	"client_encoding":                     "UTF8",
	"statement_timeout":                   "0",
	"lock_timeout":                        "0",
	"idle_in_transaction_session_timeout": "0",
}

// selection lists what the snapshot sees of the config's selection.
func (s *Source) selection(ctx context.Context, tx pgx.Tx) (*heldSnapshot, error) {
	cfg, node := s.cfg, s.node.Name
	h := &heldSnapshot{tables: map[[2]string]transport.SyncTable{}, partitioned: map[[2]string]bool{}}
	blockSchemas := map[string]bool{}
	for _, sc := range cfg.Schemas {
		blockSchemas[sc.Name] = true
		h.dumpSchemas = append(h.dumpSchemas, sc.Name)
	}
	schemas := slices.Clone(h.dumpSchemas)
	for _, t := range cfg.Tables {
		if !slices.Contains(schemas, t.Schema) {
			schemas = append(schemas, t.Schema)
		}
	}
	rows, err := tx.Query(ctx, `SELECT c.oid, n.nspname, c.relname, c.relkind = 'p', greatest(c.reltuples, 0)::float8,
			pg_catalog.pg_table_size(c.oid),
			-- Blocks, for copying in parts: not for a partitioned table (its
			-- root has none) nor one without a unique index (redoing a part
			-- relies on ON CONFLICT to keep the rows changed since).
			CASE WHEN c.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisunique)
				THEN pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int ELSE 0 END,
			ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
				AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY($1)
		ORDER BY 2, 3`, schemas)
	if err != nil {
		return nil, fmt.Errorf("initial sync: list tables: %w", err)
	}
	type rel struct {
		schema, name string
		partitioned  bool
		rows         float64
		bytes        int64
		blocks       int64
		cols         []string
	}
	var rels []rel
	for rows.Next() {
		var r rel
		var oid uint32
		if err := rows.Scan(&oid, &r.schema, &r.name, &r.partitioned, &r.rows, &r.bytes, &r.blocks, &r.cols); err != nil {
			rows.Close()
			return nil, fmt.Errorf("initial sync: list tables: %w", err)
		}
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("initial sync: list tables: %w", err)
	}
	var problems []string
	for _, r := range rels {
		if _, ok := cfg.SelectedOn(node, r.schema, r.name); !ok {
			if blockSchemas[r.schema] {
				h.excluded = append(h.excluded, [2]string{r.schema, r.name})
			}
			continue
		}
		ts, tn := cfg.MapTable(node, r.schema, r.name)
		t := transport.SyncTable{Schema: r.schema, Name: r.name, TargetSchema: ts, TargetName: tn,
			EstRows: r.rows, EstBytes: r.bytes, SchemaSynced: true, Blocks: r.blocks}
		m, mapped := cfg.ColumnsOn(node, r.schema, r.name)
		if mapped {
			if err := m.Check(r.cols); err != nil {
				problems = append(problems, fmt.Sprintf("table %s: %v", pgx.Identifier{r.schema, r.name}.Sanitize(), err))
				continue
			}
		}
		if mapped && m.Reshapes() {
			// A column subset or renames: pg_dump would create the table
			// as it is here; the DBA creates it on the peer. (names.case
			// alone is not a reshape: the dump's DDL is folded.)
			t.SchemaSynced = false
			if blockSchemas[r.schema] {
				h.excluded = append(h.excluded, [2]string{r.schema, r.name})
			}
		} else if !blockSchemas[r.schema] {
			h.dumpTables = append(h.dumpTables, [2]string{r.schema, r.name})
		}
		for _, c := range r.cols {
			if peer, ok := m.Map(c); ok {
				t.TargetColumns = append(t.TargetColumns, peer)
			}
		}
		h.tables[[2]string{r.schema, r.name}] = t
		h.partitioned[[2]string{r.schema, r.name}] = r.partitioned
	}
	if len(problems) > 0 {
		return nil, transport.Permanent(fmt.Errorf("initial sync on %s: %s", node, strings.Join(problems, "; ")))
	}
	// pg_dump excludes a partitioned table, not its partitions: name them.
	excluded := h.excluded
	for _, t := range excluded {
		if err := func() error {
			rows, err := tx.Query(ctx, `SELECT n.nspname::text, c.relname::text
				FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass($1)) p
				JOIN pg_catalog.pg_class c ON c.oid = p.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
				WHERE p.level > 0`, pgx.Identifier{t[0], t[1]}.Sanitize())
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var part [2]string
				if err := rows.Scan(&part[0], &part[1]); err != nil {
					return err
				}
				h.excluded = append(h.excluded, part)
			}
			return rows.Err()
		}(); err != nil {
			return nil, fmt.Errorf("initial sync: partitions of %s: %w", pgx.Identifier{t[0], t[1]}.Sanitize(), err)
		}
	}
	// Extensions whose objects live in a dumped schema: pg_dump --schema
	// leaves their CREATE EXTENSION out unless asked by name.
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(e.extname::text ORDER BY e.extname), '{}')
		FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
		WHERE n.nspname = ANY($1)`, h.dumpSchemas).Scan(&h.extensions); err != nil {
		return nil, fmt.Errorf("initial sync: list extensions: %w", err)
	}
	return h, nil
}

// DumpSchema runs pg_dump for the selection under the snapshot.
func (s *Source) DumpSchema(ctx context.Context, snapshot, section string, w io.Writer) error {
	h, err := s.held(snapshot)
	if err != nil {
		return err
	}
	keywords, err := s.node.Database.Keywords()
	if err != nil {
		return transport.Permanent(err)
	}
	common := []string{"--schema-only", "--section=" + section, "--snapshot=" + snapshot,
		"--no-publications", "--no-subscriptions", "--no-security-labels", "--no-tablespaces"}
	if len(h.dumpSchemas) > 0 {
		args := slices.Clone(common)
		for _, sc := range h.dumpSchemas {
			args = append(args, "--schema="+dumpPattern(sc))
		}
		for _, t := range h.excluded {
			args = append(args, "--exclude-table="+dumpPattern(t[0], t[1]))
		}
		for _, e := range h.extensions {
			args = append(args, "--extension="+dumpPattern(e))
		}
		if err := pgDump(ctx, keywords, args, w); err != nil {
			return err
		}
	}
	if len(h.dumpTables) > 0 {
		args := slices.Clone(common)
		for _, t := range h.dumpTables {
			args = append(args, "--table="+dumpPattern(t[0], t[1]))
		}
		if err := pgDump(ctx, keywords, args, w); err != nil {
			return err
		}
	}
	return nil
}

// CopyTable writes a selected table's replicated columns and rows (those in
// blocks), in COPY text format, under the snapshot.
func (s *Source) CopyTable(ctx context.Context, snapshot, schema, name string, blocks transport.Blocks, w io.Writer) error {
	h, err := s.held(snapshot)
	if err != nil {
		return err
	}
	t, ok := h.tables[[2]string{schema, name}]
	if !ok {
		return transport.Permanent(fmt.Errorf("initial sync: table %s is not selected on %s", pgx.Identifier{schema, name}.Sanitize(), s.node.Name))
	}
	conn, err := connect(ctx, s.connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	tx, err := importSnapshot(ctx, conn, snapshot)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	m, _ := s.cfg.ColumnsOn(s.node.Name, schema, name)
	var cols []string
	rows, err := tx.Query(ctx, `SELECT a.attname::text FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum`,
		pgx.Identifier{schema, name}.Sanitize())
	if err != nil {
		return fmt.Errorf("initial sync: columns of %s: %w", pgx.Identifier{schema, name}.Sanitize(), err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		if _, ok := m.Map(c); ok {
			cols = append(cols, pgx.Identifier{c}.Sanitize())
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(cols) != len(t.TargetColumns) {
		return fmt.Errorf("initial sync: table %s changed under the snapshot (%d columns, expected %d)", pgx.Identifier{schema, name}.Sanitize(), len(cols), len(t.TargetColumns))
	}
	if !blocks.Whole() && h.partitioned[[2]string{schema, name}] {
		return transport.Permanent(fmt.Errorf("initial sync: table %s is partitioned: it is copied whole, not by block ranges", pgx.Identifier{schema, name}.Sanitize()))
	}
	q := copyQuery(pgx.Identifier{schema, name}.Sanitize(), h.partitioned[[2]string{schema, name}], cols, s.cfg.WhereOn(s.node.Name, schema, name), blocks)
	if _, err := tx.Conn().PgConn().CopyTo(ctx, w, q); err != nil {
		return fmt.Errorf("initial sync: copy %s: %w", pgx.Identifier{schema, name}.Sanitize(), err)
	}
	return nil
}

// copyQuery is the COPY TO statement for table's columns and filter, and
// for a part of it, its block range (a TID range scan). It reads through a
// query, which is as fast as COPY of the table and is what reads a
// partitioned table's partitions (they are copied through their root); ONLY
// keeps a plain table's inheritance children out (they are tables of their
// own).
func copyQuery(table string, partitioned bool, cols []string, where string, blocks transport.Blocks) string {
	from := "ONLY " + table
	if partitioned {
		from = table
	}
	var conds []string
	if where != "" {
		conds = append(conds, "("+where+")")
	}
	if blocks.From > 0 {
		conds = append(conds, fmt.Sprintf("ctid >= '(%d,0)'::tid", blocks.From))
	}
	if blocks.To > 0 {
		conds = append(conds, fmt.Sprintf("ctid < '(%d,0)'::tid", blocks.To))
	}
	q := fmt.Sprintf("COPY (SELECT %s FROM %s", strings.Join(cols, ", "), from)
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + ") TO STDOUT"
}

// Sequences reads the sequences of the schemas with a schema block and those
// owned by tables of table blocks, named as on the peer.
func (s *Source) Sequences(ctx context.Context, snapshot string) ([]transport.SequenceValue, error) {
	h, err := s.held(snapshot)
	if err != nil {
		return nil, err
	}
	conn, err := connect(ctx, s.connString)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT s.schemaname::text, s.sequencename::text, s.last_value, s.start_value, tn.nspname::text, tc.relname::text
		FROM pg_catalog.pg_sequences s
		JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
		JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
		LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
			AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
		LEFT JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
		LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("initial sync: read sequences: %w", err)
	}
	defer rows.Close()
	dumped := map[string]bool{}
	for _, sc := range h.dumpSchemas {
		dumped[sc] = true
	}
	var out []transport.SequenceValue
	for rows.Next() {
		var schema, name string
		var last *int64
		var start int64
		var tSchema, tName *string
		if err := rows.Scan(&schema, &name, &last, &start, &tSchema, &tName); err != nil {
			return nil, err
		}
		v := transport.SequenceValue{Name: name, LastValue: start}
		if last != nil {
			v.LastValue, v.IsCalled = *last, true
		}
		switch {
		case dumped[schema]:
			v.Schema = s.cfg.MapSchema(s.node.Name, schema)
			v.Name = s.cfg.Names.Fold(name) // as the dump's rewritten DDL names it
		case tSchema != nil:
			t, ok := h.tables[[2]string{*tSchema, *tName}]
			if !ok {
				continue
			}
			v.Schema = t.TargetSchema
		default:
			continue
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
