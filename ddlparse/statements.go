package ddlparse

import (
	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file holds the statement-specific part of the name walk (see
// names.go): which names a statement creates, alters or drops, and which
// relation its column names and expressions belong to.

// relationTypes maps the ObjectTypes of relations to Object.Type words.
var relationTypes = map[pg.ObjectType]string{
	pg.ObjectType_OBJECT_TABLE:         "table",
	pg.ObjectType_OBJECT_VIEW:          "view",
	pg.ObjectType_OBJECT_MATVIEW:       "materialized view",
	pg.ObjectType_OBJECT_INDEX:         "index",
	pg.ObjectType_OBJECT_SEQUENCE:      "sequence",
	pg.ObjectType_OBJECT_FOREIGN_TABLE: "foreign table",
}

// memberTypes are objects that live inside a relation.
var memberTypes = map[pg.ObjectType]string{
	pg.ObjectType_OBJECT_TRIGGER:       "trigger",
	pg.ObjectType_OBJECT_RULE:          "rule",
	pg.ObjectType_OBJECT_POLICY:        "policy",
	pg.ObjectType_OBJECT_TABCONSTRAINT: "table constraint",
}

// schemaObjectTypes are schema-qualified objects that are not relations.
var schemaObjectTypes = map[pg.ObjectType]string{
	pg.ObjectType_OBJECT_TYPE:            "type",
	pg.ObjectType_OBJECT_DOMAIN:          "domain",
	pg.ObjectType_OBJECT_FUNCTION:        "function",
	pg.ObjectType_OBJECT_PROCEDURE:       "procedure",
	pg.ObjectType_OBJECT_ROUTINE:         "routine",
	pg.ObjectType_OBJECT_AGGREGATE:       "aggregate",
	pg.ObjectType_OBJECT_OPERATOR:        "operator",
	pg.ObjectType_OBJECT_COLLATION:       "collation",
	pg.ObjectType_OBJECT_CONVERSION:      "conversion",
	pg.ObjectType_OBJECT_STATISTIC_EXT:   "statistics",
	pg.ObjectType_OBJECT_TSCONFIGURATION: "text search configuration",
	pg.ObjectType_OBJECT_TSDICTIONARY:    "text search dictionary",
	pg.ObjectType_OBJECT_TSPARSER:        "text search parser",
	pg.ObjectType_OBJECT_TSTEMPLATE:      "text search template",
	pg.ObjectType_OBJECT_OPCLASS:         "operator class",
	pg.ObjectType_OBJECT_OPFAMILY:        "operator family",
}

// plainObjectTypes are objects whose names have no schema.
var plainObjectTypes = map[pg.ObjectType]string{
	pg.ObjectType_OBJECT_EXTENSION:      "extension",
	pg.ObjectType_OBJECT_LANGUAGE:       "language",
	pg.ObjectType_OBJECT_FDW:            "foreign-data wrapper",
	pg.ObjectType_OBJECT_FOREIGN_SERVER: "server",
	pg.ObjectType_OBJECT_EVENT_TRIGGER:  "event trigger",
	pg.ObjectType_OBJECT_PUBLICATION:    "publication",
	pg.ObjectType_OBJECT_SUBSCRIPTION:   "subscription",
	pg.ObjectType_OBJECT_ACCESS_METHOD:  "access method",
	pg.ObjectType_OBJECT_ROLE:           "role",
	pg.ObjectType_OBJECT_DATABASE:       "database",
	pg.ObjectType_OBJECT_TABLESPACE:     "tablespace",
}

// object registers an object named by (objtype, n), as DROP, COMMENT,
// SECURITY LABEL, ALTER ... OWNER/SET SCHEMA/RENAME and ALTER EXTENSION
// ADD/DROP carry them.
func (w *walker) object(t pg.ObjectType, n *pg.Node, ref bool) {
	if n == nil {
		return
	}
	switch v := n.GetNode().(type) {
	case *pg.Node_List:
		items := &v.List.Items
		switch {
		case relationTypes[t] != "":
			w.nameList(items, relationTypes[t], shapeRelation, ref)
		case t == pg.ObjectType_OBJECT_COLUMN:
			w.nameList(items, "column", shapeColumn, ref)
		case memberTypes[t] != "":
			w.nameList(items, memberTypes[t], shapeMember, ref)
		case t == pg.ObjectType_OBJECT_OPCLASS || t == pg.ObjectType_OBJECT_OPFAMILY:
			w.nameList(items, schemaObjectTypes[t], shapeOpclass, ref)
		case schemaObjectTypes[t] != "":
			w.nameList(items, schemaObjectTypes[t], shapeObject, ref)
		default:
			w.walkNode(n) // casts, transforms, domain constraints: TypeNames inside
		}
	case *pg.Node_String_:
		switch {
		case t == pg.ObjectType_OBJECT_SCHEMA:
			w.schemaName(&v.String_.Sval, ref)
		case plainObjectTypes[t] != "":
			w.addObject(Object{Type: plainObjectTypes[t], Name: v.String_.Sval, Ref: ref})
		}
	case *pg.Node_TypeName:
		typ := "type"
		if t == pg.ObjectType_OBJECT_DOMAIN {
			typ = "domain"
		}
		tn := v.TypeName
		w.seen[tn] = true
		w.nameList(&tn.Names, typ, shapeObject, ref)
		for _, m := range tn.Typmods {
			w.walkNode(m)
		}
	case *pg.Node_ObjectWithArgs:
		typ := schemaObjectTypes[t]
		if typ == "" {
			typ = "function"
		}
		w.seen[v.ObjectWithArgs] = true
		w.nameList(&v.ObjectWithArgs.Objname, typ, shapeObject, ref)
		w.walkNodes(v.ObjectWithArgs.Objargs)
		// With argument names or modes (pg_dump writes f(a integer)) the
		// arguments are also in Objfuncargs, which is what the deparser
		// prints.
		w.walkNodes(v.ObjectWithArgs.Objfuncargs)
	default:
		w.walkNode(n)
	}
}

// relationOrObject handles statements that carry either a Relation or an
// Object depending on the object type.
func (w *walker) relationOrObject(t pg.ObjectType, rv *pg.RangeVar, obj *pg.Node) *relRef {
	if rv != nil {
		typ := relationTypes[t]
		if typ == "" {
			typ = "relation"
		}
		return w.relation(rv, typ, false, false)
	}
	w.object(t, obj, false)
	return nil
}

// stmt walks a top-level (or CREATE SCHEMA element, or rule action)
// statement.
func (w *walker) stmt(n *pg.Node) {
	switch s := n.GetNode().(type) {
	case *pg.Node_CreateStmt:
		w.createStmt(s.CreateStmt, "table")
	case *pg.Node_CreateForeignTableStmt:
		w.createStmt(s.CreateForeignTableStmt.BaseStmt, "foreign table")
	case *pg.Node_CreateTableAsStmt:
		c := s.CreateTableAsStmt
		if c.Into != nil {
			typ := "table"
			if c.Objtype == pg.ObjectType_OBJECT_MATVIEW {
				typ = "materialized view"
			}
			r := w.relation(c.Into.Rel, typ, false, false)
			w.columnNodes(c.Into.ColNames, r)
		}
		w.walkNode(c.Query)
	case *pg.Node_ViewStmt:
		r := w.relation(s.ViewStmt.View, "view", false, false)
		w.columnNodes(s.ViewStmt.Aliases, r)
		w.walkNode(s.ViewStmt.Query)
	case *pg.Node_IndexStmt:
		x := s.IndexStmt
		r := w.relation(x.Relation, "table", false, false)
		if x.Idxname != "" && r != nil {
			w.addObject(Object{Type: "index", Schema: schemaWritten(r), Name: x.Idxname})
		}
		w.memberName(&x.Idxname, r)
		w.ddlScope(r)
		w.walkFields(x.ProtoReflect())
		w.pop()
	case *pg.Node_AlterTableStmt:
		w.alterTableStmt(s.AlterTableStmt)
	case *pg.Node_RenameStmt:
		w.renameStmt(s.RenameStmt)
	case *pg.Node_AlterObjectSchemaStmt:
		x := s.AlterObjectSchemaStmt
		w.relationOrObject(x.ObjectType, x.Relation, x.Object)
		w.schemaName(&x.Newschema, false)
	case *pg.Node_AlterOwnerStmt:
		x := s.AlterOwnerStmt
		w.relationOrObject(x.ObjectType, x.Relation, x.Object)
	case *pg.Node_AlterObjectDependsStmt:
		x := s.AlterObjectDependsStmt
		w.relationOrObject(x.ObjectType, x.Relation, x.Object)
	case *pg.Node_DropStmt:
		for _, o := range s.DropStmt.Objects {
			w.object(s.DropStmt.RemoveType, o, false)
		}
	case *pg.Node_CommentStmt:
		w.object(s.CommentStmt.Objtype, s.CommentStmt.Object, false)
	case *pg.Node_SecLabelStmt:
		w.object(s.SecLabelStmt.Objtype, s.SecLabelStmt.Object, false)
	case *pg.Node_AlterExtensionContentsStmt:
		w.addObject(Object{Type: "extension", Name: s.AlterExtensionContentsStmt.Extname})
		w.object(s.AlterExtensionContentsStmt.Objtype, s.AlterExtensionContentsStmt.Object, true)
	case *pg.Node_GrantStmt:
		w.grantStmt(s.GrantStmt)
	case *pg.Node_AlterDefaultPrivilegesStmt:
		if l, ok := option(s.AlterDefaultPrivilegesStmt.Options, "schemas").GetNode().(*pg.Node_List); ok {
			for _, n := range l.List.Items {
				if str, ok := n.GetNode().(*pg.Node_String_); ok {
					w.schemaName(&str.String_.Sval, false)
				}
			}
		}
	case *pg.Node_CreateSchemaStmt:
		x := s.CreateSchemaStmt
		w.schemaName(&x.Schemaname, false)
		saved := w.eltSchm
		w.eltSchm = x.Schemaname
		for _, e := range x.SchemaElts {
			w.stmt(e)
		}
		w.eltSchm = saved
	case *pg.Node_CreateSeqStmt:
		w.relation(s.CreateSeqStmt.Sequence, "sequence", false, false)
		w.sequenceOptions(s.CreateSeqStmt.Options)
	case *pg.Node_AlterSeqStmt:
		w.relation(s.AlterSeqStmt.Sequence, "sequence", false, false)
		w.sequenceOptions(s.AlterSeqStmt.Options)
	case *pg.Node_CreateFunctionStmt:
		x := s.CreateFunctionStmt
		typ := "function"
		if x.IsProcedure {
			typ = "procedure"
		}
		w.nameList(&x.Funcname, typ, shapeObject, false)
		w.walkNodes(x.Parameters)
		w.typeName(x.ReturnType)
		w.walkNodes(x.Options)
		w.routineBody(x, typ)
		w.walkNode(x.SqlBody)
	case *pg.Node_AlterFunctionStmt:
		x := s.AlterFunctionStmt
		w.object(x.Objtype, &pg.Node{Node: &pg.Node_ObjectWithArgs{ObjectWithArgs: x.Func}}, false)
		w.walkNodes(x.Actions)
	case *pg.Node_CreateTrigStmt:
		x := s.CreateTrigStmt
		r := w.relation(x.Relation, "table", false, false)
		if r != nil {
			w.addObject(Object{Type: "trigger", Schema: schemaWritten(r), Name: r.src.Name, Member: x.Trigname})
		}
		w.nameList(&x.Funcname, "function", shapeObject, true)
		for _, a := range x.Args {
			if s, ok := a.GetNode().(*pg.Node_String_); ok {
				w.opaque(&s.String_.Sval, "the argument "+quoteLiteral(s.String_.Sval)+" of trigger "+quoteIdent(x.Trigname))
			}
		}
		w.columnNodes(x.Columns, r)
		if x.Constrrel != nil {
			w.relation(x.Constrrel, "table", true, false)
		}
		w.ddlScope(r, "new", "old")
		w.walkNode(x.WhenClause)
		w.pop()
	case *pg.Node_RuleStmt:
		x := s.RuleStmt
		r := w.relation(x.Relation, "table", false, false)
		if r != nil {
			w.addObject(Object{Type: "rule", Schema: schemaWritten(r), Name: r.src.Name, Member: x.Rulename})
		}
		w.ddlScope(r, "new", "old")
		w.sc.query = true
		w.walkNode(x.WhereClause)
		for _, a := range x.Actions {
			w.stmt(a)
		}
		w.pop()
	case *pg.Node_CreatePolicyStmt:
		x := s.CreatePolicyStmt
		w.policy(x.Table, x.PolicyName, x.Qual, x.WithCheck)
	case *pg.Node_AlterPolicyStmt:
		x := s.AlterPolicyStmt
		w.policy(x.Table, x.PolicyName, x.Qual, x.WithCheck)
	case *pg.Node_CreateStatsStmt:
		x := s.CreateStatsStmt
		w.nameList(&x.Defnames, "statistics", shapeObject, false)
		var r *relRef
		for _, rel := range x.Relations {
			if rv := rel.GetRangeVar(); rv != nil {
				r = w.relation(rv, "table", false, false)
			}
		}
		w.ddlScope(r)
		w.walkNodes(x.Exprs)
		w.pop()
	case *pg.Node_AlterStatsStmt:
		w.nameList(&s.AlterStatsStmt.Defnames, "statistics", shapeObject, false)
	case *pg.Node_DefineStmt:
		x := s.DefineStmt
		typ := schemaObjectTypes[x.Kind]
		if typ == "" {
			typ = "object"
		}
		w.nameList(&x.Defnames, typ, shapeObject, false)
		w.walkNodes(x.Args)
		w.walkNodes(x.Definition)
	case *pg.Node_CompositeTypeStmt:
		x := s.CompositeTypeStmt
		r := w.relation(x.Typevar, "type", false, false)
		w.ddlScope(r)
		w.walkNodes(x.Coldeflist)
		w.pop()
	case *pg.Node_CreateEnumStmt:
		w.nameList(&s.CreateEnumStmt.TypeName, "type", shapeObject, false)
	case *pg.Node_CreateRangeStmt:
		w.nameList(&s.CreateRangeStmt.TypeName, "type", shapeObject, false)
		w.walkNodes(s.CreateRangeStmt.Params)
	case *pg.Node_AlterEnumStmt:
		w.nameList(&s.AlterEnumStmt.TypeName, "type", shapeObject, false)
	case *pg.Node_AlterTypeStmt:
		w.nameList(&s.AlterTypeStmt.TypeName, "type", shapeObject, false)
		w.walkNodes(s.AlterTypeStmt.Options)
	case *pg.Node_CreateDomainStmt:
		x := s.CreateDomainStmt
		w.nameList(&x.Domainname, "domain", shapeObject, false)
		w.typeName(x.TypeName)
		if x.CollClause != nil {
			w.walk(x.CollClause.ProtoReflect())
		}
		w.walkNodes(x.Constraints)
	case *pg.Node_AlterDomainStmt:
		x := s.AlterDomainStmt
		w.nameList(&x.TypeName, "domain", shapeObject, false)
		w.walkNode(x.Def)
	case *pg.Node_AlterOperatorStmt:
		x := s.AlterOperatorStmt
		if x.Opername != nil {
			w.seen[x.Opername] = true
			w.nameList(&x.Opername.Objname, "operator", shapeObject, false)
			w.walkNodes(x.Opername.Objargs)
		}
		w.walkNodes(x.Options)
	case *pg.Node_CreateOpClassStmt:
		x := s.CreateOpClassStmt
		w.nameList(&x.Opclassname, "operator class", shapeObject, false)
		w.nameList(&x.Opfamilyname, "operator family", shapeObject, true)
		w.typeName(x.Datatype)
		w.walkNodes(x.Items)
	case *pg.Node_CreateOpFamilyStmt:
		w.nameList(&s.CreateOpFamilyStmt.Opfamilyname, "operator family", shapeObject, false)
	case *pg.Node_AlterOpFamilyStmt:
		w.nameList(&s.AlterOpFamilyStmt.Opfamilyname, "operator family", shapeObject, false)
		w.walkNodes(s.AlterOpFamilyStmt.Items)
	case *pg.Node_CreateConversionStmt:
		w.nameList(&s.CreateConversionStmt.ConversionName, "conversion", shapeObject, false)
		w.nameList(&s.CreateConversionStmt.FuncName, "function", shapeObject, true)
	case *pg.Node_AlterCollationStmt:
		w.nameList(&s.AlterCollationStmt.Collname, "collation", shapeObject, false)
	case *pg.Node_AlterTsdictionaryStmt:
		w.nameList(&s.AlterTsdictionaryStmt.Dictname, "text search dictionary", shapeObject, false)
	case *pg.Node_AlterTsconfigurationStmt:
		w.nameList(&s.AlterTsconfigurationStmt.Cfgname, "text search configuration", shapeObject, false)
		for _, d := range s.AlterTsconfigurationStmt.Dicts {
			if l := d.GetList(); l != nil {
				w.qualifiedName(&l.Items, "text search dictionary")
			}
		}
	case *pg.Node_CreateExtensionStmt:
		w.addObject(Object{Type: "extension", Name: s.CreateExtensionStmt.Extname})
		if str, ok := option(s.CreateExtensionStmt.Options, "schema").GetNode().(*pg.Node_String_); ok {
			w.schemaName(&str.String_.Sval, true)
		}
	case *pg.Node_AlterExtensionStmt:
		w.addObject(Object{Type: "extension", Name: s.AlterExtensionStmt.Extname})
	case *pg.Node_RefreshMatViewStmt:
		w.relation(s.RefreshMatViewStmt.Relation, "materialized view", false, false)
	case *pg.Node_TruncateStmt:
		for _, r := range s.TruncateStmt.Relations {
			if rv := r.GetRangeVar(); rv != nil {
				w.relation(rv, "table", false, false)
			}
		}
	case *pg.Node_ImportForeignSchemaStmt:
		w.schemaName(&s.ImportForeignSchemaStmt.LocalSchema, false)
	case *pg.Node_CreatePublicationStmt:
		w.addObject(Object{Type: "publication", Name: s.CreatePublicationStmt.Pubname})
		w.publicationObjects(s.CreatePublicationStmt.Pubobjects)
	case *pg.Node_AlterPublicationStmt:
		w.addObject(Object{Type: "publication", Name: s.AlterPublicationStmt.Pubname})
		w.publicationObjects(s.AlterPublicationStmt.Pubobjects)
	case *pg.Node_ReindexStmt:
		if s.ReindexStmt.Kind == pg.ReindexObjectType_REINDEX_OBJECT_INDEX {
			w.relation(s.ReindexStmt.Relation, "index", false, false)
		} else {
			w.relation(s.ReindexStmt.Relation, "table", false, false)
		}
	case *pg.Node_VacuumStmt, *pg.Node_ClusterStmt, *pg.Node_LockStmt:
		w.walkAsTargets(n)
	default:
		w.walkNode(n)
	}
}

// walkTop walks a top-level statement.
func (w *walker) walkTop(n *pg.Node) {
	if m := n.ProtoReflect(); m.IsValid() {
		// The oneof member (InsertStmt, CreateStmt, ...) identifies the statement.
		m.Range(func(_ protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			w.top = v.Message().Interface()
			return false
		})
	}
	w.stmt(n)
}

// walkAsTargets walks maintenance commands, whose relations are acted upon.
func (w *walker) walkAsTargets(n *pg.Node) {
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		if !m.IsValid() {
			return
		}
		if rv, ok := m.Interface().(*pg.RangeVar); ok {
			w.relation(rv, "table", false, false)
			return
		}
		rangeFields(m, func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
				return true
			}
			if fd.IsList() {
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
				return true
			}
			visit(v.Message())
			return true
		})
	}
	visit(n.ProtoReflect())
}

