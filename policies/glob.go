package policies

import (
	"fmt"
	"unicode/utf8"
)

// Table-name globs. The syntax is that of shell patterns, on the whole table
// name (a "/" is an ordinary character here, unlike path.Match):
//
//	*        any run of characters, possibly empty
//	?        exactly one character
//	[abc]    one of the characters; [a-z] a range; [!abc] or [^abc] none of them
//	\c       the character c itself (also inside [...])
//
// Matching is case-sensitive, on catalog names.

type globKind uint8

const (
	globLit globKind = iota
	globOne
	globStar
	globClass
)

type globTok struct {
	kind   globKind
	r      rune      // globLit
	neg    bool      // globClass
	ranges [][2]rune // globClass, inclusive
}

func (t globTok) matches(r rune) bool {
	switch t.kind {
	case globLit:
		return t.r == r
	case globOne:
		return true
	case globClass:
		in := false
		for _, rg := range t.ranges {
			if rg[0] <= r && r <= rg[1] {
				in = true
				break
			}
		}
		return in != t.neg
	}
	return false
}

// compileGlob parses pattern; the error says what is wrong and where.
func compileGlob(pattern string) ([]globTok, error) {
	if !utf8.ValidString(pattern) {
		return nil, fmt.Errorf("the pattern is not valid UTF-8")
	}
	p := []rune(pattern)
	var toks []globTok
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != globStar {
				toks = append(toks, globTok{kind: globStar})
			}
		case '?':
			toks = append(toks, globTok{kind: globOne})
		case '\\':
			if i+1 == len(p) {
				return nil, fmt.Errorf("the pattern ends with an escaping backslash; write \\\\ for a backslash")
			}
			i++
			toks = append(toks, globTok{kind: globLit, r: p[i]})
		case '[':
			tok, next, err := compileClass(p, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i = next
		default:
			toks = append(toks, globTok{kind: globLit, r: c})
		}
	}
	return toks, nil
}

// compileClass parses the class starting at p[start] == '[' and returns the
// index of its closing ']'.
func compileClass(p []rune, start int) (globTok, int, error) {
	tok := globTok{kind: globClass}
	i := start + 1
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		tok.neg = true
		i++
	}
	char := func() (rune, error) {
		if p[i] == '\\' {
			i++
			if i == len(p) {
				return 0, fmt.Errorf("character class opened at character %d is not closed by ]", start+1)
			}
		}
		r := p[i]
		i++
		return r, nil
	}
	for {
		if i >= len(p) {
			return tok, 0, fmt.Errorf("character class opened at character %d is not closed by ]", start+1)
		}
		if p[i] == ']' {
			if len(tok.ranges) == 0 {
				return tok, 0, fmt.Errorf("character class at character %d is empty", start+1)
			}
			return tok, i, nil
		}
		lo, err := char()
		if err != nil {
			return tok, 0, err
		}
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			i++
			if hi, err = char(); err != nil {
				return tok, 0, err
			}
			if hi < lo {
				return tok, 0, fmt.Errorf("range %c-%c in the character class at character %d is reversed", lo, hi, start+1)
			}
		}
		tok.ranges = append(tok.ranges, [2]rune{lo, hi})
	}
}

// globMatch reports whether name matches pattern as a whole. A malformed
// pattern matches nothing (patterns are validated at load).
func globMatch(pattern, name string) bool {
	toks, err := compileGlob(pattern)
	if err != nil {
		return false
	}
	s := []rune(name)
	ti, si := 0, 0
	starTok, starStr := -1, 0 // last * seen and where in s it started matching
	for si < len(s) {
		switch {
		case ti < len(toks) && toks[ti].kind == globStar:
			starTok, starStr = ti, si
			ti++
		case ti < len(toks) && toks[ti].matches(s[si]):
			ti++
			si++
		case starTok >= 0:
			// Let the last * swallow one more character and retry.
			starStr++
			si, ti = starStr, starTok+1
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].kind == globStar {
		ti++
	}
	return ti == len(toks)
}
