package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
)

// column is one column of a target table, as the local catalog describes it.
type column struct {
	name           string
	typ            string // format_type(atttypid, atttypmod) under an empty search_path: schema-qualified, quoted, valid SQL
	base           string // format_type(atttypid, -1): the type without its modifier (bpchar, "bit"), for casts that must not truncate
	identityAlways bool   // GENERATED ALWAYS AS IDENTITY: INSERT needs OVERRIDING SYSTEM VALUE, UPDATE cannot set it
	generated      bool   // GENERATED ALWAYS AS (...) STORED: computed locally, never written
}

// targetTable is the local (receiving) table a source table's changes go to.
type targetTable struct {
	local       change.TableRef // its name here (the peer's name, unless resolved through Config.FoldedNames)
	oid         uint32
	partitioned bool
	replIdent   byte // relreplident: d, f, i, n
	cols        []column
	key         []int // the columns identifying a row locally: the replica identity index, else the primary key; nil without either
	// uniques are the key columns (INCLUDE columns left out) of every
	// immediate, non-partial unique index without expressions, the primary key
	// among them: the keys overwrite looks for colliding rows by. A partial or
	// expression unique index can still collide; overwrite then stops with
	// the server's error as a conflict.
	uniques []uniqueKey
	// DEFERRABLE unique, primary-key and exclusion constraints. PostgreSQL checks
	// them with an internal trigger that does not fire under
	// session_replication_role = replica (PG's own apply worker has the same
	// gap), so the apply session cannot see a conflict on them.
	deferrable []string
	// userTriggers: a user trigger fires in the apply session (ENABLE
	// ALWAYS or REPLICA); its table gets one statement per change, so the
	// trigger sees each change as the source's did (batch.go).
	userTriggers bool
}

func (t *targetTable) same(o *targetTable) bool {
	return t.local == o.local && t.oid == o.oid && t.partitioned == o.partitioned && t.replIdent == o.replIdent && t.userTriggers == o.userTriggers &&
		slices.Equal(t.cols, o.cols) && slices.Equal(t.key, o.key) && slices.Equal(t.deferrable, o.deferrable) &&
		slices.EqualFunc(t.uniques, o.uniques, func(a, b uniqueKey) bool { return a.nullsEqual == b.nullsEqual && slices.Equal(a.cols, b.cols) })
}

func (t *targetTable) colIndex(name string) int {
	for i := range t.cols {
		if t.cols[i].name == name {
			return i
		}
	}
	return -1
}

// foldedIndex is the one column whose folded name is name, else -1.
func (t *targetTable) foldedIndex(name string, fold func(string) string) int {
	j := -1
	for i := range t.cols {
		if fold(t.cols[i].name) == name {
			if j >= 0 {
				return -1 // two columns fold to it: the peer's name is ambiguous here
			}
			j = i
		}
	}
	return j
}

// uniqueKey is one unique index's key columns; nullsEqual for NULLS NOT
// DISTINCT (PostgreSQL 15), where NULLs collide too.
type uniqueKey struct {
	cols       []int
	nullsEqual bool
}

// binding maps one source shape (a *change.Relation) onto the target table.
type binding struct {
	srcToTgt []int // per source column: its target column, or -1 when the target generates it
	tgtToSrc []int // per target column: its source column, or -1 when the source has no such column
}

// table is everything the applier keeps about one target table.
type table struct {
	ref    change.TableRef
	pol    policy // its conflict policy
	name   string // quoted, schema-qualified: "s"."t"
	from   string // the table as UPDATE/DELETE/SELECT name it: ONLY "s"."t" (the exact relation, as pgoutput names it; not its inheritance children), or "s"."t" when partitioned
	target *targetTable
	stale  bool                // read the catalog again before the next use
	fold   func(string) string // Config.FoldedNames

	bindings map[*change.Relation]*binding
	stmts    map[string]*stmt
}

// maxBindings bounds the per-table map of source shapes; it is rebuilt on demand.
const maxBindings = 16

// bind returns (building it on first use) the mapping of rel's columns onto the
// target table. A source column the target lacks is a permanent error: applying
// without it would silently drop data.
func (t *table) bind(rel *change.Relation, node string) (*binding, error) {
	if b, ok := t.bindings[rel]; ok {
		return b, nil
	}
	b := &binding{srcToTgt: make([]int, len(rel.Columns)), tgtToSrc: make([]int, len(t.target.cols))}
	for i := range b.tgtToSrc {
		b.tgtToSrc[i] = -1
	}
	for i, c := range rel.Columns {
		j := t.target.colIndex(c.Name)
		if j < 0 && t.fold != nil {
			j = t.target.foldedIndex(c.Name, t.fold)
		}
		if j < 0 {
			return nil, fmt.Errorf("table %s on node %s has no column %q (the source has it)", t.ref, node, c.Name)
		}
		if k := b.tgtToSrc[j]; k >= 0 {
			return nil, fmt.Errorf("table %s on node %s: the source's columns %q and %q both map to column %q here", t.ref, node, rel.Columns[k].Name, c.Name, t.target.cols[j].name)
		}
		b.tgtToSrc[j] = i
		if t.target.cols[j].generated {
			j = -1 // computed from the other columns on the target
		}
		b.srcToTgt[i] = j
	}
	if len(t.bindings) >= maxBindings {
		clear(t.bindings)
	}
	t.bindings[rel] = b
	return b, nil
}