func (w *walker) createStmt(c *pg.CreateStmt, typ string) {
	if c == nil {
		return
	}
	r := w.relation(c.Relation, typ, false, false)
	for _, inh := range c.InhRelations {
		if rv := inh.GetRangeVar(); rv != nil {
			p := w.relation(rv, "table", true, false)
			if r != nil && len(c.InhRelations) == 1 {
				r.parent = p
			}
		}
	}
	for _, e := range c.TableElts {
		if like := e.GetTableLikeClause(); like != nil && like.Relation != nil {
			w.relation(like.Relation, "table", true, false)
		}
	}
	w.ddlScope(r)
	w.walkFields(c.ProtoReflect())
	w.pop()
}

// columnCommands are the ALTER TABLE subcommands whose Name is a column.
// (ADD COLUMN carries its name in Def, a ColumnDef.)
var columnCommands = map[pg.AlterTableType]bool{
	pg.AlterTableType_AT_ColumnDefault:             true,
	pg.AlterTableType_AT_CookedColumnDefault:       true,
	pg.AlterTableType_AT_DropNotNull:               true,
	pg.AlterTableType_AT_SetNotNull:                true,
	pg.AlterTableType_AT_DropExpression:            true,
	pg.AlterTableType_AT_CheckNotNull:              true,
	pg.AlterTableType_AT_SetStatistics:             true,
	pg.AlterTableType_AT_SetOptions:                true,
	pg.AlterTableType_AT_ResetOptions:              true,
	pg.AlterTableType_AT_SetStorage:                true,
	pg.AlterTableType_AT_SetCompression:            true,
	pg.AlterTableType_AT_DropColumn:                true,
	pg.AlterTableType_AT_AlterColumnType:           true,
	pg.AlterTableType_AT_AlterColumnGenericOptions: true,
	pg.AlterTableType_AT_AddIdentity:               true,
	pg.AlterTableType_AT_SetIdentity:               true,
	pg.AlterTableType_AT_DropIdentity:              true,
}

