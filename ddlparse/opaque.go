package ddlparse

import (
	"fmt"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// This file handles text inside a statement that names objects but is not
// parsed as SQL: object-identifier literals ('s.cfg'::regconfig), routine
// bodies written as strings (AS $$...$$) and trigger arguments. Where such a
// literal is a plain name, Rewrite maps it; otherwise it cannot be rewritten,
// and a statement whose opaque text mentions a name the mapping changes is
// refused (ReasonMapping) instead of being replayed with the source's names.

// regTypes maps the object-identifier types whose input is an object name
// (regclass aside, see walker.regclass) to the kind of object they name.
var regTypes = map[string]string{
	"regtype":       "type",
	"regproc":       "function",
	"regprocedure":  "function",
	"regoper":       "operator",
	"regoperator":   "operator",
	"regnamespace":  "schema",
	"regconfig":     "text search configuration",
	"regdictionary": "text search dictionary",
	"regcollation":  "collation",
}

// regName registers a string literal cast to one of regTypes (reg, the
// cast's type name). A plain (optionally qualified) name is mapped; anything
// else (a type with array brackets or modifiers, a routine or operator with
// its argument types, an operator name) is opaque.
func (w *walker) regName(n *pg.Node, reg string) {
	typ := regTypes[reg]
	sv, ok := n.GetAConst().GetVal().(*pg.A_Const_Sval)
	if !ok || sv.Sval == nil || typ == "" {
		return
	}
	p := &sv.Sval.Sval
	parts, ok := splitRegclass(*p)
	switch {
	case ok && typ == "schema" && len(parts) == 1:
		w.sites = append(w.sites, &site{kind: siteRegName, typ: typ, ref: true, str: p})
		w.addObject(Object{Type: typ, Name: parts[0], Ref: true})
	case ok && typ != "schema" && len(parts) == 2:
		w.sites = append(w.sites, &site{kind: siteRegName, typ: typ, ref: true, str: p})
		if !isSystemSchema(parts[0]) {
			w.addObject(Object{Type: typ, Schema: parts[0], Name: parts[1], Ref: true})
		}
	case ok && len(parts) == 1:
		// An unqualified name: the peer resolves it with its search_path.
	default:
		w.opaque(p, fmt.Sprintf("the %s literal %s", reg, quoteLiteral(*p)))
	}
}

// opaque registers text the rewrite cannot map.
func (w *walker) opaque(p *string, what string) {
	if p == nil || *p == "" {
		return
	}
	w.sites = append(w.sites, &site{kind: siteOpaque, str: p, typ: what})
}

// routineBody registers the body of a routine written as a string. C and
// internal routines have a link symbol there, not code.
func (w *walker) routineBody(x *pg.CreateFunctionStmt, typ string) {
	lang := ""
	if s, ok := option(x.Options, "language").GetNode().(*pg.Node_String_); ok {
		lang = strings.ToLower(s.String_.Sval)
	}
	if lang == "c" || lang == "internal" {
		return
	}
	l, ok := option(x.Options, "as").GetNode().(*pg.Node_List)
	if !ok {
		return
	}
	what := fmt.Sprintf("the string body of %s %s", typ, strings.Join(strs(x.Funcname), "."))
	if lang != "" {
		what += " (LANGUAGE " + lang + ")"
	}
	for _, item := range l.List.Items {
		if s, ok := item.GetNode().(*pg.Node_String_); ok {
			w.opaque(&s.String_.Sval, what)
		}
	}
}

// applyRegName maps an object-identifier literal that regName found to be a
// plain name.
func applyRegName(s *site, m *Mapping) {
	parts, ok := splitRegclass(*s.str)
	if !ok {
		return
	}
	switch {
	case s.typ == "schema" && len(parts) == 1:
		if to := m.Schema(parts[0]); to != parts[0] {
			*s.str = quoteIdent(to)
		}
	case len(parts) == 2:
		q := QName{Schema: parts[0], Name: parts[1]}
		to := QName{Schema: m.Schema(q.Schema), Name: q.Name}
		if t, ok := m.Tables[q]; ok && s.typ == "type" { // a table's row type
			to = t
		}
		if to != q {
			*s.str = to.String()
		}
	}
}

// checkOpaque refuses opaque text that mentions a name the mapping changes.
func checkOpaque(s *site, m *Mapping) error {
	if m.Fold != nil {
		if m.Fold("a") != "a" {
			return fmt.Errorf("%s is not parsed as SQL, and names.case upper-cases the peer's names, which its unquoted names would not find; it cannot be replayed", s.typ)
		}
		if q, ok := foldedQuoted(*s.str, m.Fold); ok {
			return fmt.Errorf("%s quotes %s, which names.case spells %s on the peer; it is not parsed as SQL, so Rewrite cannot rewrite it",
				s.typ, quoteIdent(q), quoteIdent(m.Fold(q)))
		}
	}
	if name, ok := mentions(*s.str, renamedNames(m)); ok {
		return fmt.Errorf("%s mentions %s, which the mapping renames; it is not parsed as SQL, so Rewrite cannot rewrite it",
			s.typ, quoteIdent(name))
	}
	return nil
}

// foldedQuoted returns the first double-quoted identifier in text that
// fold changes. Unquoted names need no check: PostgreSQL folds them to
// lower case, which is what a lower-case fold gives the peer.
func foldedQuoted(text string, fold func(string) string) (string, bool) {
	for i := 0; i < len(text); i++ {
		if text[i] != '"' {
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(text); j++ {
			if text[j] == '"' {
				if j+1 < len(text) && text[j+1] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				break
			}
			b.WriteByte(text[j])
		}
		if q := b.String(); q != "" && fold(q) != q {
			return q, true
		}
		i = j
	}
	return "", false
}

// renamedNames lists the source names that a mapping changes: schemas,
// tables (also when only their schema changes) and columns, sorted.
func renamedNames(m *Mapping) []string {
	set := map[string]bool{}
	// renamed: from becomes to, and not merely by names.case (whose
	// quoted names checkOpaque looks for itself).
	renamed := func(from, to string) bool {
		return from != to && (m.Fold == nil || m.Fold(from) != to)
	}
	for from, to := range m.Schemas {
		if renamed(from, to) && from != "" && !isSystemSchema(from) {
			set[from] = true
		}
	}
	for from, to := range m.Tables {
		if (renamed(from.Schema, to.Schema) || renamed(from.Name, to.Name)) && !isSystemSchema(from.Schema) {
			set[from.Name] = true
		}
	}
	for from, to := range m.Columns {
		if renamed(from.Name, to) {
			set[from.Name] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// mentions reports the first of names (in their order) that text contains,
// ignoring case: as a whole word for names made of identifier characters
// (so "app" is found in app.t, "app"."t", 'app' and format('app.%I'), but not
// in apple or in my_app), as a substring for other names. It errs on the side
// of finding: a comment or a string that happens to hold the name counts.
func mentions(text string, names []string) (string, bool) {
	if len(names) == 0 {
		return "", false
	}
	lower := strings.ToLower(text)
	for _, name := range names {
		n := strings.ToLower(name)
		if n == "" {
			continue
		}
		word := true
		for i := 0; i < len(n); i++ {
			if !isIdentByte(n[i]) {
				word = false
				break
			}
		}
		for from := 0; from <= len(lower)-len(n); {
			i := strings.Index(lower[from:], n)
			if i < 0 {
				break
			}
			i += from
			end := i + len(n)
			if !word || (i == 0 || !isIdentByte(lower[i-1])) && (end == len(lower) || !isIdentByte(lower[end])) {
				return name, true
			}
			from = i + 1
		}
	}
	return "", false
}

// isIdentByte reports bytes that can continue an unquoted identifier
// (letters, digits, _, $ and any byte of a multi-byte character).
func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
