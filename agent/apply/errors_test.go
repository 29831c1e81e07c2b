package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
)

func pgErr(code, msg string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("apply east→west tx 0/1 (xid 1): update public.t: %w", err) }
	conflict := &ConflictError{Kind: KindInsertExists, Table: change.TableRef{Schema: "public", Name: "t"}, err: pgErr("23505", "duplicate key")}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"serialization failure", wrap(pgErr("40001", "could not serialize access")), true},
		{"deadlock", wrap(pgErr("40P01", "deadlock detected")), true},
		{"admin shutdown", wrap(pgErr("57P01", "terminating connection due to administrator command")), true},
		{"crash shutdown", pgErr("57P02", "terminating connection because of crash of another server process"), true},
		{"starting up", pgErr("57P03", "the database system is starting up"), true},
		{"too many connections", pgErr("53300", "sorry, too many clients already"), true},
		{"origin active", wrap(pgErr("55006", "replication origin with ID 1 is already active for PID 42")), true},
		{"cached plan", wrap(pgErr("0A000", "cached plan must not change result type")), true},
		{"other 0A000", wrap(pgErr("0A000", "cannot insert into a view")), false},
		{"connection failure class", pgErr("08006", "connection failure"), true},
		{"connection lost", wrap(fmt.Errorf("read results: %w (%w)", io.ErrUnexpectedEOF, errConnLost)), true},
		{"conn lost sentinel", wrap(errConnLost), true},
		{"eof", wrap(io.EOF), true},
		{"reset", wrap(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{"refused", wrap(syscall.ECONNREFUSED), true},
		{"net timeout", wrap(timeoutErr{}), true},
		{"deadline", wrap(context.DeadlineExceeded), true},
		{"connect error", wrap(&pgconn.ConnectError{}), true},
		{"canceled", wrap(context.Canceled), false},
		{"unique violation", wrap(pgErr("23505", "duplicate key value violates unique constraint")), false},
		{"conflict", wrap(conflict), false},
		{"undefined column", wrap(pgErr("42703", "column \"x\" does not exist")), false},
		{"bad value", wrap(pgErr("22P02", "invalid input syntax for type integer")), false},
		{"permission", wrap(pgErr("42501", "permission denied")), false},
		{"plain", errors.New("table public.t on node west has no column \"x\" (the source has it)"), false},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestConflictHelpers(t *testing.T) {
	if got := keyFromDetail("Key (a, b)=(1, x y) already exists."); got != "(a, b)=(1, x y)" {
		t.Errorf("keyFromDetail = %q", got)
	}
	if got := keyFromDetail("something else"); got != "something else" {
		t.Errorf("keyFromDetail = %q", got)
	}
	long := string(make([]byte, 300))
	if got := formatKey([]string{"a", "b", "c"}, []change.Value{v("1"), null, v(long)}); len(got) > 140 || got[:15] != "(a, b, c)=(1, n" {
		t.Errorf("formatKey = %q", got)
	}
	for _, c := range []struct {
		op   change.Op
		rows int64
		err  error
		want string
	}{
		{change.Insert, 0, pgErr("23505", "dup"), KindInsertExists},
		{change.Update, 0, pgErr("23505", "dup"), KindUpdateExists},
		{change.Update, 0, nil, KindUpdateMissing},
		{change.Update, 1, nil, ""},
		{change.Delete, 0, nil, KindDeleteMissing},
		{change.Delete, 1, nil, ""},
		{change.Insert, 0, pgErr("23502", "not null"), ""},
	} {
		if got := detect(c.op, c.rows, c.err); got != c.want {
			t.Errorf("detect(%s, %d, %v) = %q, want %q", c.op, c.rows, c.err, got, c.want)
		}
	}
	if resolve(policyFail, KindDeleteMissing) != resolveSkip || resolve(policyFail, KindUpdateMissing) != resolveFail {
		t.Error("resolve under fail")
	}
	if OriginName("shop", "east") != "pgduet_shop_east" {
		t.Error("OriginName")
	}
}
