package ddlparse

import (
	pg "github.com/pganalyze/pg_query_go/v5"
)

// objectTypeName is the object-type word PostgreSQL puts in command tags
// ("ALTER <word>", "DROP <word>") for each ObjectType. Types that never appear
// in such a tag are absent.
var objectTypeName = map[pg.ObjectType]string{
	pg.ObjectType_OBJECT_ACCESS_METHOD:   "ACCESS METHOD",
	pg.ObjectType_OBJECT_AGGREGATE:       "AGGREGATE",
	pg.ObjectType_OBJECT_ATTRIBUTE:       "TYPE",
	pg.ObjectType_OBJECT_CAST:            "CAST",
	pg.ObjectType_OBJECT_COLLATION:       "COLLATION",
	pg.ObjectType_OBJECT_COLUMN:          "TABLE",
	pg.ObjectType_OBJECT_CONVERSION:      "CONVERSION",
	pg.ObjectType_OBJECT_DATABASE:        "DATABASE",
	pg.ObjectType_OBJECT_DOMAIN:          "DOMAIN",
	pg.ObjectType_OBJECT_DOMCONSTRAINT:   "DOMAIN",
	pg.ObjectType_OBJECT_EVENT_TRIGGER:   "EVENT TRIGGER",
	pg.ObjectType_OBJECT_EXTENSION:       "EXTENSION",
	pg.ObjectType_OBJECT_FDW:             "FOREIGN DATA WRAPPER",
	pg.ObjectType_OBJECT_FOREIGN_SERVER:  "SERVER",
	pg.ObjectType_OBJECT_FOREIGN_TABLE:   "FOREIGN TABLE",
	pg.ObjectType_OBJECT_FUNCTION:        "FUNCTION",
	pg.ObjectType_OBJECT_INDEX:           "INDEX",
	pg.ObjectType_OBJECT_LANGUAGE:        "LANGUAGE",
	pg.ObjectType_OBJECT_LARGEOBJECT:     "LARGE OBJECT",
	pg.ObjectType_OBJECT_MATVIEW:         "MATERIALIZED VIEW",
	pg.ObjectType_OBJECT_OPCLASS:         "OPERATOR CLASS",
	pg.ObjectType_OBJECT_OPERATOR:        "OPERATOR",
	pg.ObjectType_OBJECT_OPFAMILY:        "OPERATOR FAMILY",
	pg.ObjectType_OBJECT_POLICY:          "POLICY",
	pg.ObjectType_OBJECT_PROCEDURE:       "PROCEDURE",
	pg.ObjectType_OBJECT_PUBLICATION:     "PUBLICATION",
	pg.ObjectType_OBJECT_ROLE:            "ROLE",
	pg.ObjectType_OBJECT_ROUTINE:         "ROUTINE",
	pg.ObjectType_OBJECT_RULE:            "RULE",
	pg.ObjectType_OBJECT_SCHEMA:          "SCHEMA",
	pg.ObjectType_OBJECT_SEQUENCE:        "SEQUENCE",
	pg.ObjectType_OBJECT_STATISTIC_EXT:   "STATISTICS",
	pg.ObjectType_OBJECT_SUBSCRIPTION:    "SUBSCRIPTION",
	pg.ObjectType_OBJECT_TABCONSTRAINT:   "TABLE",
	pg.ObjectType_OBJECT_TABLE:           "TABLE",
	pg.ObjectType_OBJECT_TABLESPACE:      "TABLESPACE",
	pg.ObjectType_OBJECT_TRANSFORM:       "TRANSFORM",
	pg.ObjectType_OBJECT_TRIGGER:         "TRIGGER",
	pg.ObjectType_OBJECT_TSCONFIGURATION: "TEXT SEARCH CONFIGURATION",
	pg.ObjectType_OBJECT_TSDICTIONARY:    "TEXT SEARCH DICTIONARY",
	pg.ObjectType_OBJECT_TSPARSER:        "TEXT SEARCH PARSER",
	pg.ObjectType_OBJECT_TSTEMPLATE:      "TEXT SEARCH TEMPLATE",
	pg.ObjectType_OBJECT_TYPE:            "TYPE",
	pg.ObjectType_OBJECT_USER_MAPPING:    "USER MAPPING",
	pg.ObjectType_OBJECT_VIEW:            "VIEW",
}

