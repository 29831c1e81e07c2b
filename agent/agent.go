package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgduet/pgduet/agent/alert"
	"github.com/pgduet/pgduet/agent/capture"
	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/initial"
	"github.com/pgduet/pgduet/agent/throttle"
	"github.com/pgduet/pgduet/agent/transport"
	"github.com/pgduet/pgduet/ddlparse"
	"github.com/pgduet/pgduet/policies"
	pgsql "github.com/pgduet/pgduet/sql"
)

// Options tune an agent beyond the config. The zero value is production's.
type Options struct {
	Logger *slog.Logger
	// BackoffMin and BackoffMax bound the supervisor's retry delay (defaults 500ms and 30s).
	BackoffMin, BackoffMax time.Duration
	// StatusInterval and HeartbeatInterval are passed to capture (defaults 10s).
	StatusInterval, HeartbeatInterval time.Duration
	// Knobs are test injection points; production leaves them nil.
	Knobs Knobs
}

// Knobs let tests reach the moments that matter for the guarantees.
type Knobs struct {
	// AfterApplyCommit runs on the receiving side after a transaction and its origin
	// progress committed locally and before the ack is sent. An error returned here
	// ends the session without the ack, as a crash at that moment would.
	AfterApplyCommit func(tx *change.Tx) error
	// CopySplitBytes, when non-zero, replaces initial.DefaultSplitBytes (so
	// that small test tables are copied in parts).
	CopySplitBytes int64
	// AfterCopyPart runs on the receiving node after each part of the initial
	// copy committed; an error ends that attempt there, as a crash would.
	AfterCopyPart func(schema, name string, part, parts int) error
	// SpillBytes, when non-zero, replaces the threshold past which one
	// transaction's changes go to a spill file, on both the sending
	// (capture) and the receiving (transport) side.
	SpillBytes int
}

// Agent is one node's agent. New validates and prepares; Run does all the I/O.
type Agent struct {
	cfg        *policies.Config
	node, peer *policies.Node
	opts       Options
	log        *slog.Logger
	connString string
	digest     string
	serverTLS  *tls.Config
	clientTLS  *tls.Config
	filter     *selectionFilter

	out, in *direction

	inMu   sync.Mutex
	inSess *inSession // the inbound session holding the origin, if any

	initial *initial.Progress // the initial sync's progress (receiving node)
	alerts  *alert.Notifier   // the alert webhook; nil when alerts are off
	shipLim *throttle.Limiter // throttle "incremental" of the outbound stream; nil: unlimited
	syncing atomic.Bool       // the initial sync runs: the peer's stream is refused

	ready       chan struct{}                   // closed once the local database is set up
	cur         atomic.Pointer[capture.Capture] // the outbound session's capture, for status
	retainedWAL atomic.Int64                    // bytes the local slot retains (monitor)
}

// New prepares the agent for the named node. It does no I/O beyond reading TLS
// files; every error names the node and what to fix.
func New(cfg *policies.Config, nodeName string, opts Options) (*Agent, error) {
	node, err := cfg.Node(nodeName)
	if err != nil {
		return nil, err
	}
	peer := cfg.Peer(node.Name)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BackoffMin == 0 {
		opts.BackoffMin = 500 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 30 * time.Second
	}
	log := opts.Logger.With("node", node.Name, "peer", peer.Name)
	cs, err := node.Database.ConnString()
	if err != nil {
		return nil, fmt.Errorf("node %s: database: %w", node.Name, err)
	}
	a := &Agent{
		cfg:        cfg,
		node:       node,
		peer:       peer,
		opts:       opts,
		log:        log,
		connString: cs,
		digest:     cfg.Digest(),
		ready:      make(chan struct{}),
		initial:    &initial.Progress{},
		out:        newDirection(node.Name, peer.Name, "send", log),
		in:         newDirection(peer.Name, node.Name, "receive", log),
	}
	a.filter = newSelectionFilter(cfg, node.Name, log)
	inc := cfg.Throttle.Incremental
	a.shipLim = throttle.New(throttle.Limits{RowsPerSecond: inc.RowsPerSecond, BytesPerSecond: inc.MBPerSecond * 1e6})
	if cfg.Alert != nil {
		a.alerts = alert.New(alert.Config{Webhook: cfg.Alert.Webhook, LagThreshold: cfg.Alert.LagThreshold,
			Pair: cfg.Pair.Name, Node: node.Name, Logger: log})
		notify := func(dir string, s State, err error) {
			switch s {
			case StateFailed:
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				a.alerts.Failed(dir, msg)
			case StateRunning:
				a.alerts.Recovered(dir)
			}
		}
		a.out.onState, a.in.onState = notify, notify
	}
	if !node.Agent.Insecure {
		t := node.Agent.TLS
		if a.serverTLS, err = transport.ServerTLS(t.CAFile, t.CertFile, t.KeyFile, peer.Name); err != nil {
			return nil, fmt.Errorf("node %s: agent tls: %w", node.Name, err)
		}
		host, _, err := net.SplitHostPort(peer.Agent.Address)
		if err != nil {
			return nil, fmt.Errorf("node %s: peer %s agent address %q: %w", node.Name, peer.Name, peer.Agent.Address, err)
		}
		if a.clientTLS, err = transport.ClientTLS(t.CAFile, t.CertFile, t.KeyFile, host); err != nil {
			return nil, fmt.Errorf("node %s: agent tls: %w", node.Name, err)
		}
	}
	return a, nil
}

