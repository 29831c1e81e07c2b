package policies

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validName reports whether s is a valid pair or node name (SPEC §1):
// ^[a-z][a-z0-9_]*$, at most maxNameLen characters.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseQualifiedName splits a dotted SQL name into catalog names, following
// PostgreSQL: a part written without quotes must be a plain identifier and is
// folded to lower case; a part in double quotes is kept as written ("" inside
// stands for one quote).
func parseQualifiedName(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("the name is not valid UTF-8")
	}
	var parts []string
	i := 0
	for {
		var part string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				b.WriteByte(s[j])
				j++
			}
			if !closed {
				return nil, fmt.Errorf("the double quote at character %d is not closed", i+1)
			}
			part = b.String()
			if part == "" {
				return nil, fmt.Errorf("a quoted name part may not be empty")
			}
			i = j
		} else {
			j := i
			for j < len(s) && s[j] != '.' {
				j++
			}
			raw := s[i:j]
			if raw == "" {
				return nil, fmt.Errorf("a name part is empty")
			}
			for k, r := range raw {
				ok := r == '_' || unicode.IsLetter(r) || k > 0 && (unicode.IsDigit(r) || r == '$')
				if !ok {
					return nil, fmt.Errorf("%q is not a plain identifier (character %q); put the part in double quotes if that is its real name", raw, r)
				}
			}
			part = foldIdentifier(raw)
			i = j
		}
		if len(part) > maxIdentifierLen {
			return nil, fmt.Errorf("%q is longer than PostgreSQL's %d-byte limit for names", part, maxIdentifierLen)
		}
		parts = append(parts, part)
		if i == len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("expected a dot after the quoted part at character %d", i+1)
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("the name ends with a dot")
		}
	}
}

// foldIdentifier lower-cases ASCII letters, as PostgreSQL does for unquoted
// identifiers in a UTF-8 database.
func foldIdentifier(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// quoteIdent quotes a catalog name for display when it would not survive
// being written unquoted.
func quoteIdent(s string) string {
	if parts, err := parseQualifiedName(s); err == nil && len(parts) == 1 && parts[0] == s {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
