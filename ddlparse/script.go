package ddlparse

import (
	"errors"
	"fmt"
	"strings"
)

// scriptMetaCommands are the psql meta-commands SplitScript skips: pg_dump
// writes \restrict KEY before its first statement and \unrestrict KEY after
// its last (since 17.6, 16.10, 15.14, 14.19 and 13.22), to stop a hostile
// server from smuggling meta-commands into the restore. Neither changes what
// the statements do.
var scriptMetaCommands = map[string]bool{"restrict": true, "unrestrict": true}

// SplitScript splits an SQL script meant for psql, such as the output of
// pg_dump, into statements. It is Split, except that the script may hold
// psql's \restrict and \unrestrict meta-commands, which are skipped: each is
// blanked (to the end of its line) before the script is parsed, so Offset
// still counts bytes of script, and a Text that spans the line holds blanks
// there. Any other meta-command (\connect, \i, \set ...) is a *ParseError:
// it would change what running the script does.
//
// A pg_dump script also holds statements that are not DDL: SET statements
// and SELECT pg_catalog.set_config(...), which configure the session the
// script runs in (Kind KindUtility, Tag "SET"; Kind KindQuery, Tag "SELECT").
func SplitScript(script string) ([]Statement, error) {
	// PostgreSQL's own parser finds the meta-commands: a backslash outside
	// literals, comments and quoted identifiers is never SQL, so parsing stops
	// there with a syntax error. (Scanning the script first does not work: the
	// scanner rejects \restrict's key when it starts with a digit.)
	b := []byte(script)
	for {
		stmts, err := Split(string(b))
		var perr *ParseError
		if err == nil || !errors.As(err, &perr) || perr.Position <= 0 {
			return stmts, err
		}
		start := byteOffset(script, perr.Position)
		if start < 0 || b[start] != '\\' {
			return nil, err
		}
		end := strings.IndexByte(script[start:], '\n')
		if end < 0 {
			end = len(script)
		} else {
			end += start
		}
		name := strings.TrimRight(script[start+1:end], "\r")
		if i := strings.IndexAny(name, " \t\\"); i >= 0 {
			name = name[:i]
		}
		if !scriptMetaCommands[name] {
			e := &ParseError{Message: fmt.Sprintf("psql meta-command \\%s is not supported (only \\restrict and \\unrestrict are skipped)", name)}
			setPosition(e, script, start)
			return nil, e
		}
		for i := start; i < end; i++ {
			if b[i] != '\r' {
				b[i] = ' '
			}
		}
	}
}

// byteOffset returns the byte offset of character pos (counting from 1) of
// s, or -1.
func byteOffset(s string, pos int) int {
	n := 0
	for i := range s {
		n++
		if n == pos {
			return i
		}
	}
	return -1
}