func (w *walker) alterTableStmt(a *pg.AlterTableStmt) {
	typ := relationTypes[a.Objtype]
	if a.Objtype == pg.ObjectType_OBJECT_TYPE {
		typ = "type" // ALTER TYPE ... ADD/DROP/ALTER ATTRIBUTE
	}
	if typ == "" {
		typ = "relation"
	}
	r := w.relation(a.Relation, typ, false, false)
	w.ddlScope(r)
	for _, c := range a.Cmds {
		cmd := c.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		if columnCommands[cmd.Subtype] {
			w.column(&cmd.Name, r)
		}
		switch cmd.Subtype {
		case pg.AlterTableType_AT_AttachPartition, pg.AlterTableType_AT_DetachPartition,
			pg.AlterTableType_AT_DetachPartitionFinalize:
			if pc := cmd.Def.GetPartitionCmd(); pc != nil {
				w.relation(pc.Name, "table", false, false)
			}
		case pg.AlterTableType_AT_AddInherit, pg.AlterTableType_AT_DropInherit:
			if rv := cmd.Def.GetRangeVar(); rv != nil {
				w.relation(rv, "table", true, false)
			}
		case pg.AlterTableType_AT_DropConstraint, pg.AlterTableType_AT_ValidateConstraint:
			if r != nil {
				w.addObject(Object{Type: "table constraint", Schema: schemaWritten(r), Name: r.src.Name, Member: cmd.Name})
			}
			w.memberName(&cmd.Name, r)
		}
		w.walkNode(cmd.Def)
	}
	w.pop()
}

