package ddlparse

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file finds every place where a statement names an object ("sites").
// Split turns the sites into Statement.Objects; Rewrite maps them. Both use
// the same walk, so what the dump shows is exactly what the rewrite touches.
//
// pg_query_go has no tree walker: the walk descends through any message with
// protoreflect and stops at the node types that carry names. Statement types
// whose names need context (which relation a column belongs to, whether a
// RangeVar is created or only read) are handled first by stmt, which marks
// the nodes it claims so the generic walk leaves them alone.

// siteKind says what a site points at.
type siteKind int

const (
	siteRelation   siteKind = iota // a *RangeVar
	siteList                       // a qualified name held as String nodes
	siteSchema                     // a schema name held in a string field
	siteColumn                     // a column name of a known relation
	siteColumnRef                  // a ColumnRef in an expression
	siteNewRelname                 // RenameStmt.Newname of a renamed relation
	siteMemberName                 // an index or constraint name of a relation: folded with it (names.case)
	siteRegclass                   // a string literal naming a relation: nextval('s.seq'), 'x'::regclass
	siteRegName                    // a string literal naming another object: 's.cfg'::regconfig
	siteOpaque                     // text that names objects but cannot be rewritten (a string routine body)
	siteJoin                       // JOIN ... USING (columns) or NATURAL JOIN
	siteStar                       // SELECT * (or t.*) in a target list
)

// listShape says how the String parts of a siteList map to names.
type listShape int

const (
	shapeObject   listShape = iota // [schema,] name: types, functions, ...
	shapeRelation                  // [schema,] relation
	shapeMember                    // [schema,] relation, member (trigger, rule, policy, constraint)
	shapeColumn                    // [schema,] relation, column
	shapeOpclass                   // access method, [schema,] name
)

// relRef is a relation as the statement's source database sees it.
type relRef struct {
	src   QName // schema "" when unqualified and not resolvable
	known bool  // src.Schema came from the text or from a mapping key on the search path
	temp  bool
	site  *site // the relation's own site, if it has one
	// parent is the table a new partition (or child table) takes its
	// columns from: its column mappings apply to the child's columns.
	parent *relRef
}

type site struct {
	kind  siteKind
	typ   string
	ref   bool
	rv    *pg.RangeVar
	list  *[]*pg.Node
	shape listShape
	str   *string
	rel   *relRef // relation of siteColumn, siteNewRelname; relation of siteRelation/siteList
	from  bool    // siteRelation in a FROM clause: renaming it adds an alias
	// eltSchema is the schema of a CREATE SCHEMA that contains this relation
	// (elements are created in it whatever search_path says).
	eltSchema string

	// siteColumnRef
	cref    *pg.ColumnRef
	scope   *scope
	outName *string // ResTarget.Name to keep a select's output name

	// siteJoin
	using   []string
	natural bool
	rels    []*relRef

	// set by the rewrite: the relation was renamed and an alias added
	aliased bool
}

// scope is what unqualified and qualified column references resolve to.
type scope struct {
	parent  *scope
	target  *relRef // DDL scope: the relation unqualified columns belong to
	entries []scopeEntry
	ctes    map[string]bool
	query   bool // a SELECT/DML scope (column definitions here are not the target's)
}

type scopeEntry struct {
	refname string
	schema  string // written schema of the FROM item, "" if none or aliased
	rel     *relRef
}

// resolver resolves unqualified relation names; nil resolves nothing.
type resolver interface {
	resolve(name string) (QName, bool)
}

type walker struct {
	res     resolver
	sites   []*site
	objs    []Object
	seen    map[any]bool
	sc      *scope
	eltSchm string // inside CREATE SCHEMA: the schema being created
	exists  bool   // the next SELECT is an EXISTS subquery (its target list does not matter)
	// top is the statement being walked; DML nested in it (rule actions,
	// SQL-standard function bodies) only references its tables.
	top any
}

