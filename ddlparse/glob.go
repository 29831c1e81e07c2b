package ddlparse

import "strings"

// MatchTag reports whether command tag tag matches pattern, a glob as the
// ddl allow/deny rules write them: "*" matches any run of characters,
// spaces included ("ALTER *" matches "ALTER TABLE" and "ALTER TEXT SEARCH
// DICTIONARY"; "*" matches everything). Case and runs of white space do not
// matter. There is no other wildcard.
func MatchTag(pattern, tag string) bool {
	p, t := normTag(pattern), normTag(tag)
	// Iterative glob: remember the last star and where its match ended.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case pi < len(p) && p[pi] == t[ti]:
			pi++
			ti++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// normTag upper-cases a tag and collapses white space, so "alter  table"
// and "ALTER TABLE" compare equal.
func normTag(t string) string { return strings.Join(strings.Fields(strings.ToUpper(t)), " ") }
