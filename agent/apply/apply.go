package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
)

// Config configures one direction's applier on the receiving node.
type Config struct {
	ConnString string // normal connection string of the local (receiving) database
	Pair       string
	Node       string       // the local node (the receiver)
	Peer       string       // the node whose changes are applied; the origin is named after it
	Logger     *slog.Logger // nil: discard; the applier adds "origin", the caller's logger should carry node, peer and direction
	DDL        *DDLRules    // what to do with DDL from the peer; nil: the peer sends none
	// Policy returns the conflict policy of a local table (SPEC §7): "fail",
	// "ignore" or "overwrite". nil: fail everywhere.
	Policy func(t change.TableRef) string
	// FoldedNames is the peer's names.case when the peer names tables and
	// columns by folding this node's names (this node is the DDL source,
	// and the peer does not know its original spelling): a table the peer
	// names that does not exist here under that exact name is the one
	// table of the same schema whose folded name it is, and likewise for
	// columns. nil: names are exact.
	FoldedNames func(string) string
}

// OriginName is the replication origin that records, on the receiving node, how
// far the changes of node from have been applied: pgduet_<pair>_<from>.
func OriginName(pair, from string) string { return "pgduet_" + pair + "_" + from }

// OpCounts counts by operation. For Truncate it counts tables truncated.
type OpCounts struct {
	Insert, Update, Delete, Truncate uint64
}

// Total is the sum over all operations.
func (c OpCounts) Total() uint64 { return c.Insert + c.Update + c.Delete + c.Truncate }

// Stats are the applier's counters since New. Everything counts committed work
// only, except TxFailed, Conflicts and RoundTrips.
type Stats struct {
	TxApplied          uint64            // source transactions committed locally
	TxSkipped          uint64            // transactions at or below the progress: already applied, no-ops
	TxFailed           uint64            // Apply calls that returned an error (rolled back)
	TxGroups           uint64            // local transactions that each committed several source transactions (ApplyGroup)
	RowsBatched        uint64            // rows (of RowsApplied) written by set-based statements
	TxSpilled          uint64            // transactions (of TxApplied) applied window by window from a spill file
	RowsApplied        OpCounts          // rows written, by operation
	DeleteMissing      uint64            // DELETEs that found no row (skipped, logged)
	Conflicts          map[string]uint64 // conflicts that failed a transaction, by kind
	DDLApplied         uint64            // DDL statements replayed (in committed and failed transactions alike)
	DDLSkipped         map[string]uint64 // DDL events not replayed, by kind (ddl_denied, ddl_unselected, ...)
	Outcomes           map[string]uint64 // every conflict and DDL event recorded, by "kind/resolution" (delete_missing/skipped, insert_exists/stopped, ...)
	RoundTrips         uint64            // waits for the local server (catalog reads, pipelines, COMMIT/ROLLBACK, Open/Close)
	StatementsPrepared uint64            // distinct statements built (each prepared once per connection)
	LastEndLSN         change.LSN        // end LSN of the last committed source transaction
	LastCommitTime     time.Time         // its source commit time
	LastAppliedAt      time.Time         // local wall-clock time it committed
}

// Applier applies one peer's transactions to the local database (DESIGN.md §4).
// Apply, Open and Close belong to one goroutine; Progress and Stats may be called
// from any.
type Applier struct {
	cfg       Config
	log       *slog.Logger
	origin    string
	direction string // east→west: Peer→Node

	conn   *pgx.Conn
	tables map[change.TableRef]*table
	// base is the index in its transaction of the first change of the
	// window being applied (applySpilled); 0 otherwise.
	base int

	stmtSeq   uint64                  // statement names: pgduet_apply_<n>
	stmtClock uint64                  // LRU clock
	stmtCount int                     // statements in the tables' maps
	closing   []string                // prepared statements to deallocate at the start of the next pipeline
	skips     map[skipKey]skipRequest // events a DBA asked to skip (pgduet.skip), read at Open
	stopped   map[change.LSN]bool     // source transactions that stopped the direction (pgduet.conflicts), marked applied_on_retry when they commit
	grouped   bool                    // apply is running a merged group (ApplyGroup): anything but a clean commit is errUngroup
	noBatch   bool                    // one statement per change: the retry after errBatch
	roles     map[string]bool         // roles known to exist here (DDL replays as its source role)
	warned    map[string]*warnState   // rate limit of conflict warnings, per table and kind
	savepoint bool                    // the open transaction has SAVEPOINT pgduet_pass
	txTime    []byte                  // the transaction being applied: its source commit time, as last_write_wins compares it
	pruned    time.Time               // when pgduet.tombstones was last pruned (pruneTombstones)

	statsMu  sync.Mutex
	progress change.LSN
	stats    Stats
}