func newWalker(res resolver) *walker {
	return &walker{res: res, seen: map[any]bool{}}
}

func (w *walker) push(s *scope) { s.parent = w.sc; w.sc = s }
func (w *walker) pop()          { w.sc = w.sc.parent }

func (w *walker) addObject(o Object) {
	if o.Name == "" {
		return
	}
	for _, x := range w.objs {
		if x == o {
			return
		}
	}
	w.objs = append(w.objs, o)
}

// relRefOf resolves a RangeVar to the relation the source database means.
func (w *walker) relRefOf(rv *pg.RangeVar) *relRef {
	r := &relRef{src: QName{Schema: rv.Schemaname, Name: rv.Relname}, known: rv.Schemaname != ""}
	switch {
	case rv.Relpersistence == "t" && rv.Schemaname == "":
		r.src.Schema, r.known, r.temp = "pg_temp", true, true
	case rv.Schemaname == "" && w.eltSchm != "":
		r.src.Schema, r.known = w.eltSchm, true
	case rv.Schemaname == "" && w.res != nil:
		r.src, r.known = w.res.resolve(rv.Relname)
		r.src.Name = rv.Relname
	}
	r.temp = r.temp || r.src.Schema == "pg_temp" || strings.HasPrefix(r.src.Schema, "pg_temp_")
	return r
}

// relation registers a RangeVar site and returns the relation it names.
func (w *walker) relation(rv *pg.RangeVar, typ string, ref, from bool) *relRef {
	if rv == nil || rv.Relname == "" {
		return nil
	}
	w.seen[rv] = true
	r := w.relRefOf(rv)
	s := &site{kind: siteRelation, typ: typ, ref: ref, rv: rv, rel: r, from: from, eltSchema: w.eltSchm}
	r.site = s
	w.sites = append(w.sites, s)
	o := Object{Type: typ, Schema: rv.Schemaname, Name: rv.Relname, Ref: ref}
	if r.temp || w.eltSchm != "" {
		o.Schema = r.src.Schema
	}
	w.addObject(o)
	return r
}

// strs returns the String values of a name list, or nil if an item is not a
// String (A_Star, a TypeName, ...).
func strs(items []*pg.Node) []string {
	out := make([]string, 0, len(items))
	for _, n := range items {
		s, ok := n.GetNode().(*pg.Node_String_)
		if !ok {
			return nil
		}
		out = append(out, s.String_.Sval)
	}
	return out
}

// nameList registers a qualified name list. It returns the relation for
// relation-shaped lists.
func (w *walker) nameList(list *[]*pg.Node, typ string, shape listShape, ref bool) *relRef {
	if list == nil {
		return nil
	}
	parts := strs(*list)
	if len(parts) == 0 {
		return nil
	}
	s := &site{kind: siteList, typ: typ, ref: ref, list: list, shape: shape, eltSchema: w.eltSchm}
	o := Object{Type: typ, Ref: ref}
	switch shape {
	case shapeObject:
		o.Name = parts[len(parts)-1]
		if len(parts) >= 2 {
			o.Schema = parts[len(parts)-2]
		} else if w.eltSchm != "" && !ref {
			o.Schema = w.eltSchm
		}
	case shapeOpclass:
		if len(parts) < 2 {
			return nil
		}
		o.Name = parts[len(parts)-1]
		if len(parts) >= 3 {
			o.Schema = parts[len(parts)-2]
		}
	case shapeRelation:
		o.Name = parts[len(parts)-1]
		if len(parts) >= 2 {
			o.Schema = parts[len(parts)-2]
		}
	case shapeMember, shapeColumn:
		if len(parts) < 2 {
			return nil
		}
		o.Member = parts[len(parts)-1]
		o.Name = parts[len(parts)-2]
		if len(parts) >= 3 {
			o.Schema = parts[len(parts)-3]
		}
	}
	if shape == shapeRelation || shape == shapeMember || shape == shapeColumn {
		rv := &pg.RangeVar{Schemaname: o.Schema, Relname: o.Name}
		s.rel = w.relRefOf(rv)
		s.rel.site = s
	}
	w.sites = append(w.sites, s)
	if !(typ == "function" && ref && o.Schema == "") { // unqualified calls: mostly built-ins, not listed
		w.addObject(o)
	}
	return s.rel
}

