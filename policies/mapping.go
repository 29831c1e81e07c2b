package policies

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Name mapping (SPEC §4: `target` in schema and table blocks).
//
// The names in the selection blocks are the DDL source node's names
// (pair.ddl_source); a target is the name on the other node. Forward, a
// selected source table (s, t) maps to its table block's target when a
// table block names it, else to (target of s's schema block, t). The
// mapping applies both ways: a change from the other node is mapped back by
// the inverse, which the load-time checks below make well defined.

// checkMappings reports mappings that are not one-to-one. Checked, exactly:
//
//  1. two schema blocks with the same effective target schema (even when
//     their globs select different tables: DDL and the reverse schema
//     mapping need one source schema per target schema);
//  2. two table blocks with the same effective target table;
//  3. a table block T whose effective target (ts, tn) is also where a
//     schema block S with target ts maps the table (S.Name, tn) of its
//     schema, unless (S.Name, tn) is T's own table (a table block for a
//     table its own schema block selects wins: no collision) or has a table
//     block of its own (its mapping is then that block's: check 2), or T
//     renames a table within S itself (table "app.customers" { target =
//     "app_copy.clients" } under schema "app" { target = "app_copy" }: the
//     headline use of a rename; a table app.clients created later would
//     then collide, which is the DBA's to avoid, as with any rename).
//
// A schema block's mapping covers every table of its schema, not only those
// its globs select: DDL is rewritten by schema (ddlparse.Mapping), so the
// DDL of an excluded table, or of one created later, lands in the target
// schema too. Checks 1 and 3 therefore ignore the globs.
//
// Together the checks make the forward mapping (MapTable from the DDL
// source) injective on every table of a schema with a schema block and
// every table of a table block, whatever tables the databases hold, so the
// inverse mapping is exact there. Not checked: that target schemas and
// tables exist on the other node (precheck's job); tables outside any
// selection (never replicated, so they keep their names). Column renames
// are checked per table block when it is decoded (decodeColumnBlocks). A
// block whose target is itself invalid (already reported) is left out, so
// one mistake gives one error.
func (d *decoder) checkMappings(cfg *Config) {
	schemas := map[string]*SchemaSel{}
	for _, s := range cfg.Schemas {
		schemas[s.Name] = s
	}
	tables := map[[2]string]*TableSel{}
	for _, t := range cfg.Tables {
		tables[[2]string{t.Schema, t.Name}] = t
	}
	given := func(sel any) bool { _, ok := d.targets[sel]; return ok }
	badSchema := func(s *SchemaSel) bool { return d.targets[s].bad }
	// badTable: the table's effective target is unknown.
	badTable := func(t *TableSel) bool {
		if given(t) {
			return d.targets[t].bad
		}
		s := schemas[t.Schema]
		return s != nil && badSchema(s)
	}
	// at returns the range of the first given target among sels (a nil
	// *SchemaSel has none), else def.
	at := func(def hcl.Range, sels ...any) hcl.Range {
		for _, sel := range sels {
			if ta, ok := d.targets[sel]; ok {
				return ta.rng
			}
		}
		return def
	}

	// 1. Schema blocks.
	bySchemaTarget := map[string]*SchemaSel{}
	for _, s := range cfg.Schemas {
		if badSchema(s) {
			continue
		}
		f := bySchemaTarget[s.Target]
		if f == nil {
			bySchemaTarget[s.Target] = s
			continue
		}
		d.add(errorAt(at(s.DeclRange, s, f), "Colliding name mapping",
			"The schema blocks %s (at %s) and %s (at %s) both map onto schema %s of the other node; changes from there could not be mapped back. Give each schema its own target.",
			quoteIdent(f.Name), pos(f.DeclRange), quoteIdent(s.Name), pos(s.DeclRange), quoteIdent(s.Target)))
	}

	// 2. Table blocks.
	byTableTarget := map[[2]string]*TableSel{}
	for _, t := range cfg.Tables {
		if badTable(t) {
			continue
		}
		key := [2]string{t.TargetSchema, t.TargetName}
		f := byTableTarget[key]
		if f == nil {
			byTableTarget[key] = t
			continue
		}
		if !given(t) && !given(f) && schemas[t.Schema] != nil && schemas[f.Schema] != nil {
			continue // both follow their schema blocks, which collide: reported by check 1
		}
		d.add(errorAt(at(t.DeclRange, t, f, schemas[t.Schema], schemas[f.Schema]), "Colliding name mapping",
			"The table blocks %s (at %s) and %s (at %s) both map onto table %s of the other node; changes from there could not be mapped back. Give each table its own target.",
			qualified(f.Schema, f.Name), pos(f.DeclRange), qualified(t.Schema, t.Name), pos(t.DeclRange), qualified(t.TargetSchema, t.TargetName)))
	}

	// 3. A table block against the schema blocks.
	for _, t := range cfg.Tables {
		if badTable(t) {
			continue
		}
		if !given(t) && schemas[t.Schema] != nil {
			continue // its target schema is its schema block's: any other block mapping there is check 1
		}
		for _, s := range cfg.Schemas {
			if badSchema(s) || s.Target != t.TargetSchema {
				continue
			}
			src := [2]string{s.Name, t.TargetName}
			if src == [2]string{t.Schema, t.Name} || tables[src] != nil || s.Name == t.Schema {
				continue
			}
			d.add(errorAt(at(t.DeclRange, t, s), "Colliding name mapping",
				"The table block %s maps onto table %s of the other node, where the schema block %s (at %s) maps table %s (a schema block maps every table of its schema, excluded ones too: their DDL is replicated by schema); changes from there could not be mapped back. Give the table block or the schema block another target.",
				qualified(t.Schema, t.Name), qualified(t.TargetSchema, t.TargetName),
				quoteIdent(s.Name), pos(s.DeclRange), qualified(src[0], src[1])))
		}
	}
}

