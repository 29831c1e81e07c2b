package ddlparse

import (
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrUnsupported matches (with errors.Is) every error that means "this DDL
// cannot be replayed faithfully": the caller records it as a ddl_unsupported
// event and lets the conflict policy decide (SPEC §6.4, §7).
var ErrUnsupported = errors.New("DDL cannot be replayed faithfully")

// Reason is a stable, short code for why DDL cannot be replayed; use it as a
// metric label.
type Reason string

const (
	// ReasonRoutineBody: the DDL ran inside a DO block, a function, a
	// procedure or a trigger. PostgreSQL reports the top-level statement as
	// its text, so there is no DDL text to replay (replaying the call would
	// run its DML again).
	ReasonRoutineBody Reason = "routine-body"
	// ReasonTransactionBlock: the statement cannot run inside a
	// transaction block, and replay runs inside the apply transaction.
	ReasonTransactionBlock Reason = "transaction-block"
	// ReasonNotCaptured: PostgreSQL fires no event trigger for the statement
	// (databases, roles, tablespaces, event triggers, ALTER SYSTEM), so it is
	// never captured and never replayed.
	ReasonNotCaptured Reason = "not-captured"
	// ReasonNodeLocal: the statement only makes sense on the node that ran
	// it (subscriptions; finishing a detach interrupted there).
	ReasonNodeLocal Reason = "node-local"
	// ReasonUnmatched: queue events could not be matched to statements of
	// their query string.
	ReasonUnmatched Reason = "unmatched-events"
	// ReasonMapping: the mapping cannot be applied to the statement.
	ReasonMapping Reason = "mapping"
	// ReasonDeparse: pg_query cannot turn the (mapped) statement back into
	// SQL that means the same thing.
	ReasonDeparse Reason = "deparse"
	// ReasonParse: the query string does not parse (see ParseError).
	ReasonParse Reason = "parse-error"
	// ReasonNotDDL: Rewrite was given a statement that is not DDL.
	ReasonNotDDL Reason = "not-ddl"
)

// UnsupportedError says why DDL cannot be replayed faithfully.
type UnsupportedError struct {
	// Statement is the statement's index in its query string, or -1.
	Statement int
	// Tag is the statement's command tag, when there is one statement.
	Tag    string
	Reason Reason
	Detail string
}

func (e *UnsupportedError) Error() string {
	if e.Statement >= 0 {
		return fmt.Sprintf("statement %d (%s): %s: %s", e.Statement, e.Tag, e.Reason, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
}

// Is makes every UnsupportedError match ErrUnsupported.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// ReasonOf returns the Reason of an error from this package that matches
// ErrUnsupported (ReasonParse for a *ParseError), or "" for other errors.
func ReasonOf(err error) Reason {
	var u *UnsupportedError
	if errors.As(err, &u) {
		return u.Reason
	}
	var p *ParseError
	if errors.As(err, &p) {
		return ReasonParse
	}
	return ""
}

// unsupported classifies a statement that can never be replayed as is.
func unsupported(i int, tag string, n *pg.Node) *UnsupportedError {
	mk := func(r Reason, d string) *UnsupportedError {
		return &UnsupportedError{Statement: i, Tag: tag, Reason: r, Detail: d}
	}
	const concurrently = "cannot run inside a transaction block and replay runs inside the apply transaction; Options.StripConcurrently replays it without CONCURRENTLY (it then locks the table while it runs)"
	switch s := n.GetNode().(type) {
	case *pg.Node_DoStmt:
		return mk(ReasonRoutineBody, "a DO block runs code; DDL it executes has no text of its own, and replaying the block would run its DML again")
	case *pg.Node_CallStmt:
		return mk(ReasonRoutineBody, "CALL runs a procedure; DDL it executes has no text of its own, and replaying the call would run its DML again")
	case *pg.Node_IndexStmt:
		if s.IndexStmt.Concurrent {
			return mk(ReasonTransactionBlock, "CREATE INDEX CONCURRENTLY "+concurrently)
		}
	case *pg.Node_DropStmt:
		if s.DropStmt.Concurrent {
			return mk(ReasonTransactionBlock, "DROP INDEX CONCURRENTLY "+concurrently)
		}
	case *pg.Node_ReindexStmt:
		for _, p := range s.ReindexStmt.Params {
			if d := p.GetDefElem(); d != nil && d.Defname == "concurrently" {
				return mk(ReasonTransactionBlock, "REINDEX CONCURRENTLY cannot run inside a transaction block")
			}
		}
		return mk(ReasonNotCaptured, "REINDEX fires no event trigger before PostgreSQL 17 and changes no definition")
	case *pg.Node_AlterTableStmt:
		for _, c := range s.AlterTableStmt.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent {
				return mk(ReasonTransactionBlock, "ALTER TABLE ... DETACH PARTITION CONCURRENTLY "+concurrently)
			}
			if cmd.Subtype == pg.AlterTableType_AT_DetachPartitionFinalize {
				return mk(ReasonNodeLocal, "DETACH PARTITION ... FINALIZE completes a DETACH CONCURRENTLY interrupted on this node; the peer has no such pending detach")
			}
		}
	case *pg.Node_VacuumStmt:
		if s.VacuumStmt.IsVacuumcmd {
			return mk(ReasonTransactionBlock, "VACUUM cannot run inside a transaction block (and is maintenance, not DDL)")
		}
	case *pg.Node_CreatedbStmt, *pg.Node_DropdbStmt, *pg.Node_CreateTableSpaceStmt, *pg.Node_DropTableSpaceStmt,
		*pg.Node_AlterSystemStmt:
		return mk(ReasonTransactionBlock, tag+" cannot run inside a transaction block, and PostgreSQL fires no event trigger for it")
	case *pg.Node_AlterDatabaseStmt:
		for _, o := range s.AlterDatabaseStmt.Options {
			if d := o.GetDefElem(); d != nil && d.Defname == "tablespace" {
				return mk(ReasonTransactionBlock, "ALTER DATABASE ... SET TABLESPACE cannot run inside a transaction block")
			}
		}
	case *pg.Node_CreateSubscriptionStmt, *pg.Node_AlterSubscriptionStmt, *pg.Node_DropSubscriptionStmt:
		return mk(ReasonNodeLocal, "a subscription belongs to the node that created it (and may create or drop a replication slot, which cannot run inside a transaction block)")
	case *pg.Node_TransactionStmt:
		switch s.TransactionStmt.Kind {
		case pg.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
			return mk(ReasonTransactionBlock, tag+" cannot run inside a transaction block")
		}
	}
	if notCaptured[tag] {
		return mk(ReasonNotCaptured, tag+" changes a shared object or an event trigger; PostgreSQL fires no event trigger for it, so it is never captured")
	}
	return nil
}

// runsCode reports whether executing n can run user code whose DDL would be
// reported under n's text (see Statement.RunsCode).
func runsCode(n *pg.Node) bool {
	switch s := n.GetNode().(type) {
	case *pg.Node_DoStmt, *pg.Node_CallStmt, *pg.Node_ExecuteStmt:
		return true
	case *pg.Node_InsertStmt, *pg.Node_UpdateStmt, *pg.Node_DeleteStmt, *pg.Node_MergeStmt,
		*pg.Node_CopyStmt, *pg.Node_TruncateStmt:
		return true // triggers
	case *pg.Node_SelectStmt, *pg.Node_ExplainStmt, *pg.Node_DeclareCursorStmt:
		return hasFuncCall(n.ProtoReflect())
	case *pg.Node_CreateTableAsStmt:
		return hasFuncCall(s.CreateTableAsStmt.Query.ProtoReflect())
	case *pg.Node_RefreshMatViewStmt:
		return true // the view's query can call anything
	}
	return false
}

func hasFuncCall(m protoreflect.Message) bool {
	if !m.IsValid() {
		return false
	}
	if _, ok := m.Interface().(*pg.FuncCall); ok {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len() && !found; i++ {
				found = hasFuncCall(v.List().Get(i).Message())
			}
		} else {
			found = hasFuncCall(v.Message())
		}
		return !found
	})
	return found
}