// schemaName registers a schema name held in a string field.
func (w *walker) schemaName(p *string, ref bool) {
	if p == nil || *p == "" {
		return
	}
	w.sites = append(w.sites, &site{kind: siteSchema, typ: "schema", ref: ref, str: p})
	w.addObject(Object{Type: "schema", Name: *p, Ref: ref})
}

// memberName registers an index or constraint name of relation r.
func (w *walker) memberName(p *string, r *relRef) {
	if p == nil || *p == "" || r == nil {
		return
	}
	w.sites = append(w.sites, &site{kind: siteMemberName, typ: "member", str: p, rel: r})
}

// column registers a column name of relation r.
func (w *walker) column(p *string, r *relRef) {
	if p == nil || *p == "" || r == nil {
		return
	}
	w.sites = append(w.sites, &site{kind: siteColumn, typ: "column", str: p, rel: r})
}

// columnNodes registers a list of String column names of relation r.
func (w *walker) columnNodes(items []*pg.Node, r *relRef) {
	for _, n := range items {
		if s, ok := n.GetNode().(*pg.Node_String_); ok {
			w.column(&s.String_.Sval, r)
		}
	}
}

// target is the relation unqualified column names belong to in a DDL scope.
func (w *walker) target() *relRef {
	if w.sc == nil || w.sc.query {
		return nil
	}
	return w.sc.target
}

// ddlScope opens a scope in which unqualified columns belong to r; refnames
// (such as NEW and OLD) also name r.
func (w *walker) ddlScope(r *relRef, refnames ...string) {
	s := &scope{target: r}
	if r != nil {
		s.entries = append(s.entries, scopeEntry{refname: r.src.Name, schema: schemaWritten(r), rel: r})
		for _, n := range refnames {
			s.entries = append(s.entries, scopeEntry{refname: n, rel: r})
		}
	}
	w.push(s)
}

func schemaWritten(r *relRef) string {
	if r.site != nil && r.site.rv != nil {
		return r.site.rv.Schemaname
	}
	if r.known {
		return r.src.Schema
	}
	return ""
}

// walkNode walks a node generically.
func (w *walker) walkNode(n *pg.Node) {
	if n != nil {
		w.walk(n.ProtoReflect())
	}
}

func (w *walker) walkNodes(ns []*pg.Node) {
	for _, n := range ns {
		w.walkNode(n)
	}
}