func qualified(schema, table string) string { return quoteIdent(schema) + "." + quoteIdent(table) }

// Node roles for the mapping methods: the DDL source's names are the
// selection's names; the other node's are the targets.
const (
	roleNone = iota
	roleSource
	roleOther
)

func (c *Config) role(node string) int {
	switch {
	case node == "":
		return roleNone
	case node == c.Pair.DDLSource:
		return roleSource
	case c.Peer(c.Pair.DDLSource) != nil && c.Peer(c.Pair.DDLSource).Name == node:
		return roleOther
	}
	return roleNone
}

// MapSchema returns the name on the other node of schema `schema` (a
// catalog name, case-sensitive) of node `from`. From the DDL source, a
// schema block's schema maps to its target; from the other node, a schema
// block's target maps back to its name. Any other schema, or an unknown
// node, keeps its name.
func (c *Config) MapSchema(from, schema string) string {
	switch c.role(from) {
	case roleSource:
		for _, s := range c.Schemas {
			if s.Name == schema {
				return s.Target
			}
		}
	case roleOther:
		for _, s := range c.Schemas {
			if s.Target == schema {
				return s.Name
			}
		}
	}
	return schema
}

// MapTable returns the name on the other node of table schema.table (catalog
// names) of node `from`. From the DDL source: the table block's target when
// a table block names it, else (MapSchema(from, schema), table). From the
// other node, the inverse: the source table of the table block whose target
// is schema.table, else (MapSchema(from, schema), table). An unknown node
// keeps the name.
//
// On the tables the config selects the two directions are exact inverses
// (the load-time checks guarantee it). For another table of the other node
// the answer is only the inverse name mapping: ask SelectedOn whether it is
// replicated at all.
func (c *Config) MapTable(from, schema, table string) (string, string) {
	switch c.role(from) {
	case roleSource:
		for _, t := range c.Tables {
			if t.Schema == schema && t.Name == table {
				return t.TargetSchema, t.TargetName
			}
		}
	case roleOther:
		for _, t := range c.Tables {
			if t.TargetSchema == schema && t.TargetName == table {
				return t.Schema, t.Name
			}
		}
	default:
		return schema, table
	}
	if c.Names.Folds() && c.role(from) == roleSource && c.schemaBlock(schema) != nil {
		return c.MapSchema(from, schema), c.Names.Fold(table) // names.case
	}
	return c.MapSchema(from, schema), table
}