// New returns an applier for cfg. It does no I/O; Open connects.
func New(cfg Config) *Applier {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	direction := cfg.Peer + "→" + cfg.Node
	return &Applier{
		cfg:       cfg,
		log:       log.With("origin", OriginName(cfg.Pair, cfg.Peer)), // the caller's logger carries node, peer and direction
		origin:    OriginName(cfg.Pair, cfg.Peer),
		direction: direction,
		stats:     Stats{Conflicts: map[string]uint64{}, DDLSkipped: map[string]uint64{}, Outcomes: map[string]uint64{}},
	}
}

// sessionSQL makes the apply session behave like PostgreSQL's own apply worker:
// user triggers and foreign-key triggers off (session_replication_role =
// replica), an empty search_path so no user object can redirect what runs,
// the date, interval and float styles PostgreSQL's subscriber asks its publisher
// for, so the text values in comparisons print the same way on every run, and
// READ COMMITTED whatever the database's default: last_write_wins relies on
// each statement seeing what concurrent local transactions committed.
//
// Durability: the transport acks a transaction as soon as Apply returns, and the
// source slot is then confirmed past it, so COMMIT must be durable on this node
// when it returns. A database or role set to synchronous_commit = off would let
// a crash lose acked transactions that the slot no longer holds; such a setting
// is raised to local (flush this node's WAL). Stricter settings (on,
// remote_write, remote_apply) are kept.
const sessionSQL = `SET session_replication_role = replica;
SET search_path = '';
SET datestyle = 'ISO';
SET intervalstyle = 'postgres';
SET extra_float_digits = 3;
SET standard_conforming_strings = on;
SET array_nulls = on;
SET default_transaction_isolation = 'read committed';
SELECT pg_catalog.set_config('synchronous_commit', 'local', false) WHERE pg_catalog.current_setting('synchronous_commit') = 'off'`

