package apply

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// errConnLost is returned when the local connection is gone (or was broken by an
// earlier failure): the applier must be closed and opened again, which reads the
// origin progress and so tells whether an interrupted COMMIT happened.
var errConnLost = errors.New("connection to the local database lost; Close and Open again")

// errNotOpen is returned by Apply before Open (or after Close).
var errNotOpen = errors.New("not open")

// Retryable reports whether err is transient, so that the whole session may be
// restarted from the durable origin progress (DESIGN.md §5): a lost or refused
// connection, pgconn.SafeToRetry, a timeout, a serialization failure or deadlock
// (40001, 40P01), an administrator or crash shutdown (57P01, 57P02, 57P03), too
// many connections (53300), an origin or slot still active in an old session
// (55006), and "cached plan must not change result type" (0A000) after DDL.
//
// Conflicts are never retryable: they wait for a DBA (or, later, a policy).
// Everything else (a missing table or column, a bad value, a permission) is
// permanent; the supervisor still retries those within retry.other.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var ce *ConflictError
	if errors.As(err, &ce) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false // we are being stopped, not failing
	}
	if errors.Is(err, errConnLost) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return retryableCode(pgErr)
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // refused, unreachable, TLS or authentication: retried within retry.connection
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

func retryableCode(e *pgconn.PgError) bool {
	switch e.Code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now (starting up, shutting down)
		"53300", // too_many_connections
		"55006": // object_in_use: replication origin or slot active in another session
		return true
	case "0A000": // feature_not_supported: only the plan-cache case is transient
		return strings.Contains(e.Message, "cached plan must not change result type")
	}
	return strings.HasPrefix(e.Code, "08") // connection_exception class
}

// isCachedPlanChange reports the 0A000 that follows DDL on a table a prepared
// statement reads: the statement cache must be dropped and the transaction retried.
func isCachedPlanChange(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "0A000" &&
		strings.Contains(pgErr.Message, "cached plan must not change result type")
}