// schemaBlock returns the schema block of source schema `schema`, else nil.
func (c *Config) schemaBlock(schema string) *SchemaSel {
	for _, s := range c.Schemas {
		if s.Name == schema {
			return s
		}
	}
	return nil
}

// SelectedOn is Selected in the names of node `node`. For the DDL source it
// is Selected. For the other node, schema.table is selected when it is the
// image of a selected source table: it is mapped back, and selected only
// when that source table is selected and maps forward to schema.table again
// (so, with schema "app" { target = "app_copy" } and table "app.orders" {
// target = "sales.orders" }, the other node's app_copy.orders is not
// selected: app.orders goes to sales.orders). An unknown node selects
// nothing.
func (c *Config) SelectedOn(node, schema, table string) (ops []Op, ok bool) {
	switch c.role(node) {
	case roleSource:
		return c.Selected(schema, table)
	case roleOther:
		s, t := c.MapTable(node, schema, table)
		if fs, ft := c.MapTable(c.Pair.DDLSource, s, t); fs != schema || ft != table {
			return nil, false
		}
		if c.Names.Folds() && c.tableBlockOn(node, schema, table) == nil {
			// A table of a schema block, named as names.case folds it:
			// the globs are matched folded too (the source name is not
			// known here).
			if sb := c.schemaBlock(s); sb != nil && sb.selectsFolded(t, c.Names) {
				return sb.Operations, true
			}
			return nil, false
		}
		return c.Selected(s, t)
	}
	return nil, false
}

// PolicyOn returns the conflict policy (SPEC §7) of table schema.table in
// the names of node `node`: the effective policy of the table block that
// selects it (its conflicts sub-block's, else the pair's), else the pair's
// policy (Config.Conflicts.Policy). For the other node, schema.table is
// mapped back to the DDL source's names exactly as SelectedOn does, so a
// table block's policy applies under its target name there, and a table
// that is not the image of a selected table (or an unknown node) gets the
// pair's policy. The answer is always PolicyFail, PolicyIgnore,
// PolicyOverwrite or PolicyLastWriteWins. Callers on the hot path should cache it per relation.
func (c *Config) PolicyOn(node, schema, table string) string {
	switch c.role(node) {
	case roleSource:
		return c.policy(schema, table)
	case roleOther:
		s, t := c.MapTable(node, schema, table)
		if fs, ft := c.MapTable(c.Pair.DDLSource, s, t); fs != schema || ft != table {
			return c.Conflicts.Policy
		}
		return c.policy(s, t)
	}
	return c.Conflicts.Policy
}

// SchemaSelectedOn reports whether schema (in the names of node `node`) has
// a schema block or holds the table of a table block.
func (c *Config) SchemaSelectedOn(node, schema string) bool {
	role := c.role(node)
	if role == roleNone {
		return false
	}
	for _, s := range c.Schemas {
		if role == roleSource && s.Name == schema || role == roleOther && s.Target == schema {
			return true
		}
	}
	for _, t := range c.Tables {
		if role == roleSource && t.Schema == schema || role == roleOther && t.TargetSchema == schema {
			return true
		}
	}
	return false
}

// PublicationSchemasOn is PublicationSchemas in the names of node `node`
// (sorted; nil for an unknown node).
func (c *Config) PublicationSchemasOn(node string) []string {
	switch c.role(node) {
	case roleSource:
		return c.PublicationSchemas()
	case roleOther:
		out := make([]string, 0, len(c.Schemas))
		for _, s := range c.Schemas {
			out = append(out, s.Target)
		}
		sort.Strings(out)
		return out
	}
	return nil
}