func (w *walker) renameStmt(x *pg.RenameStmt) {
	// Rows PostgreSQL reports after a rename carry the new name: list the
	// renamed object under its new name too.
	before := len(w.objs)
	defer func() {
		if len(w.objs) == before || x.Newname == "" {
			return
		}
		o := w.objs[before]
		switch {
		case x.RenameType == pg.ObjectType_OBJECT_SCHEMA, x.RenameType == pg.ObjectType_OBJECT_COLUMN,
			x.RenameType == pg.ObjectType_OBJECT_ATTRIBUTE:
			return // listed already, or not an object of its own
		case o.Member != "":
			o.Member = x.Newname
		default:
			o.Name = x.Newname
		}
		w.addObject(o)
	}()
	switch {
	case x.RenameType == pg.ObjectType_OBJECT_SCHEMA:
		w.schemaName(&x.Subname, false)
		w.schemaName(&x.Newname, false)
	case x.RenameType == pg.ObjectType_OBJECT_COLUMN || x.RenameType == pg.ObjectType_OBJECT_ATTRIBUTE:
		typ := relationTypes[x.RelationType]
		if x.RenameType == pg.ObjectType_OBJECT_ATTRIBUTE {
			typ = "type"
		}
		r := w.relation(x.Relation, typ, false, false)
		w.column(&x.Subname, r)
		w.column(&x.Newname, r)
	case relationTypes[x.RenameType] != "" && x.Relation != nil:
		r := w.relation(x.Relation, relationTypes[x.RenameType], false, false)
		if r != nil {
			w.sites = append(w.sites, &site{kind: siteNewRelname, str: &x.Newname, rel: r})
		}
	case x.Relation != nil: // constraint, trigger, rule, policy: named in the relation
		r := w.relation(x.Relation, "table", false, false)
		if r != nil && memberTypes[x.RenameType] != "" {
			w.addObject(Object{Type: memberTypes[x.RenameType], Schema: schemaWritten(r), Name: r.src.Name, Member: x.Subname})
		}
		if x.RenameType == pg.ObjectType_OBJECT_TABCONSTRAINT {
			w.memberName(&x.Subname, r)
			w.memberName(&x.Newname, r)
		}
	default:
		w.object(x.RenameType, x.Object, false)
	}
}