// walk visits m and everything under it.
func (w *walker) walk(m protoreflect.Message) {
	if !m.IsValid() {
		return
	}
	switch v := m.Interface().(type) {
	case *pg.RangeVar:
		if !w.seen[v] {
			if v.Schemaname == "" && w.isCTE(v.Relname) {
				return
			}
			w.relation(v, "relation", true, false)
		}
		return
	case *pg.TypeName:
		w.typeName(v)
		return
	case *pg.FuncCall:
		if !w.seen[v] {
			w.seen[v] = true
			w.nameList(&v.Funcname, "function", shapeObject, true)
			if p := strs(v.Funcname); len(v.Args) > 0 && isSequenceFunc(p) {
				w.regclass(v.Args[0], "sequence")
			}
		}
	case *pg.TypeCast:
		if p := strs(v.GetTypeName().GetNames()); len(p) > 0 && (len(p) == 1 || p[0] == "pg_catalog") {
			if p[len(p)-1] == "regclass" {
				w.regclass(v.Arg, "relation")
			} else if regTypes[p[len(p)-1]] != "" {
				w.regName(v.Arg, p[len(p)-1])
			}
		}
	case *pg.A_Expr:
		w.qualifiedName(&v.Name, "operator") // OPERATOR(s.op)
	case *pg.SortBy:
		w.qualifiedName(&v.UseOp, "operator") // ORDER BY x USING OPERATOR(s.op)
	case *pg.CollateClause:
		w.qualifiedName(&v.Collname, "collation")
	case *pg.SubLink:
		if v.SubLinkType == pg.SubLinkType_EXISTS_SUBLINK && v.Subselect.GetSelectStmt() != nil {
			w.walkNode(v.Testexpr)
			w.exists = true
			w.walkNode(v.Subselect)
			return
		}
	case *pg.ObjectWithArgs:
		if !w.seen[v] {
			w.seen[v] = true
			w.nameList(&v.Objname, "function", shapeObject, true)
		}
	case *pg.ColumnRef:
		w.columnRef(v, nil)
		return
	case *pg.SelectStmt:
		w.selectStmt(v)
		return
	case *pg.InsertStmt:
		w.insertStmt(v)
		return
	case *pg.UpdateStmt:
		w.updateStmt(v)
		return
	case *pg.DeleteStmt:
		w.deleteStmt(v)
		return
	case *pg.ColumnDef:
		if t := w.target(); t != nil {
			w.column(&v.Colname, t)
		}
	case *pg.IndexElem:
		if t := w.target(); t != nil {
			w.column(&v.Name, t)
		}
		w.qualifiedName(&v.Collation, "collation")
		w.qualifiedName(&v.Opclass, "operator class")
	case *pg.PartitionElem:
		if t := w.target(); t != nil {
			w.column(&v.Name, t)
		}
		w.qualifiedName(&v.Collation, "collation")
		w.qualifiedName(&v.Opclass, "operator class")
	case *pg.StatsElem:
		if t := w.target(); t != nil {
			w.column(&v.Name, t)
		}
	case *pg.Constraint:
		w.constraint(v)
	case *pg.DefElem:
		w.defElem(v)
	}
	w.walkFields(m)
}

// rangeFields calls fn for each populated field of m in declaration order,
// until fn returns false. protoreflect's Message.Range has no defined order,
// and protobuf-go varies it between builds on purpose (a race build lists the
// objects of CREATE TABLE AS the other way round): the objects a statement
// names must come out in one stable order.
func rangeFields(m protoreflect.Message, fn func(protoreflect.FieldDescriptor, protoreflect.Value) bool) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if m.Has(fd) && !fn(fd, m.Get(fd)) {
			return
		}
	}
}

// walkFields descends into every message-typed field of m, in declaration order.
func (w *walker) walkFields(m protoreflect.Message) {
	rangeFields(m, func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.walk(l.Get(i).Message())
			}
			return true
		}
		w.walk(v.Message())
		return true
	})
}

func (w *walker) isCTE(name string) bool {
	for s := w.sc; s != nil; s = s.parent {
		if s.ctes[name] {
			return true
		}
	}
	return false
}

// typeName registers a type reference: a qualified type name, or a
// "relation.column%TYPE" column reference.
func (w *walker) typeName(t *pg.TypeName) {
	if t == nil || w.seen[t] {
		return
	}
	w.seen[t] = true
	if t.PctType {
		w.nameList(&t.Names, "column", shapeColumn, true)
		return
	}
	parts := strs(t.Names)
	if len(parts) >= 2 && !isSystemSchema(parts[len(parts)-2]) {
		w.nameList(&t.Names, "type", shapeObject, true)
	}
	for _, n := range t.Typmods {
		w.walkNode(n)
	}
}

// qualifiedName registers a schema-qualified name held as String nodes
// (an operator, a collation, an operator class) that is not a built-in one.
// Unqualified names are left to the peer's search_path and not listed.
func (w *walker) qualifiedName(list *[]*pg.Node, typ string) {
	p := strs(*list)
	if len(p) < 2 || isSystemSchema(p[len(p)-2]) {
		return
	}
	w.nameList(list, typ, shapeObject, true)
}

