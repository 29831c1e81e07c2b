package ddlparse

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Deparsing is the one risky step of Rewrite. pg_query carries parse trees
// between C and Go as protobuf, where an empty string and a missing one are
// the same thing, and the C deparser then either drops the field or
// dereferences NULL and kills the process (found by FuzzSplitRewrite:
// ALTER TYPE t ADD VALUE ”). deparse therefore
//
//  1. refuses the statements known to lose an empty string literal
//     (checkEmptyStrings), before calling the C code;
//  2. deparses;
//  3. parses the output again and requires the same tree as the one it
//     deparsed (locations aside), so a deparser that changes a statement
//     is an error, never a different statement on the peer.
func deparse(text string, stmt *pg.Node) (string, error) {
	if err := checkEmptyStrings(text, stmt); err != nil {
		return "", err
	}
	out, err := pg.Deparse(&pg.ParseResult{Stmts: []*pg.RawStmt{{Stmt: stmt}}})
	if err != nil {
		return "", fmt.Errorf("deparse: %w", err)
	}
	out = strings.TrimSpace(out)
	back, err := pg.Parse(out)
	if err != nil || len(back.Stmts) != 1 {
		return "", fmt.Errorf("the deparsed text does not parse back as one statement: %q", out)
	}
	want := proto.Clone(stmt).(*pg.Node)
	got := back.Stmts[0].Stmt
	clearLocations(want.ProtoReflect())
	clearLocations(got.ProtoReflect())
	if !proto.Equal(want, got) {
		return "", fmt.Errorf("the deparser changed the statement (its output %q parses to another tree)", out)
	}
	return out, nil
}

// clearLocations zeroes the byte offsets a parse tree records, which differ
// between a statement and its deparsed text.
func clearLocations(m protoreflect.Message) {
	if !m.IsValid() {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.Int32Kind && !fd.IsList() &&
			(fd.Name() == "location" || fd.Name() == "stmt_location" || fd.Name() == "stmt_len"):
			m.Clear(fd)
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				clearLocations(v.List().Get(i).Message())
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			clearLocations(v.Message())
		}
		return true
	})
}

// checkEmptyStrings refuses statements with an empty string literal in a
// field the protobuf trip turns into NULL.
func checkEmptyStrings(text string, n *pg.Node) error {
	refuse := func(what string) error {
		return fmt.Errorf("%s: pg_query cannot deparse an empty string there", what)
	}
	switch s := n.GetNode().(type) {
	case *pg.Node_AlterEnumStmt:
		e := s.AlterEnumStmt
		switch {
		case e.NewVal == "": // ADD VALUE and RENAME VALUE always have one
			return refuse("enum value ''")
		case e.OldVal == "" && hasToken(text, pg.Token_RENAME):
			return refuse("RENAME VALUE ''")
		case e.NewValNeighbor == "" && (hasToken(text, pg.Token_BEFORE) || hasToken(text, pg.Token_AFTER)):
			return refuse("BEFORE/AFTER ''")
		}
	case *pg.Node_CreateForeignServerStmt:
		if s.CreateForeignServerStmt.Servertype == "" && hasToken(text, pg.Token_TYPE_P) ||
			s.CreateForeignServerStmt.Version == "" && hasToken(text, pg.Token_VERSION_P) {
			return refuse("server TYPE or VERSION ''")
		}
	case *pg.Node_AlterForeignServerStmt:
		if s.AlterForeignServerStmt.HasVersion && s.AlterForeignServerStmt.Version == "" && !hasToken(text, pg.Token_NULL_P) {
			return refuse("server VERSION ''")
		}
	case *pg.Node_SecLabelStmt:
		if s.SecLabelStmt.Label == "" && !hasToken(text, pg.Token_NULL_P) {
			return refuse("security label ''")
		}
	}
	return nil
}

// hasToken reports whether the statement text contains token t outside
// string literals and comments.
func hasToken(text string, t pg.Token) bool {
	r, err := pg.Scan(text)
	if err != nil {
		return true // be conservative
	}
	for _, tok := range r.Tokens {
		if tok.Token == t {
			return true
		}
	}
	return false
}
