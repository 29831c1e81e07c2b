package ddlparse

import (
	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
)

// DefinesKey reports whether st only defines keys of a table: ALTER TABLE
// ... ADD PRIMARY KEY / UNIQUE (a constraint or USING INDEX), CREATE UNIQUE
// INDEX, or ALTER TABLE ... REPLICA IDENTITY. The initial sync runs these
// before copying rows (the rows of the receiving node must collide on them,
// and the apply finds rows by them) and the rest of pg_dump's post-data
// section (other indexes, foreign keys, triggers) after.
func DefinesKey(st Statement) bool {
	if st.raw == nil || st.raw.Stmt == nil {
		return false
	}
	switch s := st.raw.Stmt.Node.(type) {
	case *pg.Node_IndexStmt:
		return s.IndexStmt.Unique
	case *pg.Node_AlterTableStmt:
		if len(s.AlterTableStmt.Cmds) == 0 {
			return false
		}
		for _, c := range s.AlterTableStmt.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd == nil {
				return false
			}
			switch cmd.Subtype {
			case pg.AlterTableType_AT_ReplicaIdentity:
			case pg.AlterTableType_AT_AddConstraint, pg.AlterTableType_AT_AddIndexConstraint, pg.AlterTableType_AT_AddIndex:
				con := cmd.GetDef().GetConstraint()
				if con == nil || con.Contype != pg.ConstrType_CONSTR_PRIMARY && con.Contype != pg.ConstrType_CONSTR_UNIQUE {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	return false
}

// ForeignKeyNotValid turns ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY
// (as pg_dump writes foreign keys, one per statement) into the same with NOT
// VALID: the constraint holds for new rows at once and existing rows are
// checked later by VALIDATE CONSTRAINT. It returns the statement, the table
// and the constraint's name; ok is false for any other statement (and for a
// foreign key that is already NOT VALID).
func ForeignKeyNotValid(st Statement) (sql string, table QName, constraint string, ok bool) {
	if st.raw == nil || st.raw.Stmt == nil {
		return "", QName{}, "", false
	}
	alter := st.raw.Stmt.GetAlterTableStmt()
	if alter == nil || len(alter.Cmds) != 1 || alter.Relation == nil {
		return "", QName{}, "", false
	}
	cmd := alter.Cmds[0].GetAlterTableCmd()
	if cmd == nil || cmd.Subtype != pg.AlterTableType_AT_AddConstraint {
		return "", QName{}, "", false
	}
	con := cmd.GetDef().GetConstraint()
	if con == nil || con.Contype != pg.ConstrType_CONSTR_FOREIGN || con.SkipValidation || con.Conname == "" {
		return "", QName{}, "", false
	}
	stmt := proto.Clone(st.raw.Stmt).(*pg.Node)
	c := stmt.GetAlterTableStmt().Cmds[0].GetAlterTableCmd().GetDef().GetConstraint()
	c.SkipValidation, c.InitiallyValid = true, false
	out, err := deparse(st.Text, stmt)
	if err != nil {
		return "", QName{}, "", false
	}
	return out, QName{Schema: alter.Relation.Schemaname, Name: alter.Relation.Relname}, con.Conname, true
}