// Run sets up the local database (idempotently), then serves the inbound
// direction and runs the outbound one until ctx ends. It returns an error only
// when the local database cannot be set up (after retrying connection errors
// within retry.connection) or the peer-facing port cannot be bound; failures of
// a direction later on are kept in its state (Status) and retried as the config
// says, while the other direction goes on.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent starting", "database", a.node.Database.Redacted(), "listen", a.node.Agent.Listen, "peer_address", a.peer.Agent.Address, "config_digest", a.digest)
	if err := a.setupLocal(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	sync, err := a.needsInitialSync(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("node %s: database %s: initial sync state: %w", a.node.Name, a.node.Database.Redacted(), err)
	}
	a.syncing.Store(sync)
	var source transport.Source
	if a.node.Name == a.cfg.Pair.DDLSource {
		source = initial.NewSource(a.cfg, a.node, a.connString, a.log)
	}
	srv := transport.NewServer(transport.ServerConfig{
		Listen: a.node.Agent.Listen,
		TLS:    a.serverTLS,
		Pair:   a.cfg.Pair.Name,
		Node:   a.node.Name,
		Peer:   a.peer.Name,
		Digest: a.digest,
		Logger: a.log,
		Source: source,
		// Spill files go to os.TempDir(): $TMPDIR, else /tmp.
		SpillBytes: a.opts.Knobs.SpillBytes,
	}, a)
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("node %s: listen for peer %s on %s: %w", a.node.Name, a.peer.Name, a.node.Agent.Listen, err)
	}
	close(a.ready)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error {
		a.supervise(gctx, a.out, a.sendSession)
		return nil
	})
	g.Go(func() error {
		a.monitor(gctx)
		return nil
	})
	g.Go(func() error {
		a.alerts.Run(gctx)
		return nil
	})
	if sync {
		g.Go(func() error {
			a.initialSync(gctx)
			return nil
		})
	}
	err = g.Wait()
	a.closeInbound()
	a.log.Info("agent stopped")
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Ready is closed once Run has set up the local database (schema, publication,
// slot: from then on every local commit is captured) and listens for the peer.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// setupLocal installs pgduet's schema, publication and slot on the local
// database, retrying connection errors within retry.connection.
func (a *Agent) setupLocal(ctx context.Context) error {
	b := backoff{min: a.opts.BackoffMin, max: a.opts.BackoffMax}
	start := time.Now()
	for {
		err := a.setupOnce(ctx)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("node %s: database %s: %w", a.node.Name, a.node.Database.Redacted(), err)
		if ctx.Err() != nil {
			return err
		}
		if classify(err) != classConnection || time.Since(start) >= a.cfg.Retry.Connection {
			return err // permanent and "other" errors: retrying at start-up would only hide them
		}
		a.log.Warn("database setup failed; retrying", "err", err, "retry_window", a.cfg.Retry.Connection)
		t := time.NewTimer(b.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (a *Agent) setupOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, a.connString)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := checkServer(ctx, conn); err != nil {
		return err
	}
	if _, err := pgsql.Install(ctx, conn); err != nil {
		return err
	}
	if err := prepareDDL(ctx, conn, a.cfg, a.node.Name); err != nil {
		return err
	}
	if err := prepareLWW(ctx, conn, a.cfg, a.node.Name); err != nil {
		return err
	}
	if err := checkFolds(ctx, conn, a.cfg, a.node.Name); err != nil {
		return err
	}
	if err := checkTableBlocks(ctx, conn, a.cfg, a.node.Name, a.log); err != nil {
		return err
	}
	if err := capture.Setup(ctx, conn, a.connString, a.cfg.Pair.Name, a.node.Name,
		a.cfg.PublicationSchemasOn(a.node.Name), publicationTables(a.cfg, a.node.Name)); err != nil {
		return err
	}
	return nil
}

// checkServer refuses a server pgduet cannot run on, saying what to change
// (SPEC §10). These errors are permanent: run exits at once.
func checkServer(ctx context.Context, conn *pgx.Conn) error {
	var walLevel, user string
	var version int
	var super bool
	err := conn.QueryRow(ctx, `SELECT current_setting('wal_level'), current_setting('server_version_num')::int,
		current_user, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)`).Scan(&walLevel, &version, &user, &super)
	if err != nil {
		return fmt.Errorf("check server: %w", err)
	}
	switch {
	case version < 140000:
		return permanent(fmt.Errorf("PostgreSQL %d.%d is too old: pgduet needs PostgreSQL 14 or newer", version/10000, version%10000))
	case walLevel != "logical":
		return permanent(fmt.Errorf("wal_level is %q, pgduet needs logical: run ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL", walLevel))
	case !super:
		return permanent(fmt.Errorf("role %q is not a superuser: pgduet's role needs SUPERUSER (publications for whole schemas, replication origins and session_replication_role require it)", user))
	}
	return nil
}

// sendSession is one outbound session: dial the peer, learn where to resume,
// stream captured transactions, and feed the peer's acks back to capture.
func (a *Agent) sendSession(ctx context.Context) (bool, error) {
	stream, err := transport.Dial(ctx, transport.ClientConfig{
		Address: a.peer.Agent.Address,
		TLS:     a.clientTLS,
		Hello:   transport.Hello{Pair: a.cfg.Pair.Name, From: a.node.Name, To: a.peer.Name, Digest: a.digest},
		Logger:  a.log,
	})
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.out.name, err)
	}
	defer stream.Close()
	resume := stream.Resume()
	a.log.Info("peer accepted stream", "direction", a.out.name, "resume_lsn", resume)
	c := capture.New(capture.Config{
		ConnString: a.connString,
		Pair:       a.cfg.Pair.Name,
		Node:       a.node.Name,
		Peer:       a.peer.Name,
		Filter:     a.filter.keep,
		Map:        a.mapTable,
		Columns:    a.columns,
		Where: func(t change.TableRef) (string, []string) {
			expr := a.cfg.WhereOn(a.node.Name, t.Schema, t.Name)
			if expr == "" {
				return "", nil
			}
			cols, _ := ddlparse.FilterColumns(expr) // checked at start (checkWhere)
			return expr, cols
		},
		DDL:               captureDDLMode(a.cfg, a.node.Name),
		StatusInterval:    a.opts.StatusInterval,
		HeartbeatInterval: a.opts.HeartbeatInterval,
		SpillBytes:        a.opts.Knobs.SpillBytes,
		Logger:            a.log,
	})
	a.cur.Store(c)
	a.out.resetPending()
	defer a.out.resetPending()
	a.out.setState(StateRunning, nil)
	var progressed atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Run(gctx, resume) })
	g.Go(func() error {
		<-gctx.Done()
		stream.Close()
		return nil
	})
	g.Go(func() error {
		for {
			tx, err := c.Next(gctx)
			if err != nil {
				return err
			}
			if err := a.shipLim.Wait(gctx, int64(tx.Len()), int64(tx.Size()), 0); err != nil {
				tx.Release()
				return err
			}
			a.out.queue(tx)
			err = stream.Send(gctx, tx)
			tx.Release() // on the wire: a stream that fails starts again from the slot
			if err != nil {
				return err
			}
		}
	})
	g.Go(func() error {
		for lsn := range stream.Acks() {
			// Acks that have arrived meanwhile are taken together: each
			// covers every transaction before it.
		drain:
			for {
				select {
				case l, ok := <-stream.Acks():
					if !ok {
						break drain
					}
					lsn = l
				default:
					break drain
				}
			}
			c.Ack(lsn)
			a.out.acked(lsn)
			if !progressed.Swap(true) {
				a.out.healthy()
			}
		}
		if err := stream.Err(); err != nil {
			return err
		}
		return errors.New("peer closed the stream")
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return progressed.Load(), nil
	}
	return progressed.Load(), fmt.Errorf("%s: %w", a.out.name, err)
}