// AddsOnlyComputedColumns reports whether an ALTER TABLE statement's ADD
// COLUMN subcommands compute nothing that could differ between two nodes:
// each has no default, identity or serial type, or is GENERATED ALWAYS AS
// (...) STORED (an immutable expression of the row). PostgreSQL rewrites the
// table for such a generated column just as for a volatile default
// (table_rewrite reason 2), and the rewritten rows are not decoded; with a
// generated column that is harmless, since each node computes the same
// values.
func (s Statement) AddsOnlyComputedColumns() bool {
	if s.raw == nil {
		return false
	}
	at := s.raw.Stmt.GetAlterTableStmt()
	if at == nil {
		return false
	}
	for _, c := range at.Cmds {
		cmd := c.GetAlterTableCmd()
		if cmd == nil || cmd.Subtype != pg.AlterTableType_AT_AddColumn {
			continue
		}
		def := cmd.Def.GetColumnDef()
		if def == nil {
			return false
		}
		if tn := def.TypeName; tn != nil && len(tn.Names) > 0 {
			switch strings.ToLower(tn.Names[len(tn.Names)-1].GetString_().GetSval()) {
			case "serial", "bigserial", "smallserial", "serial2", "serial4", "serial8":
				return false
			}
		}
		if def.RawDefault != nil || def.CookedDefault != nil || def.Identity != "" {
			return false
		}
		for _, k := range def.Constraints {
			switch k.GetConstraint().GetContype() {
			case pg.ConstrType_CONSTR_DEFAULT, pg.ConstrType_CONSTR_IDENTITY:
				return false
			}
		}
	}
	return true
}
