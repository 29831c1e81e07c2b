package ddlparse

import (
	"fmt"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
)

// QName is a schema-qualified name as the server stores it (unquoted,
// case-sensitive: "Orders" and "orders" differ).
type QName struct {
	Schema, Name string
}

func (q QName) String() string {
	if q.Schema == "" {
		return quoteIdent(q.Name)
	}
	return quoteIdent(q.Schema) + "." + quoteIdent(q.Name)
}

// Column names a column of a source table.
type Column struct {
	Schema, Table, Name string
}

// Mapping renames objects between the DDL source and its peer. All keys are
// source names; a table mapping wins over its schema's mapping. The zero
// Mapping renames nothing.
type Mapping struct {
	// Schemas maps a source schema to the peer's schema.
	Schemas map[string]string
	// Tables maps a source relation to the peer's relation (schema and name).
	Tables map[QName]QName
	// Columns maps a source table's column to the peer's column name. The key
	// names the table by its source name.
	Columns map[Column]string
	// Fold, when set, spells the peer's names (names.case) of everything in
	// the fold scope: the relations of FoldSchemas and the relations Tables
	// maps (tables, views, sequences, indexes), and their columns, indexes
	// and constraints. An explicit entry of Tables or Columns wins.
	Fold func(string) string
	// FoldSchemas are the source schemas whose relations Fold applies to.
	FoldSchemas map[string]bool
}

// folds reports whether Fold applies to source relation q and its members.
func (m Mapping) folds(q QName) bool {
	if m.Fold == nil || q.Schema == "" || isSystemSchema(q.Schema) {
		return false
	}
	if m.FoldSchemas[q.Schema] {
		return true
	}
	_, ok := m.Tables[q]
	return ok
}

// Relation returns the peer's name of source relation q.
func (m Mapping) Relation(q QName) QName {
	if isSystemSchema(q.Schema) {
		return q
	}
	if t, ok := m.Tables[q]; ok {
		return t
	}
	if m.folds(q) {
		return QName{Schema: m.Schema(q.Schema), Name: m.Fold(q.Name)}
	}
	if s, ok := m.Schemas[q.Schema]; ok && q.Schema != "" {
		return QName{Schema: s, Name: q.Name}
	}
	return q
}

// Schema returns the peer's name of source schema s.
func (m Mapping) Schema(s string) string {
	if isSystemSchema(s) {
		return s
	}
	if t, ok := m.Schemas[s]; ok {
		return t
	}
	return s
}

// SearchPath maps a search_path setting (as current_setting('search_path')
// shows it, e.g. `"$user", app, public`) to the peer's schema names. Rewrite
// leaves unqualified names that the mapping does not rename unqualified, so
// the peer must run the replayed DDL with this search_path.
func (m Mapping) SearchPath(setting string) string {
	parts := splitSearchPath(setting)
	out := make([]string, len(parts))
	for i, p := range parts {
		if p == "$user" {
			out[i] = `"$user"`
			continue
		}
		out[i] = quoteIdent(m.Schema(p))
	}
	return strings.Join(out, ", ")
}