// PublicationTablesOn is PublicationTables in the names of node `node`: the
// {schema, table} of the table blocks whose schema there is not covered by
// PublicationSchemasOn(node), sorted (nil for an unknown node).
func (c *Config) PublicationTablesOn(node string) [][2]string {
	switch c.role(node) {
	case roleSource:
		return c.PublicationTables()
	case roleOther:
		inSchema := map[string]bool{}
		for _, s := range c.Schemas {
			inSchema[s.Target] = true
		}
		var out [][2]string
		for _, t := range c.Tables {
			if !inSchema[t.TargetSchema] {
				out = append(out, [2]string{t.TargetSchema, t.TargetName})
			}
		}
		sortPairs(out)
		return out
	}
	return nil
}

func sortPairs(p [][2]string) {
	sort.Slice(p, func(i, j int) bool {
		if p[i][0] != p[j][0] {
			return p[i][0] < p[j][0]
		}
		return p[i][1] < p[j][1]
	})
}

// SchemaTargets returns the forward schema mapping, DDL source name → other
// node's name, of every schema block (also those mapped onto their own
// name). A fresh map each call.
func (c *Config) SchemaTargets() map[string]string {
	out := make(map[string]string, len(c.Schemas))
	for _, s := range c.Schemas {
		out[s.Name] = s.Target
	}
	return out
}

// TableTargets returns the forward table mapping, DDL source {schema,
// table} → other node's {schema, table}, of every table block (also those
// mapped onto their own name). A fresh map each call.
func (c *Config) TableTargets() map[[2]string][2]string {
	out := make(map[[2]string][2]string, len(c.Tables))
	for _, t := range c.Tables {
		out[[2]string{t.Schema, t.Name}] = [2]string{t.TargetSchema, t.TargetName}
	}
	return out
}

// UsesLastWriteWins reports whether any table's conflict policy is
// last_write_wins (the pair's, or a table block's).
func (c *Config) UsesLastWriteWins() bool {
	if c.Conflicts.Policy == PolicyLastWriteWins {
		return true
	}
	for _, t := range c.Tables {
		if t.Conflicts == PolicyLastWriteWins {
			return true
		}
	}
	return false
}

// LastWriteWinsOn describes, in the names of node `node`, which tables use
// last_write_wins: every table of schemas (the schema blocks, when the
// pair's policy is last_write_wins) except those in except (table blocks
// with another policy), and the tables in tables (table blocks whose
// effective policy is last_write_wins). All nil for an unknown node.
func (c *Config) LastWriteWinsOn(node string) (schemas []string, tables, except [][2]string) {
	role := c.role(node)
	if role == roleNone {
		return nil, nil, nil
	}
	pairLWW := c.Conflicts.Policy == PolicyLastWriteWins
	if pairLWW {
		schemas = c.PublicationSchemasOn(node)
	}
	for _, t := range c.Tables {
		name := [2]string{t.Schema, t.Name}
		if role == roleOther {
			name = [2]string{t.TargetSchema, t.TargetName}
		}
		switch {
		case t.Conflicts == PolicyLastWriteWins:
			tables = append(tables, name)
		case pairLWW:
			except = append(except, name)
		}
	}
	return schemas, tables, except
}

