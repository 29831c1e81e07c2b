package ddlparse

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v5"
	"github.com/pganalyze/pg_query_go/v5/parser"
)

// Kind says what a statement does, and so whether its text is ever replayed.
type Kind int

const (
	// KindDDL changes the schema or other database objects: the only kind
	// whose text is replayed on the peer.
	KindDDL Kind = iota + 1
	// KindDML writes rows (INSERT, UPDATE, DELETE, MERGE, COPY FROM,
	// TRUNCATE). Its effects travel as row changes; never replayed as text.
	KindDML
	// KindQuery reads (SELECT, EXPLAIN, COPY TO, cursors). A query can still
	// call functions that run DDL (see Statement.RunsCode).
	KindQuery
	// KindTransaction is transaction control (BEGIN, COMMIT, SAVEPOINT ...).
	KindTransaction
	// KindUtility is everything else: SET/SHOW/RESET, DO, CALL, PREPARE,
	// EXECUTE, LISTEN/NOTIFY, LOCK, VACUUM, ANALYZE, REINDEX, CLUSTER,
	// CHECKPOINT, ALTER SYSTEM.
	KindUtility
)

func (k Kind) String() string {
	switch k {
	case KindDDL:
		return "DDL"
	case KindDML:
		return "DML"
	case KindQuery:
		return "Query"
	case KindTransaction:
		return "Transaction"
	case KindUtility:
		return "Utility"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Statement is one statement of a query string, as PostgreSQL's parser cut it.
type Statement struct {
	// Index is the statement's position in the query string, from 0.
	Index int
	// Offset is the byte offset of Text in the query string.
	Offset int
	// Text is the statement's original text, without the terminating
	// semicolon and trimmed of surrounding white space. Comments before the
	// statement stay in it.
	Text string
	// Tag is the command tag PostgreSQL reports for the statement: for DDL it
	// is what event triggers see as TG_TAG ("CREATE TABLE", "ALTER TABLE",
	// "DROP INDEX", "SELECT INTO", "GRANT", ...).
	Tag string
	// Kind classifies the statement (DDL, DML, Query, Transaction, Utility).
	Kind Kind
	// Objects are the objects the statement names, in the order they appear,
	// schema-qualified only where the text qualifies them.
	Objects []Object
	// Unsupported is set when the statement can never be replayed
	// faithfully on the peer; Rewrite returns it as its error.
	Unsupported *UnsupportedError
	// Tx numbers the transaction the statement runs in, counting from 0:
	// a COMMIT or ROLLBACK in the string ends one and the next statement
	// runs in the next. All rows of one queue group come from one Tx.
	Tx int

	raw  *pg.RawStmt
	code bool
}

// Object is a database object named by a statement.
type Object struct {
	// Type is the object's kind in PostgreSQL's words, as the object_type
	// column of pg_event_trigger_ddl_commands() spells it where it can:
	// "table", "view", "materialized view", "index", "sequence", "type",
	// "domain", "function", "procedure", "aggregate", "operator", "schema",
	// "extension", "trigger", "rule", "policy", "table constraint", "column",
	// "statistics", "collation", "relation" (a relation of unknown kind, e.g. in
	// a FROM clause), and so on.
	Type string
	// Schema is the schema as written; "" when the name is unqualified and is
	// resolved by the session's search_path. Temporary relations report
	// "pg_temp". Schemas, extensions and other unqualified-by-nature objects
	// have only a Name.
	Schema string
	// Name is the object's own name (a column, trigger, rule, policy or
	// constraint: the name of the relation it belongs to).
	Name string
	// Member is the column, trigger, rule, policy or constraint name for
	// objects that live inside a relation; "" otherwise.
	Member string
	// Ref is true when the statement only references the object (a foreign
	// key target, a table a view reads, a function a default calls) instead
	// of creating, altering or dropping it.
	Ref bool
}

// Qualified reports whether the statement wrote the object's schema.
func (o Object) Qualified() bool { return o.Schema != "" }

// String renders the object as "[ref ]type schema.name[.member]" with
// identifiers quoted where PostgreSQL would need quotes.
func (o Object) String() string {
	var b strings.Builder
	if o.Ref {
		b.WriteString("ref ")
	}
	b.WriteString(o.Type)
	b.WriteByte(' ')
	if o.Schema != "" {
		b.WriteString(quoteIdent(o.Schema))
		b.WriteByte('.')
	}
	if o.Type == "operator" {
		b.WriteString(o.Name)
	} else {
		b.WriteString(quoteIdent(o.Name))
	}
	if o.Member != "" {
		b.WriteByte('.')
		b.WriteString(quoteIdent(o.Member))
	}
	return b.String()
}

// RunsCode reports whether DDL fired while this statement ran would have no
// text of its own in the query string: DO blocks, CALL, EXECUTE, DML (which
// can fire triggers) and queries that call functions. DDL executed inside a
// routine body is reported by PostgreSQL under the top-level statement, so
// it cannot be replayed from the captured text; Match uses this to explain
// events that match no statement.
func (s Statement) RunsCode() bool { return s.code }

// IsTemporary reports whether every object the statement creates or changes
// is temporary (session-local). Such statements are never replicated.
func (s Statement) IsTemporary() bool {
	seen := false
	for _, o := range s.Objects {
		if o.Ref {
			continue
		}
		if o.Schema != "pg_temp" {
			return false
		}
		seen = true
	}
	return seen
}

// ParseError is returned by Split when PostgreSQL's parser rejects the query
// string. Position, Line and Column count characters from 1.
type ParseError struct {
	Message  string
	Position int
	Line     int
	Column   int
	// Near is the text of the line from the error position on (at most 40
	// characters).
	Near string
}

func (e *ParseError) Error() string {
	if e.Position <= 0 {
		return "parse query: " + e.Message
	}
	return fmt.Sprintf("parse query: %s at line %d, column %d (near %q)", e.Message, e.Line, e.Column, e.Near)
}

// Is makes a parse failure count as ErrUnsupported: a captured query the
// parser cannot split cannot be replayed faithfully.
func (e *ParseError) Is(target error) bool { return target == ErrUnsupported }

// Split parses query with PostgreSQL's own parser (PostgreSQL 16 grammar) and
// returns its statements in order. It never guesses: a string that does not
// parse returns a *ParseError and no statements.
func Split(query string) ([]Statement, error) {
	if strings.IndexByte(query, 0) >= 0 {
		return nil, &ParseError{Message: "query contains a NUL byte"}
	}
	if !utf8.ValidString(query) {
		return nil, &ParseError{Message: "query is not valid UTF-8"}
	}
	tree, err := pg.Parse(query)
	if err != nil {
		return nil, newParseError(query, err)
	}
	stmts := make([]Statement, 0, len(tree.Stmts))
	tx := 0
	for i, rs := range tree.Stmts {
		start, end := int(rs.StmtLocation), int(rs.StmtLocation+rs.StmtLen)
		if rs.StmtLen == 0 {
			end = len(query)
		}
		if start < 0 || start > end || end > len(query) {
			return nil, &ParseError{Message: fmt.Sprintf("statement %d has location %d+%d outside the query", i, rs.StmtLocation, rs.StmtLen)}
		}
		text := query[start:end]
		trimmed := strings.TrimLeft(text, " \t\r\n\f\v")
		st := Statement{
			Index:  i,
			Offset: start + len(text) - len(trimmed),
			Text:   strings.TrimRight(trimmed, " \t\r\n\f\v"),
			Tx:     tx,
			raw:    rs,
		}
		if rs.Stmt == nil {
			return nil, &ParseError{Message: fmt.Sprintf("statement %d is empty", i)}
		}
		st.Tag, st.Kind = classify(rs.Stmt)
		st.Objects = objectsOf(rs)
		st.code = runsCode(rs.Stmt)
		st.Unsupported = unsupported(i, st.Tag, rs.Stmt)
		stmts = append(stmts, st)
		if endsTransaction(rs.Stmt) {
			tx++
		}
	}
	return stmts, nil
}

// endsTransaction reports whether n ends the transaction it runs in.
func endsTransaction(n *pg.Node) bool {
	t := n.GetTransactionStmt()
	if t == nil {
		return false
	}
	switch t.Kind {
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK,
		pg.TransactionStmtKind_TRANS_STMT_PREPARE:
		return true
	}
	return false
}

func newParseError(query string, err error) *ParseError {
	var perr *parser.Error
	if !errors.As(err, &perr) {
		return &ParseError{Message: err.Error()}
	}
	e := &ParseError{Message: perr.Message, Position: perr.Cursorpos}
	locate(e, query)
	return e
}

// setPosition points e at byte offset off of query.
func setPosition(e *ParseError, query string, off int) {
	e.Position = utf8.RuneCountInString(query[:off]) + 1
	locate(e, query)
}

// locate fills in e's Line, Column and Near from its Position.
func locate(e *ParseError, query string) {
	if e.Position <= 0 {
		return
	}
	// Position counts characters from 1, not bytes.
	line, col, n := 1, 1, 0
	for i, r := range query {
		n++
		if n == e.Position {
			rest := query[i:]
			if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
				rest = rest[:nl]
			}
			if utf8.RuneCountInString(rest) > 40 {
				rest = string([]rune(rest)[:40])
			}
			e.Near = rest
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	e.Line, e.Column = line, col
}

// selectInto returns the INTO clause of a SELECT ... INTO, which the grammar
// attaches to the leftmost SELECT of a set operation.
func selectInto(s *pg.SelectStmt) *pg.IntoClause {
	for s != nil {
		if s.IntoClause != nil {
			return s.IntoClause
		}
		s = s.Larg
	}
	return nil
}
