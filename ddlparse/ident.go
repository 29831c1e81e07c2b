package ddlparse

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// quoteIdent quotes an identifier the way PostgreSQL's quote_ident does:
// only when it is not a plain lower-case name or is a keyword that cannot be
// used bare.
func quoteIdent(s string) string {
	if isPlainIdent(s) {
		r, err := pg.Scan(s)
		if err == nil && len(r.Tokens) == 1 {
			k := r.Tokens[0].KeywordKind
			if k == pg.KeywordKind_NO_KEYWORD || k == pg.KeywordKind_UNRESERVED_KEYWORD {
				return s
			}
		}
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func isPlainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '$'):
		default:
			return false
		}
	}
	return true
}

// identity is an object identity as pg_event_trigger_ddl_commands() and
// pg_event_trigger_dropped_objects() print it (getObjectIdentity): a dotted,
// quote_ident-quoted name such as public."Orders", public.orders.note,
// public.f(integer), public.mood[], or "<member> on <relation>" for
// constraints, triggers, rules and policies, "for <column>" for defaults.
type identity struct {
	parts  []string // the qualified name, unquoted
	member string   // the member name of "<member> on <relation>"
}

// parseIdentity parses an object identity. It never fails: text it does not
// understand yields fewer parts.
func parseIdentity(s string) identity {
	var id identity
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "for ")
	if on := indexOutsideQuotes(s, " on "); on >= 0 {
		m := parseDotted(s[:on])
		if len(m) > 0 {
			id.member = m[len(m)-1]
		}
		s = s[on+len(" on "):]
	}
	id.parts = parseDotted(s)
	return id
}

// indexOutsideQuotes finds sep in s outside double-quoted identifiers.
func indexOutsideQuotes(s, sep string) int {
	in := false
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			in = !in
			continue
		}
		if !in && strings.HasPrefix(s[i:], sep) {
			return i
		}
	}
	return -1
}

// readQuoted reads the double-quoted identifier that starts at s[i] (a '"'):
// it returns the identifier with doubled quotes undone, the index just after
// the closing quote, and whether there was a closing quote.
func readQuoted(s string, i int) (ident string, next int, closed bool) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return b.String(), i, false
}

// parseDotted splits a dotted name into unquoted parts, stopping at an
// argument list, array brackets or a blank.
func parseDotted(s string) []string {
	var parts []string
	i := 0
	for i < len(s) {
		var b strings.Builder
		if s[i] == '"' {
			var q string
			q, i, _ = readQuoted(s, i)
			b.WriteString(q)
		} else {
			for i < len(s) && s[i] != '.' && s[i] != '(' && s[i] != '[' && s[i] != ' ' {
				b.WriteByte(s[i])
				i++
			}
		}
		parts = append(parts, b.String())
		if i < len(s) && s[i] == '.' {
			i++
			continue
		}
		break
	}
	return parts
}

// derived reports whether the identity looks like an object PostgreSQL
// named after o: a serial column's sequence (orders_id_seq), a constraint's
// index (orders_pkey). Weaker evidence than names.
func (id identity) derived(o Object) bool {
	if len(id.parts) == 0 || o.Member != "" {
		return false
	}
	last := id.parts[len(id.parts)-1]
	if !strings.HasPrefix(last, o.Name+"_") {
		return false
	}
	return o.Schema == "" || o.Schema == "pg_temp" || len(id.parts) < 2 || id.parts[len(id.parts)-2] == o.Schema
}

// names reports whether the identity names object o: the object itself, or
// something inside it (a column, a constraint, an array type, an object in a
// schema).
func (id identity) names(o Object) bool {
	p := id.parts
	if o.Member != "" && id.member != "" && id.member != o.Member {
		return false
	}
	for i, x := range p {
		if x != o.Name {
			continue
		}
		if o.Schema == "" || o.Schema == "pg_temp" || (i > 0 && p[i-1] == o.Schema) {
			return true
		}
	}
	return false
}