func (w *walker) grantStmt(g *pg.GrantStmt) {
	var first *relRef
	switch {
	case g.Targtype == pg.GrantTargetType_ACL_TARGET_ALL_IN_SCHEMA:
		for _, o := range g.Objects {
			if s, ok := o.GetNode().(*pg.Node_String_); ok {
				w.schemaName(&s.String_.Sval, false)
			}
		}
	default:
		for _, o := range g.Objects {
			if rv := o.GetRangeVar(); rv != nil {
				typ := relationTypes[g.Objtype]
				if typ == "" {
					typ = "table"
				}
				r := w.relation(rv, typ, false, false)
				if first == nil {
					first = r
				}
				continue
			}
			w.object(g.Objtype, o, false)
		}
	}
	// Column privileges name columns of the (first) table.
	for _, p := range g.Privileges {
		if ap := p.GetAccessPriv(); ap != nil {
			w.columnNodes(ap.Cols, first)
		}
	}
}

func (w *walker) policy(rv *pg.RangeVar, name string, qual, check *pg.Node) {
	r := w.relation(rv, "table", false, false)
	if r != nil {
		w.addObject(Object{Type: "policy", Schema: schemaWritten(r), Name: r.src.Name, Member: name})
	}
	w.ddlScope(r)
	w.sc.query = true
	w.walkNode(qual)
	w.walkNode(check)
	w.pop()
}

func (w *walker) publicationObjects(objs []*pg.Node) {
	for _, o := range objs {
		spec := o.GetPublicationObjSpec()
		if spec == nil {
			continue
		}
		if spec.Pubtable != nil {
			r := w.relation(spec.Pubtable.Relation, "table", true, false)
			w.columnNodes(spec.Pubtable.Columns, r)
			w.ddlScope(r)
			w.sc.query = true
			w.walkNode(spec.Pubtable.WhereClause)
			w.pop()
		}
		if spec.Pubobjtype == pg.PublicationObjSpecType_PUBLICATIONOBJ_TABLES_IN_SCHEMA {
			w.schemaName(&spec.Name, true)
		}
	}
}
