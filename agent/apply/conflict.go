package apply

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
)

// Conflict kinds (SPEC §7). They are the values of ConflictError.Kind and the
// keys of Stats.Conflicts.
const (
	KindInsertExists  = "insert_exists"  // an INSERT hit an existing primary or unique key
	KindUpdateMissing = "update_missing" // an UPDATE found no row for its old key
	KindUpdateExists  = "update_exists"  // an UPDATE's new values collide with another row's unique key
	KindDeleteMissing = "delete_missing" // a DELETE found no row: skipped under every policy
	// last_write_wins only: the local row is newer than the remote change,
	// which is left out (resolution kept_local).
	KindUpdateOlder = "update_older" // an UPDATE older than the row it would change
	KindDeleteOlder = "delete_older" // a DELETE older than the row it would delete
)

// ConflictError is a change that could not be applied as it is because of the
// local data. Under the fail policy Apply returns it (wrapped, so use errors.As)
// with the local transaction rolled back and the origin progress unchanged:
// nothing of that source transaction is applied, and resuming after the DBA has
// fixed the data retries it exactly there.
type ConflictError struct {
	Kind   string          // KindInsertExists, KindUpdateMissing, KindUpdateExists
	Table  change.TableRef // the source's table name
	Key    string          // the conflicting key as PostgreSQL prints it: (id)=(42)
	Detail string          // what the server said, or why the row was not found
	Op     change.Op
	EndLSN change.LSN // the source transaction's end LSN
	Xid    uint32     // the source transaction's xid
	// Statement is the DDL statement of a ddl_unsupported event (Table, Key
	// and Op are empty then).
	Statement string

	err error // the server's error, when there was one (23505)
	seq int   // DDL events: the change index of the event's first queue row
}

func (e *ConflictError) Error() string {
	if e.Statement != "" {
		return fmt.Sprintf("%s: %s; statement: %s", e.Kind, e.Detail, e.Statement)
	}
	return fmt.Sprintf("%s %s: %s conflict, key %s: %s", e.Op, e.Table, e.Kind, e.Key, e.Detail)
}

// Unwrap returns the server's error behind the conflict, if any.
func (e *ConflictError) Unwrap() error { return e.err }

// policy is a table's conflict policy (SPEC §7); a policy that resolves a conflict by writing something else does it
// at the change's position (resolve.go), and a statement whose collision is an
// outcome rather than an error (INSERT ... ON CONFLICT DO NOTHING) keeps the
// conflict-free path one pipeline.
type policy string

const (
	policyFail      policy = "fail"
	policyIgnore    policy = "ignore"
	policyOverwrite policy = "overwrite"
	policyLWW       policy = "last_write_wins"
)

// resolution is what a detected conflict does to its transaction.
type resolution uint8

const (
	resolveFail  resolution = iota // roll back, return a ConflictError
	resolveSkip                    // log, count, go on; the transaction still commits
	resolveWrite                   // look again at its position, and write something else there (overwrite, last_write_wins)
)

// resolve decides what a conflict of kind does under policy p.
func resolve(p policy, kind string) resolution {
	switch {
	case p == policyLWW:
		// A row count of 0 is either the conflict or a newer local row (the
		// statements compare versions): looked at in place. A DELETE that
		// found no row is still delete_missing, skipped.
		return resolveWrite
	case kind == KindDeleteMissing:
		return resolveSkip // SPEC §7: skipped (and logged) under every policy
	}
	switch p {
	case policyIgnore:
		return resolveSkip
	case policyOverwrite:
		return resolveWrite
	}
	return resolveFail // fail, and any policy this version does not know
}

// detect maps one applied statement's outcome to a conflict kind ("" for none).
// rows is the statement's row count when err is nil.
func detect(op change.Op, rows int64, err error) string {
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
			switch op {
			case change.Insert:
				return KindInsertExists
			case change.Update:
				return KindUpdateExists
			}
		}
		return ""
	}
	if rows == 0 {
		switch op {
		case change.Insert: // INSERT ... ON CONFLICT DO NOTHING
			return KindInsertExists
		case change.Update:
			return KindUpdateMissing
		case change.Delete:
			return KindDeleteMissing
		}
	}
	return ""
}

// keyFromDetail extracts "(id)=(42)" from a unique violation's detail
// "Key (id)=(42) already exists.".
func keyFromDetail(detail string) string {
	k, ok := strings.CutPrefix(detail, "Key ")
	if !ok {
		return detail
	}
	if i := strings.LastIndex(k, " already exists"); i >= 0 {
		k = k[:i]
	}
	return k
}

// maxKeyValue caps each value printed in a key, so a large old row does not end
// up whole in an error message or a log line.
const maxKeyValue = 100

// formatKey prints columns and values the way PostgreSQL prints a key:
// (a, b)=(1, x). NULL prints as null.
func formatKey(names []string, vals []change.Value) string {
	var b strings.Builder
	b.WriteByte('(')
	b.WriteString(strings.Join(names, ", "))
	b.WriteString(")=(")
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		switch v.Kind {
		case change.Null:
			b.WriteString("null")
		case change.Unchanged:
			b.WriteString("<unchanged>")
		default:
			s := string(v.Data)
			if len(s) > maxKeyValue {
				s = s[:maxKeyValue] + "…"
			}
			b.WriteString(s)
		}
	}
	b.WriteByte(')')
	return b.String()
}
