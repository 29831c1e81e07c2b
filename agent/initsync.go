package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/capture"
	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/agent/initial"
	"github.com/pgduet/pgduet/agent/throttle"
	"github.com/pgduet/pgduet/agent/transport"
)

// needsInitialSync reports whether this node receives the initial sync (it
// is not the DDL source and sync.schema or sync.data is on) and has not
// finished it.
func (a *Agent) needsInitialSync(ctx context.Context) (bool, error) {
	if a.node.Name == a.cfg.Pair.DDLSource || !a.cfg.Sync.Schema && !a.cfg.Sync.Data {
		return false, nil
	}
	conn, err := pgx.Connect(ctx, a.connString)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	done, err := initial.Done(ctx, conn, a.cfg.Pair.Name)
	return !done, err
}

// initialLimits is throttle "initial" in the limiter's units.
func (a *Agent) initialLimits() throttle.Limits {
	t := a.cfg.Throttle.Initial
	return throttle.Limits{RowsPerSecond: t.RowsPerSecond, BytesPerSecond: t.MBPerSecond * 1e6, QueriesPerSecond: t.QueriesPerSecond}
}

// initialSync runs the initial sync until it is done, retrying failures as
// the config's retry windows say; a permanent failure (or one that outlasts
// its window) fails the inbound direction, which stays refused.
func (a *Agent) initialSync(ctx context.Context) {
	defer a.syncing.Store(false)
	b := backoff{min: a.opts.BackoffMin, max: a.opts.BackoffMax}
	lim := throttle.New(a.initialLimits())
	var streak time.Time
	for {
		err := a.initialSyncOnce(ctx, lim)
		if err == nil {
			a.in.setState(StateInitializing, nil)
			return
		}
		if ctx.Err() != nil {
			return
		}
		class := classify(err)
		if streak.IsZero() {
			streak = time.Now()
		}
		if class == classPermanent || time.Since(streak) >= a.window(class) {
			a.in.setState(StateFailed, err)
			return
		}
		a.in.setState(StateRetrying, err)
		t := time.NewTimer(b.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (a *Agent) initialSyncOnce(ctx context.Context, lim *throttle.Limiter) error {
	client, err := transport.DialSource(transport.ClientConfig{
		Address: a.peer.Agent.Address,
		TLS:     a.clientTLS,
		Hello:   transport.Hello{Pair: a.cfg.Pair.Name, From: a.node.Name, To: a.peer.Name, Digest: a.digest},
		Logger:  a.log,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	a.in.setState(StateSyncing, nil)
	return initial.Run(ctx, initial.Config{
		Cfg:        a.cfg,
		Node:       a.node.Name,
		Peer:       a.peer.Name,
		ConnString: a.connString,
		Client:     client,
		Limiter:    lim,
		Logger:     a.log.With("direction", a.in.name),
		Progress:   a.initial,
		SplitBytes: a.opts.Knobs.CopySplitBytes,
		AfterPart:  a.opts.Knobs.AfterCopyPart,
		WaitSent:   a.waitSent,
		AfterSchema: func(ctx context.Context) error {
			// New tables: the publication's table list and the
			// last_write_wins triggers follow.
			conn, err := pgx.Connect(ctx, a.connString)
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			defer conn.Close(context.Background())
			if err := prepareLWW(ctx, conn, a.cfg, a.node.Name); err != nil {
				return err
			}
			return capture.Setup(ctx, conn, a.connString, a.cfg.Pair.Name, a.node.Name,
				a.cfg.PublicationSchemasOn(a.node.Name), publicationTables(a.cfg, a.node.Name))
		},
	})
}

// waitSent returns once the outbound direction confirmed lsn: every change
// this node committed before it is applied on the peer. (The capture
// confirms positions at its status interval, also when idle, thanks to its
// heartbeat.)
func (a *Agent) waitSent(ctx context.Context, lsn change.LSN) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if c := a.cur.Load(); c != nil && c.Stats().ConfirmedLSN >= lsn {
			return nil
		}
		if err, failed := a.out.failedErr(); failed {
			return fmt.Errorf("direction %s failed: %v", a.out.name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// errSyncing refuses the DDL source's stream while the initial sync runs.
var errSyncing = errors.New("initial sync in progress")

// loadSkips reads what the initial sync copied, for the inbound session.
func (a *Agent) loadSkips(ctx context.Context) (*initial.Skips, error) {
	if a.node.Name == a.cfg.Pair.DDLSource {
		return nil, nil
	}
	conn, err := pgx.Connect(ctx, a.connString)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	return initial.LoadSkips(ctx, conn, a.cfg.Pair.Name)
}