// alterTag is the tag of an ALTER-style command on an object of type t.
func alterTag(t pg.ObjectType) string {
	if w, ok := objectTypeName[t]; ok {
		return "ALTER " + w
	}
	return "???"
}

// dropTag is the tag of DROP for an object of type t. Attributes, columns and
// constraints are never dropped by DropStmt, so the generic name table is fine.
func dropTag(t pg.ObjectType) string {
	if w, ok := objectTypeName[t]; ok {
		return "DROP " + w
	}
	return "???"
}

// defineTag is the tag of a DefineStmt (CREATE AGGREGATE, OPERATOR, TYPE ...).
func defineTag(t pg.ObjectType) string {
	if w, ok := objectTypeName[t]; ok {
		return "CREATE " + w
	}
	return "???"
}

// classify returns the command tag PostgreSQL reports for a raw statement and
// the statement's Kind. The tag is the one event triggers see as TG_TAG and as
// pg_event_trigger_ddl_commands().command_tag: the tag of the analysed
// statement, so SELECT ... INTO reports "SELECT INTO" (verified on 15.18) even
// though the raw SelectStmt would be tagged SELECT.
func classify(n *pg.Node) (string, Kind) {
	switch s := n.GetNode().(type) {
	// Queries and DML.
	case *pg.Node_SelectStmt:
		if selectInto(s.SelectStmt) != nil {
			return "SELECT INTO", KindDDL
		}
		return "SELECT", KindQuery
	case *pg.Node_InsertStmt:
		return "INSERT", KindDML
	case *pg.Node_UpdateStmt:
		return "UPDATE", KindDML
	case *pg.Node_DeleteStmt:
		return "DELETE", KindDML
	case *pg.Node_MergeStmt:
		return "MERGE", KindDML
	case *pg.Node_TruncateStmt:
		return "TRUNCATE TABLE", KindDML
	case *pg.Node_CopyStmt:
		if s.CopyStmt.IsFrom {
			return "COPY", KindDML
		}
		return "COPY", KindQuery
	case *pg.Node_ExplainStmt:
		return "EXPLAIN", KindQuery
	case *pg.Node_DeclareCursorStmt:
		return "DECLARE CURSOR", KindQuery
	case *pg.Node_FetchStmt:
		if s.FetchStmt.Ismove {
			return "MOVE", KindQuery
		}
		return "FETCH", KindQuery
	case *pg.Node_ClosePortalStmt:
		if s.ClosePortalStmt.Portalname == "" {
			return "CLOSE CURSOR ALL", KindQuery
		}
		return "CLOSE CURSOR", KindQuery

	// Transaction control.
	case *pg.Node_TransactionStmt:
		switch s.TransactionStmt.Kind {
		case pg.TransactionStmtKind_TRANS_STMT_BEGIN:
			return "BEGIN", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_START:
			return "START TRANSACTION", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
			return "COMMIT", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
			return "ROLLBACK", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
			return "SAVEPOINT", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
			return "RELEASE", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_PREPARE:
			return "PREPARE TRANSACTION", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
			return "COMMIT PREPARED", KindTransaction
		case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
			return "ROLLBACK PREPARED", KindTransaction
		}
		return "???", KindTransaction

	// Session, maintenance and other utility commands.
	case *pg.Node_VariableSetStmt:
		switch s.VariableSetStmt.Kind {
		case pg.VariableSetKind_VAR_RESET, pg.VariableSetKind_VAR_RESET_ALL:
			return "RESET", KindUtility
		}
		return "SET", KindUtility
	case *pg.Node_VariableShowStmt:
		return "SHOW", KindUtility
	case *pg.Node_DiscardStmt:
		switch s.DiscardStmt.Target {
		case pg.DiscardMode_DISCARD_ALL:
			return "DISCARD ALL", KindUtility
		case pg.DiscardMode_DISCARD_PLANS:
			return "DISCARD PLANS", KindUtility
		case pg.DiscardMode_DISCARD_SEQUENCES:
			return "DISCARD SEQUENCES", KindUtility
		case pg.DiscardMode_DISCARD_TEMP:
			return "DISCARD TEMP", KindUtility
		}
		return "???", KindUtility
	case *pg.Node_DoStmt:
		return "DO", KindUtility
	case *pg.Node_CallStmt:
		return "CALL", KindUtility
	case *pg.Node_PrepareStmt:
		return "PREPARE", KindUtility
	case *pg.Node_ExecuteStmt:
		return "EXECUTE", KindUtility
	case *pg.Node_DeallocateStmt:
		if s.DeallocateStmt.Name == "" {
			return "DEALLOCATE ALL", KindUtility
		}
		return "DEALLOCATE", KindUtility
	case *pg.Node_NotifyStmt:
		return "NOTIFY", KindUtility
	case *pg.Node_ListenStmt:
		return "LISTEN", KindUtility
	case *pg.Node_UnlistenStmt:
		return "UNLISTEN", KindUtility
	case *pg.Node_LoadStmt:
		return "LOAD", KindUtility
	case *pg.Node_LockStmt:
		return "LOCK TABLE", KindUtility
	case *pg.Node_ConstraintsSetStmt:
		return "SET CONSTRAINTS", KindUtility
	case *pg.Node_CheckPointStmt:
		return "CHECKPOINT", KindUtility
	case *pg.Node_VacuumStmt:
		if s.VacuumStmt.IsVacuumcmd {
			return "VACUUM", KindUtility
		}
		return "ANALYZE", KindUtility
	case *pg.Node_ClusterStmt:
		return "CLUSTER", KindUtility
	case *pg.Node_ReindexStmt:
		return "REINDEX", KindUtility
	case *pg.Node_AlterSystemStmt:
		return "ALTER SYSTEM", KindUtility

	// DDL.
	case *pg.Node_CreateSchemaStmt:
		return "CREATE SCHEMA", KindDDL
	case *pg.Node_CreateStmt:
		return "CREATE TABLE", KindDDL
	case *pg.Node_CreateForeignTableStmt:
		return "CREATE FOREIGN TABLE", KindDDL
	case *pg.Node_CreateTableAsStmt:
		switch s.CreateTableAsStmt.Objtype {
		case pg.ObjectType_OBJECT_MATVIEW:
			return "CREATE MATERIALIZED VIEW", KindDDL
		default:
			if s.CreateTableAsStmt.IsSelectInto {
				return "SELECT INTO", KindDDL
			}
			return "CREATE TABLE AS", KindDDL
		}
	case *pg.Node_RefreshMatViewStmt:
		return "REFRESH MATERIALIZED VIEW", KindDDL
	case *pg.Node_ViewStmt:
		return "CREATE VIEW", KindDDL
	case *pg.Node_IndexStmt:
		return "CREATE INDEX", KindDDL
	case *pg.Node_CreateSeqStmt:
		return "CREATE SEQUENCE", KindDDL
	case *pg.Node_AlterSeqStmt:
		return "ALTER SEQUENCE", KindDDL
	case *pg.Node_CreateFunctionStmt:
		if s.CreateFunctionStmt.IsProcedure {
			return "CREATE PROCEDURE", KindDDL
		}
		return "CREATE FUNCTION", KindDDL
	case *pg.Node_AlterFunctionStmt:
		switch s.AlterFunctionStmt.Objtype {
		case pg.ObjectType_OBJECT_PROCEDURE:
			return "ALTER PROCEDURE", KindDDL
		case pg.ObjectType_OBJECT_ROUTINE:
			return "ALTER ROUTINE", KindDDL
		}
		return "ALTER FUNCTION", KindDDL
	case *pg.Node_CreateTrigStmt:
		return "CREATE TRIGGER", KindDDL
	case *pg.Node_RuleStmt:
		return "CREATE RULE", KindDDL
	case *pg.Node_CreatePolicyStmt:
		return "CREATE POLICY", KindDDL
	case *pg.Node_AlterPolicyStmt:
		return "ALTER POLICY", KindDDL
	case *pg.Node_CreateDomainStmt:
		return "CREATE DOMAIN", KindDDL
	case *pg.Node_AlterDomainStmt:
		return "ALTER DOMAIN", KindDDL
	case *pg.Node_CompositeTypeStmt, *pg.Node_CreateEnumStmt, *pg.Node_CreateRangeStmt:
		return "CREATE TYPE", KindDDL
	case *pg.Node_AlterEnumStmt, *pg.Node_AlterTypeStmt:
		return "ALTER TYPE", KindDDL
	case *pg.Node_DefineStmt:
		return defineTag(s.DefineStmt.Kind), KindDDL
	case *pg.Node_CreateExtensionStmt:
		return "CREATE EXTENSION", KindDDL
	case *pg.Node_AlterExtensionStmt, *pg.Node_AlterExtensionContentsStmt:
		return "ALTER EXTENSION", KindDDL
	case *pg.Node_AlterTableStmt:
		return alterTag(s.AlterTableStmt.Objtype), KindDDL
	case *pg.Node_AlterTableMoveAllStmt:
		return alterTag(s.AlterTableMoveAllStmt.Objtype), KindDDL
	case *pg.Node_RenameStmt:
		t := s.RenameStmt.RenameType
		if t == pg.ObjectType_OBJECT_COLUMN {
			t = s.RenameStmt.RelationType
		}
		return alterTag(t), KindDDL
	case *pg.Node_AlterObjectSchemaStmt:
		return alterTag(s.AlterObjectSchemaStmt.ObjectType), KindDDL
	case *pg.Node_AlterOwnerStmt:
		return alterTag(s.AlterOwnerStmt.ObjectType), KindDDL
	case *pg.Node_AlterObjectDependsStmt:
		return alterTag(s.AlterObjectDependsStmt.ObjectType), KindDDL
	case *pg.Node_AlterOperatorStmt:
		return "ALTER OPERATOR", KindDDL
	case *pg.Node_DropStmt:
		return dropTag(s.DropStmt.RemoveType), KindDDL
	case *pg.Node_CommentStmt:
		return "COMMENT", KindDDL
	case *pg.Node_SecLabelStmt:
		return "SECURITY LABEL", KindDDL
	case *pg.Node_GrantStmt:
		if s.GrantStmt.IsGrant {
			return "GRANT", KindDDL
		}
		return "REVOKE", KindDDL
	case *pg.Node_AlterDefaultPrivilegesStmt:
		return "ALTER DEFAULT PRIVILEGES", KindDDL
	case *pg.Node_CreateStatsStmt:
		return "CREATE STATISTICS", KindDDL
	case *pg.Node_AlterStatsStmt:
		return "ALTER STATISTICS", KindDDL
	case *pg.Node_CreateCastStmt:
		return "CREATE CAST", KindDDL
	case *pg.Node_CreateTransformStmt:
		return "CREATE TRANSFORM", KindDDL
	case *pg.Node_CreateConversionStmt:
		return "CREATE CONVERSION", KindDDL
	case *pg.Node_CreateOpClassStmt:
		return "CREATE OPERATOR CLASS", KindDDL
	case *pg.Node_CreateOpFamilyStmt:
		return "CREATE OPERATOR FAMILY", KindDDL
	case *pg.Node_AlterOpFamilyStmt:
		return "ALTER OPERATOR FAMILY", KindDDL
	case *pg.Node_AlterCollationStmt:
		return "ALTER COLLATION", KindDDL
	case *pg.Node_AlterTsdictionaryStmt:
		return "ALTER TEXT SEARCH DICTIONARY", KindDDL
	case *pg.Node_AlterTsconfigurationStmt:
		return "ALTER TEXT SEARCH CONFIGURATION", KindDDL
	case *pg.Node_CreateAmStmt:
		return "CREATE ACCESS METHOD", KindDDL
	case *pg.Node_CreatePlangStmt:
		return "CREATE LANGUAGE", KindDDL
	case *pg.Node_CreateFdwStmt:
		return "CREATE FOREIGN DATA WRAPPER", KindDDL
	case *pg.Node_AlterFdwStmt:
		return "ALTER FOREIGN DATA WRAPPER", KindDDL
	case *pg.Node_CreateForeignServerStmt:
		return "CREATE SERVER", KindDDL
	case *pg.Node_AlterForeignServerStmt:
		return "ALTER SERVER", KindDDL
	case *pg.Node_CreateUserMappingStmt:
		return "CREATE USER MAPPING", KindDDL
	case *pg.Node_AlterUserMappingStmt:
		return "ALTER USER MAPPING", KindDDL
	case *pg.Node_DropUserMappingStmt:
		return "DROP USER MAPPING", KindDDL
	case *pg.Node_ImportForeignSchemaStmt:
		return "IMPORT FOREIGN SCHEMA", KindDDL
	case *pg.Node_CreatePublicationStmt:
		return "CREATE PUBLICATION", KindDDL
	case *pg.Node_AlterPublicationStmt:
		return "ALTER PUBLICATION", KindDDL
	case *pg.Node_CreateSubscriptionStmt:
		return "CREATE SUBSCRIPTION", KindDDL
	case *pg.Node_AlterSubscriptionStmt:
		return "ALTER SUBSCRIPTION", KindDDL
	case *pg.Node_DropSubscriptionStmt:
		return "DROP SUBSCRIPTION", KindDDL
	case *pg.Node_DropOwnedStmt:
		return "DROP OWNED", KindDDL
	case *pg.Node_ReassignOwnedStmt:
		return "REASSIGN OWNED", KindDDL

	// Shared (cluster-wide) objects and event triggers: DDL, but PostgreSQL
	// fires no event trigger for them.
	case *pg.Node_CreatedbStmt:
		return "CREATE DATABASE", KindDDL
	case *pg.Node_AlterDatabaseStmt, *pg.Node_AlterDatabaseSetStmt, *pg.Node_AlterDatabaseRefreshCollStmt:
		return "ALTER DATABASE", KindDDL
	case *pg.Node_DropdbStmt:
		return "DROP DATABASE", KindDDL
	case *pg.Node_CreateTableSpaceStmt:
		return "CREATE TABLESPACE", KindDDL
	case *pg.Node_DropTableSpaceStmt:
		return "DROP TABLESPACE", KindDDL
	case *pg.Node_AlterTableSpaceOptionsStmt:
		return "ALTER TABLESPACE", KindDDL
	case *pg.Node_CreateRoleStmt:
		return "CREATE ROLE", KindDDL
	case *pg.Node_AlterRoleStmt, *pg.Node_AlterRoleSetStmt:
		return "ALTER ROLE", KindDDL
	case *pg.Node_DropRoleStmt:
		return "DROP ROLE", KindDDL
	case *pg.Node_GrantRoleStmt:
		if s.GrantRoleStmt.IsGrant {
			return "GRANT ROLE", KindDDL
		}
		return "REVOKE ROLE", KindDDL
	case *pg.Node_CreateEventTrigStmt:
		return "CREATE EVENT TRIGGER", KindDDL
	case *pg.Node_AlterEventTrigStmt:
		return "ALTER EVENT TRIGGER", KindDDL
	}
	return "???", KindUtility
}

// notCaptured lists the DDL tags for which PostgreSQL fires no event trigger
// (shared objects, event triggers themselves; cmdtaglist.h marks them
// event_trigger_ok = false). Such statements never produce queue rows.
var notCaptured = map[string]bool{
	"ALTER DATABASE":       true,
	"ALTER EVENT TRIGGER":  true,
	"ALTER ROLE":           true,
	"ALTER SYSTEM":         true,
	"ALTER TABLESPACE":     true,
	"CREATE DATABASE":      true,
	"CREATE EVENT TRIGGER": true,
	"CREATE ROLE":          true,
	"CREATE TABLESPACE":    true,
	"DROP DATABASE":        true,
	"DROP EVENT TRIGGER":   true,
	"DROP ROLE":            true,
	"DROP TABLESPACE":      true,
	"GRANT ROLE":           true,
	"REVOKE ROLE":          true,
	"REASSIGN OWNED":       true,
}

// firesEventTriggers reports whether a statement with this tag and kind fires
// ddl_command_end, i.e. whether queue rows can name it.
func firesEventTriggers(tag string, k Kind) bool {
	return k == KindDDL && !notCaptured[tag] && tag != "???"
}