// mapTable names a local table as the peer does (SPEC §4 target).
func (a *Agent) mapTable(t change.TableRef) change.TableRef {
	s, n := a.cfg.MapTable(a.node.Name, t.Schema, t.Name)
	return change.TableRef{Schema: s, Name: n}
}

// columns is capture's column selection: a table block's column subset and
// renames, in this node's names (nil: every column as it is).
func (a *Agent) columns(t change.TableRef) func(string) (string, bool) {
	m, ok := a.cfg.ColumnsOn(a.node.Name, t.Schema, t.Name)
	if !ok {
		return nil
	}
	return m.Map
}

// Status reports both directions.
func (a *Agent) Status() Status {
	out, in := a.out.status(), a.in.status()
	if c := a.cur.Load(); c != nil {
		st := c.Stats()
		out.Skipped = int64(st.ChangesFiltered)
		out.DDLIgnored = int64(st.DDLIgnored)
		out.Spilled = int64(st.TxSpilled)
		if st.ServerWALEnd > st.ConfirmedLSN {
			out.LagBytes = int64(st.ServerWALEnd - st.ConfirmedLSN)
		}
	}
	out.RetainedWAL = a.retainedWAL.Load()
	a.inMu.Lock()
	if a.inSess != nil {
		st := a.inSess.ap.Stats()
		in.DeleteMissing = int64(st.DeleteMissing)
		in.Spilled = int64(st.TxSpilled)
		in.DDLApplied = int64(st.DDLApplied)
		in.DDLSkipped = counts(st.DDLSkipped)
		in.Conflicts = counts(st.Outcomes)
	}
	a.inMu.Unlock()
	st := Status{
		Pair:       a.cfg.Pair.Name,
		Node:       a.node.Name,
		Digest:     a.digest,
		Directions: []DirectionStatus{out, in},
	}
	if a.initial.State() != "" {
		r := a.initial.Report()
		st.InitialSync = &r
	}
	return st
}