// Open connects to the local database, prepares the session (see sessionSQL),
// creates the origin if it does not exist (race-safe), binds the session to it
// (pg_replication_origin_session_setup), and returns its progress: the end LSN of
// the last source transaction committed here (0/0 for a new origin), flushed to
// disk before it is returned. That is where the peer must resume.
//
// An origin can be bound to one session at a time: while an old connection is
// not gone yet, Open fails with a retryable error (SQLSTATE 55006) that says so.
// Open may be called again after Close.
func (a *Applier) Open(ctx context.Context) (progress change.LSN, err error) {
	if a.conn != nil {
		return 0, fmt.Errorf("apply %s: already open", a.direction)
	}
	if a.cfg.Pair == "" || a.cfg.Node == "" || a.cfg.Peer == "" {
		return 0, fmt.Errorf("apply %s: Config needs Pair, Node and Peer", a.direction)
	}
	pcfg, err := pgx.ParseConfig(a.cfg.ConnString)
	if err != nil {
		return 0, fmt.Errorf("apply %s: connection string of node %s: %w", a.direction, a.cfg.Node, err)
	}
	// No statement caching by pgx: the only prepared statements on this
	// connection are ours, and every pgx query is one round trip.
	pcfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	pcfg.StatementCacheCapacity = 0
	pcfg.DescriptionCacheCapacity = 0
	if pcfg.RuntimeParams["application_name"] == "" {
		pcfg.RuntimeParams["application_name"] = "pgduet apply " + a.cfg.Peer + "->" + a.cfg.Node
	}
	a.roundTrip()
	conn, err := pgx.ConnectConfig(ctx, pcfg)
	if err != nil {
		return 0, fmt.Errorf("apply %s: connect to node %s: %w", a.direction, a.cfg.Node, err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close(context.Background())
		}
	}()

	a.roundTrip()
	if _, err := conn.Exec(ctx, sessionSQL); err != nil {
		return 0, fmt.Errorf("apply %s: session settings on node %s (session_replication_role = replica needs a superuser or GRANT SET ON PARAMETER session_replication_role): %w",
			a.direction, a.cfg.Node, err)
	}
	// Two agents (or an old and a new session) may race to create it: the loser
	// gets a unique violation on pg_replication_origin and the origin exists.
	a.roundTrip()
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_replication_origin_create($1)
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)`, a.origin); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			return 0, fmt.Errorf("apply %s: create replication origin %s on node %s: %w", a.direction, a.origin, a.cfg.Node, err)
		}
	}
	a.roundTrip()
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_replication_origin_session_setup($1)", a.origin); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55006" {
			return 0, fmt.Errorf("apply %s: replication origin %s on node %s is already active in another session (an old apply connection not yet gone?): %w",
				a.direction, a.origin, a.cfg.Node, err)
		}
		return 0, fmt.Errorf("apply %s: set up replication origin %s on node %s: %w", a.direction, a.origin, a.cfg.Node, err)
	}
	a.roundTrip()
	var s *string
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_replication_origin_session_progress(true)::text").Scan(&s); err != nil {
		return 0, fmt.Errorf("apply %s: read the progress of origin %s on node %s: %w", a.direction, a.origin, a.cfg.Node, err)
	}
	if s != nil {
		if progress, err = pglogrepl.ParseLSN(*s); err != nil {
			return 0, fmt.Errorf("apply %s: progress of origin %s: %w", a.direction, a.origin, err)
		}
	}

	a.conn = conn
	if err := a.loadSkips(ctx); err != nil {
		a.conn = nil
		return 0, fmt.Errorf("apply %s: %w", a.direction, err)
	}
	ok = true
	a.tables = map[change.TableRef]*table{}
	a.stmtCount, a.closing = 0, nil // statements lived on the previous connection
	a.statsMu.Lock()
	a.progress = progress
	a.statsMu.Unlock()
	a.log.Info("apply session open", "lsn", progress)
	return progress, nil
}

// Progress is the end LSN of the last source transaction committed locally (the
// origin's progress as of Open, advanced by every successful Apply).
func (a *Applier) Progress() change.LSN {
	a.statsMu.Lock()
	defer a.statsMu.Unlock()
	return a.progress
}

// Stats returns a copy of the counters.
func (a *Applier) Stats() Stats {
	a.statsMu.Lock()
	defer a.statsMu.Unlock()
	s := a.stats
	s.Conflicts = maps.Clone(a.stats.Conflicts)
	s.DDLSkipped = maps.Clone(a.stats.DDLSkipped)
	s.Outcomes = maps.Clone(a.stats.Outcomes)
	return s
}

func (a *Applier) roundTrip() {
	a.statsMu.Lock()
	a.stats.RoundTrips++
	a.statsMu.Unlock()
}

// Close releases the origin (pg_replication_origin_session_reset) and closes the
// connection. Ending the session would release the origin too; resetting it first
// lets a new session bind it at once. Close on a closed applier does nothing.
func (a *Applier) Close(ctx context.Context) error {
	if a.conn == nil {
		return nil
	}
	conn := a.conn
	a.conn, a.tables, a.stmtCount, a.closing = nil, nil, 0, nil
	var resetErr error
	if !conn.IsClosed() {
		a.roundTrip()
		if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_replication_origin_session_reset()"); err != nil {
			resetErr = fmt.Errorf("apply %s: reset replication origin session: %w", a.direction, err)
		}
	}
	if err := conn.Close(ctx); err != nil {
		return errors.Join(resetErr, fmt.Errorf("apply %s: close: %w", a.direction, err))
	}
	a.log.Info("apply session closed", "lsn", a.Progress())
	return resetErr
}

// breakConn closes a connection whose state is unknown (an interrupted pipeline
// or COMMIT). The server rolls back whatever was open and releases the origin
// when the session ends; the next Apply says the connection is lost.
func (a *Applier) breakConn() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.conn.PgConn().Close(ctx)
}

// prefix starts every error of a transaction: apply east→west tx 0/1A2B3C8 (xid 7421).
func (a *Applier) prefix(tx *change.Tx) string {
	return fmt.Sprintf("apply %s tx %s (xid %d)", a.direction, tx.EndLSN, tx.Xid)
}