// constraint registers the column lists of a table constraint and its
// foreign key target.
func (w *walker) constraint(c *pg.Constraint) {
	t := w.target()
	if t != nil {
		w.columnNodes(c.Keys, t)
		w.columnNodes(c.Including, t)
		w.columnNodes(c.FkAttrs, t)
		w.columnNodes(c.FkDelSetCols, t)
		if c.Conname != "" && c.Contype != pg.ConstrType_CONSTR_NOTNULL {
			w.addObject(Object{Type: "table constraint", Schema: schemaWritten(t), Name: t.src.Name, Member: c.Conname})
		}
		w.memberName(&c.Conname, t)
	}
	if c.Pktable != nil {
		pk := w.relation(c.Pktable, "table", true, false)
		w.columnNodes(c.PkAttrs, pk)
	}
	// EXCLUDE (elem WITH op, ...): each item is a list (IndexElem, operator name).
	for _, x := range c.Exclusions {
		if l := x.GetList(); l != nil && len(l.Items) == 2 {
			if op := l.Items[1].GetList(); op != nil {
				w.qualifiedName(&op.Items, "operator")
			}
		}
	}
}

// defElem handles options that name functions and operators (CREATE
// AGGREGATE, OPERATOR, TYPE, ...).
func (w *walker) defElem(d *pg.DefElem) {
	switch d.Defname {
	case "commutator", "negator", "sortop":
		if l, ok := d.Arg.GetNode().(*pg.Node_List); ok && len(strs(l.List.Items)) >= 2 {
			w.nameList(&l.List.Items, "operator", shapeObject, true)
		}
	case "sequence_name":
		// GENERATED ... AS IDENTITY (SEQUENCE NAME s.seq): the sequence it
		// creates. Unqualified, PostgreSQL puts it in the table's schema.
		if l, ok := d.Arg.GetNode().(*pg.Node_List); ok && len(strs(l.List.Items)) >= 2 {
			w.nameList(&l.List.Items, "sequence", shapeRelation, false)
		}
	case "set":
		// A routine's SET search_path = a, b: each argument is one schema
		// name, which the routine's body resolves names with.
		if v := d.Arg.GetVariableSetStmt(); v != nil && v.Name == "search_path" {
			for _, a := range v.Args {
				if sv, ok := a.GetAConst().GetVal().(*pg.A_Const_Sval); ok && sv.Sval != nil &&
					sv.Sval.Sval != "$user" && !isSystemSchema(sv.Sval.Sval) {
					w.schemaName(&sv.Sval.Sval, true)
				}
			}
		}
	case "sfunc", "finalfunc", "combinefunc", "serialfunc", "deserialfunc", "msfunc", "minvfunc",
		"mfinalfunc", "procedure", "function", "restrict", "join", "input", "output", "receive",
		"send", "typmod_in", "typmod_out", "analyze", "subscript", "canonical", "subtype_diff":
		if tn := d.Arg.GetTypeName(); tn != nil && !tn.PctType && len(strs(tn.Names)) >= 2 {
			w.seen[tn] = true
			w.nameList(&tn.Names, "function", shapeObject, true)
		}
	}
}

// option returns the argument of the option called name, if any.
func option(opts []*pg.Node, name string) *pg.Node {
	for _, o := range opts {
		if d := o.GetDefElem(); d != nil && d.Defname == name {
			return d.Arg
		}
	}
	return nil
}

// sequenceOptions registers the column of OWNED BY.
func (w *walker) sequenceOptions(opts []*pg.Node) {
	if l, ok := option(opts, "owned_by").GetNode().(*pg.Node_List); ok && len(strs(l.List.Items)) >= 2 {
		w.nameList(&l.List.Items, "column", shapeColumn, true)
	}
	w.walkNodes(opts)
}