// counts copies a counter map for Status (nil when empty).
func counts(m map[string]uint64) map[string]int64 {
	var out map[string]int64
	for k, n := range m {
		if out == nil {
			out = map[string]int64{}
		}
		out[k] = int64(n)
	}
	return out
}

// monitor refreshes what status needs from the database and cannot get from the
// stages: the WAL the local slot retains (SPEC §6.8).
func (a *Agent) monitor(ctx context.Context) {
	interval := a.opts.StatusInterval
	if interval == 0 {
		interval = 10 * time.Second
	}
	slot := "pgduet_" + a.cfg.Pair.Name + "_" + a.node.Name
	t := time.NewTicker(interval)
	defer t.Stop()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		if conn == nil || conn.IsClosed() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			conn, _ = pgx.Connect(cctx, a.connString)
			cancel()
		}
		if conn != nil {
			var n *int64
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.QueryRow(qctx, `SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n)
			cancel()
			if err == nil && n != nil {
				a.retainedWAL.Store(*n)
			} else if err != nil && ctx.Err() == nil {
				a.log.Debug("monitor: read slot", "err", err)
				conn.Close(context.Background())
				conn = nil
			}
		}
		if a.alerts != nil {
			for _, d := range a.Status().Directions {
				if d.Role == "send" {
					a.alerts.Lag(d.Direction, time.Duration(d.LagSeconds*float64(time.Second)))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Status is what `pgduet status` and /status report.
type Status struct {
	Pair       string            `json:"pair"`
	Node       string            `json:"node"`
	Digest     string            `json:"config_digest"`
	Directions []DirectionStatus `json:"directions"`
	// InitialSync is the initial sync's progress on the receiving node
	// while it runs, and once it ran in this process.
	InitialSync *initial.Report `json:"initial_sync,omitempty"`
}
