package ddlparse

import pg "github.com/pganalyze/pg_query_go/v5"

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