// columnRef registers a column reference in an expression.
func (w *walker) columnRef(c *pg.ColumnRef, outName *string) {
	if w.seen[c] || w.sc == nil {
		return
	}
	w.seen[c] = true
	w.sites = append(w.sites, &site{kind: siteColumnRef, cref: c, scope: w.sc, outName: outName})
}

// selectStmt walks a SELECT with its FROM clause in scope.
func (w *walker) selectStmt(s *pg.SelectStmt) {
	inExists := w.exists
	w.exists = false
	sc := &scope{query: true}
	if s.WithClause != nil {
		sc.ctes = map[string]bool{}
		for _, c := range s.WithClause.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				sc.ctes[cte.Ctename] = true
			}
		}
	}
	w.push(sc)
	if into := s.IntoClause; into != nil && into.Rel != nil && !w.seen[into.Rel] {
		r := w.relation(into.Rel, "table", false, false)
		w.columnNodes(into.ColNames, r)
	}
	for _, f := range s.FromClause {
		w.fromItem(f, sc)
	}
	for _, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		c := rt.Val.GetColumnRef()
		if c == nil {
			continue
		}
		if n := len(c.Fields); n > 0 && c.Fields[n-1].GetAStar() != nil {
			if !inExists {
				w.sites = append(w.sites, &site{kind: siteStar, cref: c, scope: sc})
			}
			continue
		}
		if rt.Name == "" {
			w.columnRef(c, &rt.Name)
		}
	}
	w.walkFields(s.ProtoReflect())
	w.pop()
}

// fromItem registers a FROM clause item in sc.
func (w *walker) fromItem(n *pg.Node, sc *scope) {
	switch f := n.GetNode().(type) {
	case *pg.Node_RangeVar:
		rv := f.RangeVar
		if rv.Schemaname == "" && w.isCTE(rv.Relname) {
			w.seen[rv] = true
			sc.entries = append(sc.entries, scopeEntry{refname: rv.Relname})
			return
		}
		r := w.relation(rv, "relation", true, true)
		e := scopeEntry{refname: rv.Relname, schema: rv.Schemaname, rel: r}
		if rv.Alias != nil {
			e.refname, e.schema = rv.Alias.Aliasname, ""
		}
		sc.entries = append(sc.entries, e)
	case *pg.Node_JoinExpr:
		before := len(sc.entries)
		w.fromItem(f.JoinExpr.Larg, sc)
		w.fromItem(f.JoinExpr.Rarg, sc)
		if using := strs(f.JoinExpr.UsingClause); len(using) > 0 || f.JoinExpr.IsNatural {
			j := &site{kind: siteJoin, using: using, natural: f.JoinExpr.IsNatural}
			for _, e := range sc.entries[before:] {
				if e.rel != nil {
					j.rels = append(j.rels, e.rel)
				}
			}
			w.sites = append(w.sites, j)
		}
	case *pg.Node_RangeSubselect:
		if f.RangeSubselect.Alias != nil {
			sc.entries = append(sc.entries, scopeEntry{refname: f.RangeSubselect.Alias.Aliasname})
		}
	case *pg.Node_RangeFunction:
		if f.RangeFunction.Alias != nil {
			sc.entries = append(sc.entries, scopeEntry{refname: f.RangeFunction.Alias.Aliasname})
		}
	}
}

// dmlScope opens a query scope whose entries are the DML target and its
// FROM/USING items.
func (w *walker) dmlScope(stmt any, rv *pg.RangeVar, from []*pg.Node, with *pg.WithClause) *relRef {
	sc := &scope{query: true}
	if with != nil {
		sc.ctes = map[string]bool{}
		for _, c := range with.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				sc.ctes[cte.Ctename] = true
			}
		}
	}
	w.push(sc)
	var r *relRef
	if rv != nil {
		r = w.relation(rv, "table", stmt != w.top, true)
		e := scopeEntry{refname: rv.Relname, schema: rv.Schemaname, rel: r}
		if rv.Alias != nil {
			e.refname, e.schema = rv.Alias.Aliasname, ""
		}
		sc.entries = append(sc.entries, e)
	}
	for _, f := range from {
		w.fromItem(f, sc)
	}
	return r
}