// splitSearchPath splits a search_path setting into schema names, unquoting
// quoted ones and folding unquoted ones to lower case as PostgreSQL does.
func splitSearchPath(setting string) []string {
	var out []string
	i := 0
	for i < len(setting) {
		for i < len(setting) && (setting[i] == ' ' || setting[i] == '\t' || setting[i] == ',') {
			i++
		}
		if i >= len(setting) {
			break
		}
		var b strings.Builder
		if setting[i] == '"' {
			i++
			for i < len(setting) {
				if setting[i] == '"' {
					if i+1 < len(setting) && setting[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(setting[i])
				i++
			}
		} else {
			for i < len(setting) && setting[i] != ',' {
				b.WriteByte(setting[i])
				i++
			}
			out = append(out, strings.ToLower(strings.TrimSpace(b.String())))
			continue
		}
		out = append(out, b.String())
		for i < len(setting) && setting[i] != ',' {
			i++
		}
	}
	return out
}

// Options control Rewrite.
type Options struct {
	// SearchPath is the source session's search_path setting, used to find
	// which source relation an unqualified name means (see Rewrite).
	SearchPath string
	// StripConcurrently replays CREATE INDEX CONCURRENTLY, DROP INDEX
	// CONCURRENTLY and DETACH PARTITION CONCURRENTLY without CONCURRENTLY.
	// Replay runs inside the apply transaction, where CONCURRENTLY is an
	// error; without it the index is built (or the partition detached)
	// under a lock that blocks writes to the table on the peer while it runs.
	// Off by default: such statements are then unsupported.
	StripConcurrently bool
}

type pathResolver struct {
	path   []string
	m      *Mapping
	colRel map[QName]bool
}

func newPathResolver(setting string, m *Mapping) *pathResolver {
	r := &pathResolver{m: m, colRel: map[QName]bool{}}
	for _, s := range splitSearchPath(setting) {
		if s == "$user" || s == "pg_catalog" || s == "pg_temp" || s == "" {
			continue
		}
		r.path = append(r.path, s)
	}
	for c := range m.Columns {
		r.colRel[QName{Schema: c.Schema, Name: c.Table}] = true
	}
	return r
}

// resolve finds the schema of an unqualified relation name: the first
// schema on the search path for which the mapping has this relation (a
// table or a column mapping). Otherwise the name is left to the server
// (known = false): Rewrite leaves it unqualified and the peer resolves it
// with the mapped search_path.
func (r *pathResolver) resolve(name string) (QName, bool) {
	for _, s := range r.path {
		q := QName{Schema: s, Name: name}
		if _, ok := r.m.Tables[q]; ok || r.colRel[q] {
			return q, true
		}
	}
	if len(r.path) > 0 {
		q := QName{Schema: r.path[0], Name: name}
		// names.case: a name the fold changes is taken to be in the first
		// schema on the path when that schema is folded (where an
		// unqualified CREATE puts it); system catalogs (pg_*) are not.
		if r.m.Fold != nil && r.m.FoldSchemas[q.Schema] && !strings.HasPrefix(name, "pg_") && r.m.Fold(name) != name {
			return q, true
		}
		return q, false
	}
	return QName{Name: name}, false
}

// Rewrite returns the text to replay for a DDL statement on the peer: every
// name the statement uses is mapped, and the result is deparsed from the
// parse tree (so it is normalised, not byte-identical to the source).
//
//   - Qualified names are mapped exactly. An unqualified relation name is
//     mapped, and then written qualified, when the mapping has a table or
//     column entry for it in a schema of Options.SearchPath (the first one
//     wins); other unqualified names are left unqualified, for the peer to
//     resolve with Mapping.SearchPath(Options.SearchPath).
//   - A renamed relation read in a FROM clause (or a DML target) keeps its
//     source name as an alias, and a renamed column read by a SELECT keeps
//     its source name as the output name, so views keep their columns.
//   - CREATE TABLE ... AS and SELECT ... INTO replay as structure only
//     (CREATE TABLE ... AS ... WITH NO DATA): their rows travel as row
//     changes.
//   - Function bodies written as strings (AS $$...$$) are not rewritten;
//     SQL-standard bodies (BEGIN ATOMIC, RETURN) are. A string body that
//     mentions a schema, table or column the mapping renames (as a word,
//     anywhere: a qualifier, a dynamic-SQL string, a comment) makes the
//     statement unsupported (ReasonMapping), and so do trigger arguments
//     and object-identifier literals that are not plain names ('s.t[]'::
//     regtype). A routine's SET search_path and plain object-identifier
//     literals ('s.cfg'::regconfig, 's'::regnamespace) are mapped.
//
// Statements with Unsupported set return it (an *UnsupportedError), except
// CONCURRENTLY index DDL under Options.StripConcurrently.
func Rewrite(st Statement, m Mapping, o Options) (sql string, err error) {
	if st.raw == nil || st.raw.Stmt == nil {
		return "", fmt.Errorf("rewrite: statement %d has no parse tree (use Split)", st.Index)
	}
	if st.Kind != KindDDL {
		return "", &UnsupportedError{Statement: st.Index, Tag: st.Tag, Reason: ReasonNotDDL,
			Detail: st.Kind.String() + " is never replayed as text"}
	}
	if st.Unsupported != nil && !(o.StripConcurrently && strippable(st.raw.Stmt)) {
		return "", st.Unsupported
	}
	defer func() {
		if p := recover(); p != nil {
			sql, err = "", fmt.Errorf("rewrite statement %d (%s): internal error: %v", st.Index, st.Tag, p)
		}
	}()

	raw := proto.Clone(st.raw).(*pg.RawStmt)
	w := newWalker(newPathResolver(o.SearchPath, &m))
	w.walkTop(raw.Stmt)
	if err := applyMapping(w.sites, &m); err != nil {
		return "", &UnsupportedError{Statement: st.Index, Tag: st.Tag, Reason: ReasonMapping, Detail: err.Error()}
	}
	raw.Stmt = structureOnly(raw.Stmt)
	if o.StripConcurrently {
		stripConcurrently(raw.Stmt)
	}

	out, err := deparse(st.Text, raw.Stmt)
	if err != nil {
		return "", &UnsupportedError{Statement: st.Index, Tag: st.Tag, Reason: ReasonDeparse, Detail: err.Error()}
	}
	return out, nil
}

// strippable reports whether the only obstacle to replaying n is a
// CONCURRENTLY that StripConcurrently removes.
func strippable(n *pg.Node) bool {
	switch s := n.GetNode().(type) {
	case *pg.Node_IndexStmt:
		return s.IndexStmt.Concurrent
	case *pg.Node_DropStmt:
		return s.DropStmt.Concurrent
	case *pg.Node_AlterTableStmt:
		found := false
		for _, c := range s.AlterTableStmt.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			if cmd.Subtype == pg.AlterTableType_AT_DetachPartitionFinalize {
				return false
			}
			if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent {
				found = true
			}
		}
		return found
	}
	return false
}

func stripConcurrently(n *pg.Node) {
	switch s := n.GetNode().(type) {
	case *pg.Node_IndexStmt:
		s.IndexStmt.Concurrent = false
	case *pg.Node_DropStmt:
		s.DropStmt.Concurrent = false
	case *pg.Node_AlterTableStmt:
		for _, c := range s.AlterTableStmt.Cmds {
			if pc := c.GetAlterTableCmd().GetDef().GetPartitionCmd(); pc != nil {
				pc.Concurrent = false
			}
		}
	}
}

// structureOnly turns CREATE TABLE AS and SELECT INTO into CREATE TABLE AS
// ... WITH NO DATA.
func structureOnly(n *pg.Node) *pg.Node {
	switch s := n.GetNode().(type) {
	case *pg.Node_CreateTableAsStmt:
		if s.CreateTableAsStmt.Objtype != pg.ObjectType_OBJECT_MATVIEW && s.CreateTableAsStmt.Into != nil {
			s.CreateTableAsStmt.Into.SkipData = true
			s.CreateTableAsStmt.IsSelectInto = false
		}
	case *pg.Node_SelectStmt:
		var into *pg.IntoClause
		for sel := s.SelectStmt; sel != nil; sel = sel.Larg {
			if sel.IntoClause != nil {
				into, sel.IntoClause = sel.IntoClause, nil
				break
			}
		}
		if into == nil {
			return n
		}
		into.SkipData = true
		return &pg.Node{Node: &pg.Node_CreateTableAsStmt{CreateTableAsStmt: &pg.CreateTableAsStmt{
			Query:   n,
			Into:    into,
			Objtype: pg.ObjectType_OBJECT_TABLE,
		}}}
	}
	return n
}

// applyMapping renames what the sites point at. Relation, name-list and
// schema sites go first, so column references see whether their relation
// was renamed and aliased.
func applyMapping(sites []*site, m *Mapping) error {
	for _, s := range sites {
		if s.kind == siteColumnRef {
			continue
		}
		if err := applySite(s, m); err != nil {
			return err
		}
	}
	for _, s := range sites {
		if s.kind == siteColumnRef {
			applyColumnRef(s, m)
		}
	}
	return nil
}

func applySite(s *site, m *Mapping) error {
	switch s.kind {
	case siteRelation:
		return applyRelation(s, m)
	case siteList:
		return applyList(s, m)
	case siteSchema:
		*s.str = m.Schema(*s.str)
	case siteColumn:
		if s.rel != nil && !s.rel.temp {
			if c, ok, _ := columnName(m, s.rel, *s.str); ok {
				*s.str = c
			}
		}
	case siteMemberName:
		if r := s.rel; r != nil && r.known && !r.temp && m.folds(r.src) {
			*s.str = m.Fold(*s.str)
		}
	case siteRegclass:
		r := s.rel
		if r.temp || !r.known {
			return nil
		}
		if t := m.Relation(r.src); t != r.src {
			*s.str = t.String()
		}
	case siteRegName:
		applyRegName(s, m)
	case siteOpaque:
		return checkOpaque(s, m)
	case siteJoin:
		for _, r := range s.rels {
			if r.temp {
				continue
			}
			for _, c := range columnsOf(m, r.src) {
				to := m.Columns[c]
				if s.natural {
					return fmt.Errorf("NATURAL JOIN over %s, whose columns the mapping renames, would join on other columns on the peer", r.src)
				}
				for _, u := range s.using {
					if u == c.Name {
						return fmt.Errorf("JOIN ... USING (%s) joins on a column of %s that the mapping renames to %s; write the join with ON",
							quoteIdent(u), r.src, quoteIdent(to))
					}
				}
			}
		}
	case siteStar:
		for _, r := range starRelations(s) {
			if r == nil || r.temp {
				continue
			}
			for _, c := range columnsOf(m, r.src) {
				return fmt.Errorf("SELECT * over %s would name its columns after the peer's (the mapping renames %s to %s); list the columns",
					r.src, quoteIdent(c.Name), quoteIdent(m.Columns[c]))
			}
		}
	case siteNewRelname:
		r := s.rel
		if r.temp || !r.known {
			return nil
		}
		if t, ok := m.Tables[QName{Schema: r.src.Schema, Name: *s.str}]; ok {
			if to := m.Relation(r.src); to.Schema != t.Schema {
				return fmt.Errorf("renaming %s to %s would move it from schema %s to %s on the peer; RENAME cannot change schemas",
					r.src, quoteIdent(*s.str), quoteIdent(to.Schema), quoteIdent(t.Schema))
			}
			*s.str = t.Name
		} else if m.folds(r.src) {
			*s.str = m.Fold(*s.str)
		}
	}
	return nil
}

func applyRelation(s *site, m *Mapping) error {
	r, rv := s.rel, s.rv
	if r.temp || !r.known {
		return nil
	}
	t := m.Relation(r.src)
	if t == r.src {
		return nil
	}
	if s.eltSchema != "" {
		if want := m.Schema(s.eltSchema); t.Schema != want {
			return fmt.Errorf("%s is created by CREATE SCHEMA %s, which maps to schema %s, but the mapping sends it to %s",
				r.src, quoteIdent(s.eltSchema), quoteIdent(want), t)
		}
		if rv.Schemaname != "" {
			rv.Schemaname = t.Schema
		}
	} else {
		rv.Schemaname = t.Schema
	}
	if t.Name != rv.Relname {
		if s.from && rv.Alias == nil {
			rv.Alias = &pg.Alias{Aliasname: rv.Relname}
			s.aliased = true
		}
		rv.Relname = t.Name
	}
	return nil
}

func setStr(n *pg.Node, v string) {
	if s, ok := n.GetNode().(*pg.Node_String_); ok {
		s.String_.Sval = v
	}
}

func applyList(s *site, m *Mapping) error {
	items := *s.list
	parts := strs(items)
	n := len(parts)
	if n == 0 {
		return nil
	}
	switch s.shape {
	case shapeObject:
		if n < 2 {
			return nil
		}
		q := QName{Schema: parts[n-2], Name: parts[n-1]}
		if t, ok := m.Tables[q]; ok && s.typ == "type" { // a table's row type
			setStr(items[n-2], t.Schema)
			setStr(items[n-1], t.Name)
			return nil
		}
		setStr(items[n-2], m.Schema(q.Schema))
	case shapeOpclass:
		if n >= 3 {
			setStr(items[n-2], m.Schema(parts[n-2]))
		}
	case shapeRelation, shapeMember, shapeColumn:
		relIdx := n - 1
		if s.shape != shapeRelation {
			relIdx = n - 2
		}
		r := s.rel
		if r == nil || r.temp || !r.known {
			return nil
		}
		if s.shape == shapeColumn {
			if c, ok, _ := columnName(m, r, parts[n-1]); ok {
				setStr(items[n-1], c)
			}
		}
		t := m.Relation(r.src)
		if t == r.src {
			return nil
		}
		setStr(items[relIdx], t.Name)
		if relIdx >= 1 {
			setStr(items[relIdx-1], t.Schema)
		} else {
			q := append([]*pg.Node{pg.MakeStrNode(t.Schema)}, items...)
			*s.list = q
		}
	}
	return nil
}

// applyColumnRef maps a column reference in an expression. It only renames
// what it can attribute to exactly one relation in scope; a reference it
// cannot attribute is left as written.
func applyColumnRef(s *site, m *Mapping) {
	f := s.cref.Fields
	n := len(f)
	if n == 0 || n > 3 {
		return
	}
	col := ""
	if c, ok := f[n-1].GetNode().(*pg.Node_String_); ok {
		col = c.String_.Sval
	}
	quals := strs(f[:n-1])
	if len(quals) != n-1 {
		return
	}
	var e *scopeEntry
	var rel *relRef
	switch n {
	case 1:
		rel = unqualifiedOwner(s.scope, col, m)
		if rel == nil && col != "" && foldsInScope(s.scope, m) {
			// names.case over several folded relations: the column is
			// folded whichever of them it belongs to.
			setStr(f[0], m.Fold(col))
			return
		}
	case 2:
		e = findEntry(s.scope, "", quals[0])
	case 3:
		e = findEntry(s.scope, quals[0], quals[1])
	}
	if e != nil {
		rel = e.rel
	}
	if rel == nil || rel.temp {
		return
	}
	if col != "" {
		if c, ok, folded := columnName(m, rel, col); ok && c != col {
			setStr(f[n-1], c)
			// A renamed column keeps its source name as a view's output
			// column; a folded one does not: the view's columns are
			// folded like every other column of its schema.
			if !folded && s.outName != nil && *s.outName == "" {
				*s.outName = col
			}
		}
	}
	if e == nil || !rel.known || rel.site == nil {
		return
	}
	// The qualifier names the relation itself (not an alias we or the user
	// wrote): follow the relation's new name.
	t := m.Relation(rel.src)
	aliased := rel.site.aliased
	if rel.site.rv != nil && rel.site.rv.Alias != nil && !aliased {
		return // the user's alias: unchanged
	}
	switch n {
	case 2:
		if !aliased && quals[0] == rel.src.Name {
			setStr(f[0], t.Name)
		}
	case 3:
		if aliased {
			s.cref.Fields = f[1:]
		} else {
			setStr(f[0], t.Schema)
			setStr(f[1], t.Name)
		}
	}
}

// unqualifiedOwner finds the relation an unqualified column belongs to:
// the DDL target if there is one, else the only relation in the nearest
// scope that the mapping has this column for.
func unqualifiedOwner(sc *scope, col string, m *Mapping) *relRef {
	for ; sc != nil; sc = sc.parent {
		if sc.target != nil && !sc.query {
			return sc.target
		}
		var found *relRef
		count := 0
		for _, e := range sc.entries {
			if e.rel == nil {
				continue
			}
			if _, ok := columnOf(m, e.rel, col); ok {
				if found != e.rel {
					count++
				}
				found = e.rel
			}
		}
		if count == 1 {
			return found
		}
		if count > 1 {
			return nil
		}
	}
	return nil
}

// findEntry finds the FROM item (or DDL target, or NEW/OLD) a qualifier
// names, innermost scope first.
func findEntry(sc *scope, schema, name string) *scopeEntry {
	for ; sc != nil; sc = sc.parent {
		for i := range sc.entries {
			e := &sc.entries[i]
			if e.refname != name {
				continue
			}
			if schema == "" || e.schema == schema {
				return e
			}
		}
	}
	return nil
}

// starRelations lists the relations a * or t.* in a target list expands.
func starRelations(s *site) []*relRef {
	f := s.cref.Fields
	quals := strs(f[:len(f)-1])
	var e *scopeEntry
	switch len(quals) {
	case 0:
		var out []*relRef
		for _, e := range s.scope.entries {
			out = append(out, e.rel)
		}
		return out
	case 1:
		e = findEntry(s.scope, "", quals[0])
	case 2:
		e = findEntry(s.scope, quals[0], quals[1])
	}
	if e == nil {
		return nil
	}
	return []*relRef{e.rel}
}

// columnsOf lists the column mappings of source table q, sorted.
func columnsOf(m *Mapping, q QName) []Column {
	var out []Column
	for c := range m.Columns {
		if c.Schema == q.Schema && c.Table == q.Name {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// columnName is the peer's name of column col of relation r: its explicit
// mapping (columnOf), else its folded name when names.case applies to r
// (folded true), else ok false.
func columnName(m *Mapping, r *relRef, col string) (to string, ok, folded bool) {
	if c, ok := columnOf(m, r, col); ok {
		return c, true, false
	}
	for x := r; x != nil; x = x.parent {
		if x.known && m.folds(x.src) {
			return m.Fold(col), true, true
		}
	}
	return "", false, false
}

// foldsInScope reports whether the nearest scope with relations holds only
// relations names.case folds, and at least one.
func foldsInScope(sc *scope, m *Mapping) bool {
	if m.Fold == nil {
		return false
	}
	for ; sc != nil; sc = sc.parent {
		n := 0
		for _, e := range sc.entries {
			if e.rel == nil {
				continue
			}
			if !e.rel.known || e.rel.temp || !m.folds(e.rel.src) {
				return false
			}
			n++
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// columnOf maps column col of relation r, using the mapping of the table r
// takes its columns from when r has none of its own.
func columnOf(m *Mapping, r *relRef, col string) (string, bool) {
	for x := r; x != nil; x = x.parent {
		if c, ok := m.Columns[Column{Schema: x.src.Schema, Table: x.src.Name, Name: col}]; ok {
			return c, true
		}
	}
	return "", false
}