// ColumnMap says how the columns of one replicated table correspond between
// the two nodes, in the names of the node that asked ([Config.ColumnsOn]);
// "the peer" is the other node. Column names are catalog names
// (case-sensitive, as pgoutput and pg_attribute give them).
//
// Subset true (the table block has `columns`): exactly the columns that
// are keys of Names are replicated, each under the name Names gives it on
// the peer (itself when it is not renamed). Any other column of the table
// is not replicated: left out of the changes this node sends, never set by
// the changes it receives.
//
// Subset false (the table block renames columns but has no `columns`):
// every column is replicated. Names lists only the renamed ones; any other
// column keeps its name on the peer, except a column whose name is the
// peer's name of a renamed column (a value of Names that is not a key):
// [ColumnMap.Map] says it is not replicated, [ColumnMap.Check] says why.
//
// The zero ColumnMap (ColumnsOn's answer with ok false) replicates every
// column under its own name, so a caller may use Map without looking at ok.
// Names is never nil when ColumnsOn returns ok; it is the caller's own copy.
type ColumnMap struct {
	Subset bool
	Names  map[string]string

	source   bool            // asked by the DDL source
	shadowed map[string]bool // Subset false: on the DDL source the values of Names, on the other node those that are not keys
	fold     Names           // names.case: on the DDL source it spells the columns Names does not list
}

// Map returns the peer's name of column col of the asking node, and whether
// col is replicated at all. With Subset false, a column that is not renamed
// but has the name a renamed column gets on the peer is not replicated
// (ok false): on the node that is not the DDL source it is not the image of
// any source column (the source's column of that name is renamed to
// another one), so it is like a column the source lacks; on the DDL source
// the table holds a column that would collide with a renamed one on the
// peer, which the config could not see at load (it does not list the
// table's columns): Check reports it, and the table must not be
// replicated as it is.
func (m ColumnMap) Map(col string) (peer string, ok bool) {
	if p, ok := m.Names[col]; ok {
		return p, true
	}
	if m.Subset {
		return "", false
	}
	if m.source {
		col = m.fold.Fold(col) // names.case
	}
	if m.shadowed[col] {
		return "", false
	}
	return col, true
}

// Reshapes reports whether the peer's table differs from this one by more
// than names.case: a column subset, or a rename to another name than the
// folded one.
func (m ColumnMap) Reshapes() bool {
	if m.Subset {
		return true
	}
	for from, to := range m.Names {
		if m.source && to != m.fold.Fold(from) || !m.source && from != m.fold.Fold(to) {
			return true
		}
	}
	return false
}