func (w *walker) insertStmt(s *pg.InsertStmt) {
	r := w.dmlScope(s, s.Relation, nil, s.WithClause)
	for _, c := range s.Cols {
		if rt := c.GetResTarget(); rt != nil {
			w.column(&rt.Name, r)
		}
	}
	w.walkFields(s.ProtoReflect())
	w.pop()
}

func (w *walker) updateStmt(s *pg.UpdateStmt) {
	r := w.dmlScope(s, s.Relation, s.FromClause, s.WithClause)
	for _, c := range s.TargetList {
		if rt := c.GetResTarget(); rt != nil {
			w.column(&rt.Name, r)
		}
	}
	w.walkFields(s.ProtoReflect())
	w.pop()
}

func (w *walker) deleteStmt(s *pg.DeleteStmt) {
	w.dmlScope(s, s.Relation, s.UsingClause, s.WithClause)
	w.walkFields(s.ProtoReflect())
	w.pop()
}

// objectsOf lists the objects a statement names.
func objectsOf(rs *pg.RawStmt) []Object {
	w := newWalker(nil)
	w.walkTop(rs.Stmt)
	return w.objs
}

// isSystemSchema reports schemas that are never mapped.
func isSystemSchema(s string) bool {
	switch s {
	case "pg_catalog", "information_schema", "pg_toast", "pg_temp":
		return true
	}
	return len(s) > 8 && (s[:8] == "pg_temp_" || s[:8] == "pg_toast")
}

// isSequenceFunc reports the built-in functions whose first argument is a
// sequence named by a string (regclass) literal.
func isSequenceFunc(p []string) bool {
	if len(p) == 0 || len(p) > 2 || len(p) == 2 && p[0] != "pg_catalog" {
		return false
	}
	switch p[len(p)-1] {
	case "nextval", "currval", "setval":
		return true
	}
	return false
}

// regclass registers a string literal that names a relation, as regclass
// input reads it.
func (w *walker) regclass(n *pg.Node, typ string) {
	c := n.GetAConst()
	if c == nil {
		return
	}
	sv, ok := c.Val.(*pg.A_Const_Sval)
	if !ok || sv.Sval == nil {
		return
	}
	parts, ok := splitRegclass(sv.Sval.Sval)
	if !ok || len(parts) == 0 || len(parts) > 2 {
		return
	}
	rv := &pg.RangeVar{Relname: parts[len(parts)-1]}
	if len(parts) == 2 {
		rv.Schemaname = parts[0]
	}
	r := w.relRefOf(rv)
	s := &site{kind: siteRegclass, typ: typ, ref: true, str: &sv.Sval.Sval, rel: r}
	r.site = s
	w.sites = append(w.sites, s)
	w.addObject(Object{Type: typ, Schema: rv.Schemaname, Name: rv.Relname, Ref: true})
}

// splitRegclass splits a qualified name the way regclass input does:
// quoted parts keep their case, unquoted parts fold to lower case.
func splitRegclass(s string) ([]string, bool) {
	var parts []string
	i := 0
	for {
		var b strings.Builder
		if i < len(s) && s[i] == '"' {
			q, next, closed := readQuoted(s, i)
			if !closed || q == "" {
				return nil, false
			}
			i = next
			parts = append(parts, q)
		} else {
			for i < len(s) && s[i] != '.' {
				c := s[i]
				if !(c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80) {
					return nil, false
				}
				b.WriteByte(c)
				i++
			}
			if b.Len() == 0 {
				return nil, false
			}
			parts = append(parts, strings.ToLower(b.String()))
		}
		if i == len(s) {
			return parts, true
		}
		if s[i] != '.' {
			return nil, false
		}
		i++
	}
}