// catalogSQL reads several tables in one round trip: per requested (schema,
// name), in request order, the table's oid, kind, replica identity, columns and
// key columns. A missing table gives a row of NULLs.
const catalogSQL = `
SELECT w.ord, c.oid, c.relkind::text, c.relreplident::text,
       coalesce(a.names, '{}'), coalesce(a.types, '{}'), coalesce(a.bases, '{}'), coalesce(a.idents, '{}'), coalesce(a.gens, '{}'),
       coalesce((SELECT array_agg(att.attname::text ORDER BY k.ord)
                   FROM pg_catalog.pg_index i
                   CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_catalog.pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
                  WHERE i.indrelid = c.oid AND i.indisprimary AND k.ord <= i.indnkeyatts), '{}'),
       coalesce((SELECT array_agg(att.attname::text ORDER BY k.ord)
                   FROM pg_catalog.pg_index i
                   CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_catalog.pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
                  WHERE i.indrelid = c.oid AND i.indisreplident AND k.ord <= i.indnkeyatts), '{}'),
       coalesce((SELECT array_agg(conname::text ORDER BY conname) FROM pg_catalog.pg_constraint
                  WHERE conrelid = c.oid AND condeferrable AND contype IN ('p', 'u', 'x')), '{}'),
       coalesce((SELECT pg_catalog.json_agg(pg_catalog.json_build_object('cols', u.cols, 'nulls_equal', u.nnd) ORDER BY u.ord)::text FROM (
                   SELECT i.indexrelid AS ord, array_agg(att.attname::text ORDER BY k.ord) AS cols,
                          bool_or(coalesce((pg_catalog.to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false)) AS nnd
                     FROM pg_catalog.pg_index i
                     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_catalog.pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
                    WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indpred IS NULL
                      AND NOT (0 = ANY (i.indkey::int2[])) AND k.ord <= i.indnkeyatts
                    GROUP BY i.indexrelid) u), '[]'),
       EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal AND tg.tgenabled IN ('A', 'R'))
  FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS w(nsp, rel, ord)
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = w.nsp
  LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
  LEFT JOIN LATERAL (
        SELECT array_agg(attname::text ORDER BY attnum) AS names,
               array_agg(pg_catalog.format_type(atttypid, atttypmod) ORDER BY attnum) AS types,
               array_agg(pg_catalog.format_type(atttypid, -1) ORDER BY attnum) AS bases,
               array_agg(attidentity::text ORDER BY attnum) AS idents,
               array_agg(attgenerated::text ORDER BY attnum) AS gens
          FROM pg_catalog.pg_attribute
         WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) a ON true
 ORDER BY w.ord`

// readCatalog reads the target tables refs in one round trip.
func (a *Applier) readCatalog(ctx context.Context, refs []change.TableRef) ([]*targetTable, error) {
	nsps := make([]string, len(refs))
	rels := make([]string, len(refs))
	for i, r := range refs {
		nsps[i], rels[i] = r.Schema, r.Name
	}
	a.roundTrip()
	rows, err := a.conn.Query(ctx, catalogSQL, nsps, rels)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	out := make([]*targetTable, 0, len(refs))
	for rows.Next() {
		var (
			ord                               int64
			oid                               *uint32
			kind, ident                       *string
			names, types, bases, idents, gens []string
			pk, ris                           []string
			deferrable                        []string
			uniques                           string
			triggers                          *bool
		)
		if err := rows.Scan(&ord, &oid, &kind, &ident, &names, &types, &bases, &idents, &gens, &pk, &ris, &deferrable, &uniques, &triggers); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the catalog: %w", err)
		}
		ref := refs[ord-1]
		if oid == nil {
			out = append(out, nil) // resolved below, or an error
			continue
		}
		if *kind != "r" && *kind != "p" {
			rows.Close()
			return nil, fmt.Errorf("%s on node %s is not a table (relkind %s)", ref, a.cfg.Node, *kind)
		}
		t := &targetTable{local: ref, oid: *oid, partitioned: *kind == "p", replIdent: (*ident)[0], deferrable: deferrable,
			userTriggers: triggers != nil && *triggers}
		for i := range names {
			t.cols = append(t.cols, column{
				name:           names[i],
				typ:            types[i],
				base:           bases[i],
				identityAlways: idents[i] == "a",
				generated:      gens[i] != "",
			})
		}
		keyNames := pk
		if t.replIdent == 'i' && len(ris) > 0 {
			keyNames = ris // the replica identity index is what identifies rows, as in PG's own apply worker
		}
		for _, n := range keyNames {
			t.key = append(t.key, t.colIndex(n))
		}
		var ucols []struct {
			Cols       []string `json:"cols"`
			NullsEqual bool     `json:"nulls_equal"`
		}
		if err := json.Unmarshal([]byte(uniques), &ucols); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the catalog: unique keys of %s: %w", ref, err)
		}
		for _, u := range ucols {
			key := uniqueKey{nullsEqual: u.NullsEqual}
			for _, n := range u.Cols {
				key.cols = append(key.cols, t.colIndex(n))
			}
			t.uniques = append(t.uniques, key)
		}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	if len(out) != len(refs) {
		return nil, fmt.Errorf("read the catalog: %d rows for %d tables", len(out), len(refs))
	}
	for i, t := range out {
		if t != nil {
			continue
		}
		local, err := a.foldedTable(ctx, refs[i])
		if err != nil {
			return nil, err
		}
		tt, err := a.readCatalog(ctx, []change.TableRef{local})
		if err != nil {
			return nil, err
		}
		out[i] = tt[0]
	}
	return out, nil
}

