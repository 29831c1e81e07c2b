package policies

import (
	"sort"

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
// selection (never replicated, so they keep their names); column names. A
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
	return c.MapSchema(from, schema), table
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