// Check compares the map with the columns the table really has on the
// asking node (cols: a relation's column names, from pgoutput or the
// catalog) and returns an error naming every problem, or nil:
//
//   - a column the config names on this node is missing from cols (a key
//     of Names: on the DDL source, a column listed in `columns` or renamed
//     by a column block; on the other node, a target of those);
//   - on the DDL source, with Subset false, a column of cols that keeps its
//     name although another column is renamed onto that name (both would
//     be the same column on the peer).
//
// The error does not name the table; the caller adds it. The zero
// ColumnMap accepts any columns.
func (m ColumnMap) Check(cols []string) error {
	have := make(map[string]bool, len(cols))
	for _, c := range cols {
		have[c] = true
	}
	var problems []string
	var missing []string
	for c := range m.Names {
		if !have[c] {
			missing = append(missing, quoteIdent(c))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		what := "the table block's columns list or column blocks name"
		if !m.source {
			what = "the table block's column mapping (columns and column targets) expects"
		}
		problems = append(problems, fmt.Sprintf("%s column(s) %s, which the table does not have on this node", what, strings.Join(missing, ", ")))
	}
	if m.source && !m.Subset {
		var clash []string
		folded := map[string]string{} // name on the peer → the column not renamed that gets it
		for _, c := range cols {
			if _, renamed := m.Names[c]; renamed {
				continue
			}
			img := m.fold.Fold(c)
			if m.shadowed[img] {
				for from, to := range m.Names {
					if to == img {
						if img == c {
							clash = append(clash, fmt.Sprintf("column %s keeps its name, but column %s is renamed to %s", quoteIdent(c), quoteIdent(from), quoteIdent(c)))
						} else {
							clash = append(clash, fmt.Sprintf("column %s becomes %s by names.case, but column %s is renamed to %s", quoteIdent(c), quoteIdent(img), quoteIdent(from), quoteIdent(img)))
						}
					}
				}
			}
			if f, ok := folded[img]; ok {
				clash = append(clash, fmt.Sprintf("columns %s and %s both become %s by names.case", quoteIdent(f), quoteIdent(c), quoteIdent(img)))
			}
			folded[img] = c
		}
		sort.Strings(clash)
		if len(clash) > 0 {
			problems = append(problems, strings.Join(clash, "; ")+
				" (on the other node both would be the same column: rename the first one too with a column block, or list the replicated columns with columns)")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// tableBlockOn returns the table block that selects table schema.table in
// the names of node `node` (for the other node: the block whose target it
// is, which the load checks make unique), else nil (also for an unknown
// node). This is the table block SelectedOn and PolicyOn go by.
func (c *Config) tableBlockOn(node, schema, table string) *TableSel {
	role := c.role(node)
	for _, t := range c.Tables {
		if role == roleSource && t.Schema == schema && t.Name == table ||
			role == roleOther && t.TargetSchema == schema && t.TargetName == table {
			return t
		}
	}
	return nil
}

// ColumnsOn returns how the columns of table schema.table (catalog names of
// node `node`) map onto the other node, when its table block restricts or
// renames them (`columns`, `column "NAME" { target = ... }`); ok is true
// then. Node roles and table names work as in SelectedOn and PolicyOn: on
// the other node the table is named by its table block's target, and the
// map goes from that node's column names (the targets) back to the DDL
// source's.
//
// ok is false, with the zero ColumnMap, when every column is replicated
// under its own name: the table's block has neither columns nor renames,
// the table is selected only by a schema block, it is not selected, or
// node is unknown. Ask SelectedOn whether the table is replicated at all.
//
// With table "public.orders" { target = "sales.orders", columns = ["id",
// "total"], column "total" { target = "amount" } } and DDL source east,
// ColumnsOn("east", "public", "orders") is {Subset: true, Names: {id: id,
// total: amount}} and ColumnsOn("west", "sales", "orders") is {Subset:
// true, Names: {id: id, amount: total}}. Without the columns attribute
// they are {Subset: false, Names: {total: amount}} and {Subset: false,
// Names: {amount: total}}.
//
// Each call builds a fresh map: callers on the hot path should cache the
// answer per relation (and run ColumnMap.Check against the relation's
// columns once).
func (c *Config) ColumnsOn(node, schema, table string) (cols ColumnMap, ok bool) {
	t := c.tableBlockOn(node, schema, table)
	source := c.role(node) == roleSource
	if t == nil || t.Columns == nil && t.ColumnTargets == nil {
		if source && c.Names.Folds() {
			if _, selected := c.Selected(schema, table); selected {
				return ColumnMap{Names: map[string]string{}, source: true, fold: c.Names, shadowed: map[string]bool{}}, true
			}
		}
		return ColumnMap{}, false
	}
	m := ColumnMap{Subset: t.Columns != nil, Names: map[string]string{}, source: source, fold: c.Names}
	add := func(src, dst string) {
		if m.source {
			m.Names[src] = dst
		} else {
			m.Names[dst] = src
		}
	}
	if m.Subset {
		for _, col := range t.Columns {
			dst, renamed := t.ColumnTargets[col]
			if !renamed {
				dst = col
			}
			add(col, dst)
		}
		return m, true
	}
	for src, dst := range t.ColumnTargets {
		add(src, dst)
	}
	m.shadowed = map[string]bool{}
	for _, v := range m.Names {
		if _, isKey := m.Names[v]; m.source || !isKey {
			m.shadowed[v] = true
		}
	}
	return m, true
}

// WhereOn returns the row filter of table schema.table in the names of node
// `node` ("" for none): the `where` of the table block that selects it.
func (c *Config) WhereOn(node, schema, table string) string {
	if t := c.tableBlockOn(node, schema, table); t != nil {
		return t.Where
	}
	return ""
}