// foldedTable finds the local table the peer names ref when it does not
// exist under that exact name: with Config.FoldedNames, the one table or
// partitioned table of ref's schema whose folded name is ref.Name.
func (a *Applier) foldedTable(ctx context.Context, ref change.TableRef) (change.TableRef, error) {
	missing := fmt.Errorf("table %s does not exist on node %s", ref, a.cfg.Node)
	if a.cfg.FoldedNames == nil {
		return change.TableRef{}, missing
	}
	a.roundTrip()
	rows, err := a.conn.Query(ctx, `SELECT c.relname::text FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, ref.Schema)
	if err != nil {
		return change.TableRef{}, fmt.Errorf("read the catalog: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return change.TableRef{}, fmt.Errorf("read the catalog: %w", err)
	}
	var found []string
	for _, n := range names {
		if a.cfg.FoldedNames(n) == ref.Name {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return change.TableRef{}, missing
	case 1:
		return change.TableRef{Schema: ref.Schema, Name: found[0]}, nil
	}
	slices.Sort(found)
	return change.TableRef{}, fmt.Errorf("the peer's table %s is, by names.case, any of the tables %q of node %s; rename all but one of them, or map them with table blocks", ref, found, a.cfg.Node)
}

// resolveTables makes sure every table tx touches is known and current: read
// from the catalog when first seen, when marked stale, or when the source's shape
// of it changed (a new *change.Relation usually follows DDL). All of them are
// read in one round trip. A target whose shape changed loses its prepared
// statements (deallocated at the start of the next pipeline), because their
// parameter types were fixed when they were prepared.
func (a *Applier) resolveTables(ctx context.Context, changes []change.Change) error {
	var need []change.TableRef
	want := func(ref change.TableRef, rel *change.Relation) {
		t := a.tables[ref]
		if t != nil && !t.stale && (rel == nil || t.bindings[rel] != nil) {
			return
		}
		if !slices.Contains(need, ref) {
			need = append(need, ref)
		}
	}
	for i := range changes {
		ch := &changes[i]
		if ch.Op == change.Truncate {
			for _, r := range ch.Rels {
				want(r.Table, nil)
			}
			continue
		}
		want(ch.Rel.Table, ch.Rel)
	}
	if len(need) > 0 {
		targets, err := a.readCatalog(ctx, need)
		if err != nil {
			return err
		}
		for i, ref := range need {
			a.setTarget(ref, targets[i])
		}
	}
	// Bind every source shape now, so that a missing column fails before anything
	// is sent.
	for i := range changes {
		ch := &changes[i]
		if ch.Op == change.Truncate {
			continue
		}
		if _, err := a.tables[ch.Rel.Table].bind(ch.Rel, a.cfg.Node); err != nil {
			return err
		}
	}
	return nil
}

// setTarget records a freshly read target table.
func (a *Applier) setTarget(ref change.TableRef, tt *targetTable) {
	t := a.tables[ref]
	if t == nil {
		t = &table{ref: ref, stmts: map[string]*stmt{}, pol: policyFail, fold: a.cfg.FoldedNames}
		if a.cfg.Policy != nil {
			t.pol = policy(a.cfg.Policy(ref))
		}
		a.tables[ref] = t
	}
	if t.target == nil || !t.target.same(tt) {
		if len(tt.deferrable) > 0 {
			a.log.Warn("DEFERRABLE unique constraints are not enforced in the apply session (session_replication_role = replica): a conflicting row on them is applied, not reported",
				"table", ref.String(), "constraints", tt.deferrable)
		}
		a.dropStatements(t)
		t.target = tt
		t.name = pgx.Identifier{tt.local.Schema, tt.local.Name}.Sanitize()
		t.from = "ONLY " + t.name
		if tt.partitioned {
			t.from = t.name // ONLY on a partitioned table would match no rows
		}
	}
	t.bindings = map[*change.Relation]*binding{} // source shapes are re-checked against what was read
	t.stale = false
}
