package localpg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// pollEvery is how often a condition is re-read while waiting. It paces the polling;
// correctness never depends on it.
const pollEvery = 20 * time.Millisecond

// WaitFor polls cond until it returns true, an error, or ctx ends.
func WaitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// InsertLSN returns the source's current WAL insert position: every transaction
// that committed before the call ends at or before it.
func InsertLSN(ctx context.Context, src *pgx.Conn) (pglogrepl.LSN, error) {
	var s string
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&s); err != nil {
		return 0, err
	}
	return pglogrepl.ParseLSN(s)
}

// OriginProgress returns the replication origin's progress on dst (0 when the
// origin does not exist yet or has no progress).
func OriginProgress(ctx context.Context, dst *pgx.Conn, origin string) (pglogrepl.LSN, error) {
	var s *string
	err := dst.QueryRow(ctx, `SELECT pg_replication_origin_progress($1, false)::text
		WHERE EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = $1)`, origin).Scan(&s)
	if err == pgx.ErrNoRows || s == nil {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return pglogrepl.ParseLSN(*s)
}

// Barrier makes sure that everything committed on src before the call has been
// applied on dst: it reads src's WAL insert position L, runs marker on src (a
// write to a replicated table, so some transaction ends after L), and waits until
// dst's origin progress passes L. Because the peer applies in commit order,
// progress > L means every transaction that ended at or before L is applied.
func Barrier(ctx context.Context, src, dst *pgx.Conn, origin, marker string) error {
	l, err := InsertLSN(ctx, src)
	if err != nil {
		return fmt.Errorf("barrier: read source position: %w", err)
	}
	if _, err := src.Exec(ctx, marker); err != nil {
		return fmt.Errorf("barrier: marker %q: %w", marker, err)
	}
	return WaitFor(ctx, fmt.Sprintf("origin %s past %s", origin, l), func(ctx context.Context) (bool, error) {
		p, err := OriginProgress(ctx, dst, origin)
		return p > l, err
	})
}
