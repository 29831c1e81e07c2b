package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgduet/pgduet/agent/change"
)

// slotActiveRetries bounds the retries of START_REPLICATION while the slot is
// still "active for PID n" (55006), typically the walsender of the previous
// session still exiting; the back-off doubles from slotActiveBackoff.
const (
	slotActiveRetries = 5
	slotActiveBackoff = 100 * time.Millisecond
)

// Run owns the replication connection for one session. It starts the slot at
// start (the server starts at the later of start and the slot's
// confirmed_flush_lsn), decodes the stream and hands whole committed
// transactions to Next, and reports the flush position Ack allows. A heartbeat
// runs beside it while it runs.
//
// It returns nil when ctx ends, and an error wrapped with its context when the
// connection is lost, the server ends the stream, or the stream holds anything
// unexpected. Either way Next then returns that error (or ErrStopped). Run may be
// called once per Capture.
func (c *Capture) Run(ctx context.Context, start change.LSN) (err error) {
	if !c.started.CompareAndSwap(false, true) {
		return c.errorf("Run called twice: make a new Capture for every session")
	}
	defer func() {
		// Transactions decoded but not taken: nobody will, as Next now
		// returns the end; free their spill files.
	drain:
		for {
			select {
			case tx := <-c.out:
				tx.Release()
			default:
				break drain
			}
		}
		c.mu.Lock()
		c.runErr = err
		c.mu.Unlock()
		close(c.done)
	}()
	if err := checkName("pair", c.cfg.Pair); err != nil {
		return c.errorf("%w", err)
	}
	if err := checkName("node", c.cfg.Node); err != nil {
		return c.errorf("%w", err)
	}

	conn, interval, err := c.startStream(ctx, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	c.log.Info("capture started", "slot", c.slot, "publication", c.pub, "lsn", start, "status_interval", interval)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.heartbeat(ctx)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	err = c.stream(ctx, conn, interval)
	if ctx.Err() != nil {
		// A clean stop: tell the server the last confirmable position (acks may
		// have arrived since the last update), then hang up.
		_ = c.sendStatus(conn)
		closeQuietly(conn)
		c.log.Info("capture stopped", "lsn", c.Stats().ConfirmedLSN)
		return nil
	}
	closeQuietly(conn)
	c.log.Info("capture ended", "err", err)
	return err
}

// startStream connects, reads wal_sender_timeout, and starts replication,
// retrying while the slot is still held by a previous session's walsender.
func (c *Capture) startStream(ctx context.Context, start change.LSN) (*pgconn.PgConn, time.Duration, error) {
	args := []string{
		"proto_version '1'",
		// Double quotes keep the name exact (publication_names is split like an
		// identifier list); names are checked to be [a-z0-9_].
		fmt.Sprintf(`publication_names '"%s"'`, c.pub),
	}
	backoff := slotActiveBackoff
	for attempt := 0; ; attempt++ {
		conn, err := ConnectReplication(ctx, c.cfg.ConnString)
		if err != nil {
			return nil, 0, c.errorf("connect for replication: %w", err)
		}
		interval := c.cfg.StatusInterval
		if t, err := walSenderTimeout(ctx, conn); err != nil {
			closeQuietly(conn)
			return nil, 0, c.errorf("read wal_sender_timeout: %w", err)
		} else if t > 0 && t/3 < interval {
			interval = t / 3
		}
		err = pglogrepl.StartReplication(ctx, conn, c.slot, start, pglogrepl.StartReplicationOptions{
			Mode:       pglogrepl.LogicalReplication,
			PluginArgs: args,
		})
		if err == nil {
			return conn, interval, nil
		}
		closeQuietly(conn)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < slotActiveRetries {
			c.log.Info("slot still active, retrying", "slot", c.slot, "err", pgErr.Message, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, 0, ctx.Err()
			case <-t.C:
			}
			backoff *= 2
			continue
		}
		return nil, 0, c.errorf("start replication of slot %s at %s: %w", c.slot, start, err)
	}
}

// walSenderTimeout reads the server's wal_sender_timeout (0: disabled).
func walSenderTimeout(ctx context.Context, conn *pgconn.PgConn) (time.Duration, error) {
	res, err := conn.Exec(ctx, "SHOW wal_sender_timeout").ReadAll()
	if err != nil {
		return 0, err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		return 0, errors.New("unexpected result shape")
	}
	return parseGUCDuration(string(res[0].Rows[0][0]))
}

// parseGUCDuration parses a time setting as SHOW prints it ("60s", "2min",
// "500ms", "0"); a bare number is milliseconds, the unit of wal_sender_timeout.
func parseGUCDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time setting %q: %w", s, err)
	}
	units := map[string]time.Duration{
		"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second,
		"min": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
	}
	u, ok := units[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, fmt.Errorf("time setting %q: unknown unit", s)
	}
	return time.Duration(n) * u, nil
}

// stream is the receive loop. One goroutine owns the connection and, on every
// turn:
//
//  1. hands the decoded transaction it holds (if any) to Next's channel when
//     there is room;
//  2. schedules a status update feedbackDelay after the confirmable position
//     moved (Ack, echo, filtered transaction, keepalive) and sends one when due
//     (also every interval, and at once when the server asks for a reply);
//  3. while it still holds a transaction the channel has no room for
//     (back-pressure), stops reading the socket and waits for room, an Ack, the
//     next status time or ctx: status updates keep flowing, so the server's
//     wal_sender_timeout never fires however long the consumer takes;
//  4. otherwise receives one message with the next status time as deadline
//     (an Ack interrupts it) and handles it:
//     - XLogData: decode; a Commit yields a transaction to deliver, or a
//     position-only entry (echo, filtered);
//     - keepalive: record ServerWALEnd (position-only when between
//     transactions); reply at once if asked;
//     - ErrorResponse, CopyDone, anything else: end the session with an error.
func (c *Capture) stream(ctx context.Context, conn *pgconn.PgConn, interval time.Duration) error {
	d := newDecoder(c.echoOrigin, c.cfg.Filter, c.log)
	d.mapper, d.columns, d.where, d.ddl = c.cfg.Map, c.cfg.Columns, c.cfg.Where, c.cfg.DDL
	c.dec = d
	defer func() {
		if c.filterConn != nil {
			_ = c.filterConn.Close(context.Background())
			c.filterConn = nil
		}
	}()
	// The end of ctx interrupts a receive in progress (see receive). Once
	// stream returns no receive is in progress, so the function never touches
	// the connection afterwards, even if it runs late; the read deadline is
	// cleared for what follows (the last status update, Close).
	stopInterrupt := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.interruptLocked()
		c.mu.Unlock()
	})
	defer func() {
		stopInterrupt()
		c.mu.Lock()
		c.readDeadline = time.Time{}
		c.mu.Unlock()
		if !conn.IsClosed() {
			// A closed pgconn is pgx's to drain and close, under its own
			// deadline: clearing that one could leave the drain blocked.
			_ = conn.Conn().SetReadDeadline(time.Time{})
		}
	}()
	var hold *change.Tx // decoded, not yet in the channel
	defer func() {
		if hold != nil {
			hold.Release()
		}
		if d.cur != nil {
			d.cur.tx.Release()
		}
	}()
	nextStatus := time.Now().Add(interval)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if hold != nil {
			select {
			case c.out <- hold:
				hold = nil
			default:
			}
		}
		if c.confirmableMoved() {
			nextStatus = minTime(nextStatus, time.Now().Add(feedbackDelay))
		}
		if !time.Now().Before(nextStatus) {
			if err := c.sendStatus(conn); err != nil {
				return c.errorf("send standby status: %w", err)
			}
			nextStatus = time.Now().Add(interval)
		}

		if hold != nil {
			t := time.NewTimer(time.Until(nextStatus))
			select {
			case c.out <- hold:
				hold = nil
			case <-c.wake:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}

		msg, err := c.receive(ctx, conn, nextStatus)
		if err != nil {
			return err
		}
		if msg == nil {
			continue // deadline or Ack: go round
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				return c.errorf("receive: empty CopyData message")
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return c.errorf("receive: keepalive: %w", err)
				}
				c.keepalive(pkm.ServerWALEnd, d.inTx())
				if pkm.ReplyRequested {
					nextStatus = time.Now()
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return c.errorf("receive: XLogData: %w", err)
				}
				res, err := d.decode(xld.WALData)
				if err != nil {
					return c.errorf("decode at %s: %w", xld.WALStart, err)
				}
				if res == nil && d.cur != nil && d.cur.kind == txDeliver && d.cur.held() >= c.cfg.SpillBytes {
					if err := c.spill(ctx, d.cur); err != nil {
						return err
					}
				}
				if res != nil && len(res.rowFilters) > 0 && res.kind == txDeliver {
					if err := c.applyRowFilters(ctx, res); err != nil {
						return err
					}
				}
				if res != nil && res.tx.Spill != nil {
					if res.kind == txDeliver && len(res.tx.Changes) > 0 {
						if err := c.spill(ctx, res); err != nil {
							return err
						}
					}
					if res.kind != txDeliver {
						res.tx.Release()
					}
				}
				if res != nil {
					if err := c.committed(res); err != nil {
						return err
					}
					if res.kind == txDeliver {
						hold = res.tx
					}
				}
			default:
				return c.errorf("receive: unexpected replication message type %q", rune(msg.Data[0]))
			}
		case *pgproto3.ErrorResponse:
			return c.errorf("receive: %w", pgconn.ErrorResponseToPgError(msg))
		case *pgproto3.CopyDone:
			return c.errorf("receive: the server ended the replication stream (CopyDone)")
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
			// Delivered to pgconn's handlers; nothing for the stream.
		default:
			return c.errorf("receive: unexpected protocol message %T", msg)
		}
	}
}

// receive reads one message, giving up at deadline or when Ack interrupts it; it
// returns (nil, nil) then, and ctx's error once ctx has ended.
//
// It sets no context on the read: pgconn's ReceiveMessage watches nothing
// when given context.Background() itself, which saves a context, a timer and
// a context watcher per message. The deadline is the net.Conn's read
// deadline instead, set only when it changes (most messages of a busy stream
// share one), and an interruption (Ack, the end of ctx: interruptLocked)
// moves it into the past, which wakes a blocked read, as pgconn's own
// DeadlineContextWatcherHandler does for a cancelled context.
//
// A receive ended by its read deadline leaves the connection usable: pgconn
// does not close the connection on a net timeout and reports it as a
// pgconn.Timeout error, and pgproto3 keeps a partly read message and resumes
// it on the next receive.
func (c *Capture) receive(ctx context.Context, conn *pgconn.PgConn, deadline time.Time) (pgproto3.BackendMessage, error) {
	// c.readDeadline caches the socket's read deadline: it holds only while
	// nothing else sets deadlines on this connection during the stream (no
	// conn.Exec with a context here: pgx's deadline handler would reset it).
	nc := conn.Conn()
	c.mu.Lock()
	select {
	case <-c.wake:
		c.mu.Unlock()
		return nil, nil
	default:
	}
	// Checked under mu: either interruptLocked, run when ctx ended, has
	// already run and ctx.Err is set, or it will run after recvConn is set.
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	if !deadline.Equal(c.readDeadline) {
		if err := nc.SetReadDeadline(deadline); err != nil {
			c.mu.Unlock()
			return nil, c.errorf("receive: set read deadline: %w", err)
		}
		c.readDeadline = deadline
	}
	c.recvConn = nc
	c.mu.Unlock()

	msg, err := conn.ReceiveMessage(context.Background())

	c.mu.Lock()
	c.recvConn = nil
	c.mu.Unlock()
	switch {
	case err == nil:
		return msg, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case pgconn.Timeout(err):
		return nil, nil
	}
	return nil, c.errorf("receive: %w", err)
}

// aLongTimeAgo is a read deadline in the past: setting it wakes a blocked read
// at once with a timeout.
var aLongTimeAgo = time.Unix(1, 0)

// interruptLocked ends the receive in progress, if any, at once; c.mu must be
// held. The receive returns (nil, nil) (or ctx's error) and the next one sets
// its deadline again.
func (c *Capture) interruptLocked() {
	if c.recvConn == nil {
		return
	}
	_ = c.recvConn.SetReadDeadline(aLongTimeAgo)
	c.readDeadline = aLongTimeAgo
}

// committed records a finished transaction's position and counters.
func (c *Capture) committed(res *committed) error {
	tx := res.tx
	c.mu.Lock()
	c.received = max(c.received, tx.EndLSN)
	c.stats.ReceivedLSN = c.received
	c.stats.ChangesFiltered += uint64(res.filtered)
	c.stats.ChangesInternal += uint64(res.internal)
	c.stats.DDLIgnored += uint64(res.ddlIgnored)
	var err error
	switch res.kind {
	case txDeliver:
		err = c.q.pending(tx.EndLSN)
		c.stats.LastCommitTime = tx.CommitTime
		if tx.Spill != nil {
			c.stats.TxSpilled++
		}
	case txEcho:
		c.q.free(tx.EndLSN)
		c.stats.TxEcho++
	case txFiltered:
		c.q.free(tx.EndLSN)
		c.stats.TxFiltered++
		c.stats.LastCommitTime = tx.CommitTime
	}
	c.mu.Unlock()
	if err != nil {
		return c.errorf("tx %s (xid %d): %w", tx.EndLSN, tx.Xid, err)
	}

	if !c.log.Enabled(context.Background(), slog.LevelDebug) {
		return nil // spare the logger's With for every transaction
	}
	log := c.log.With("lsn", tx.EndLSN, "xid", tx.Xid)
	switch res.kind {
	case txDeliver:
		log.Debug("tx captured", "changes", tx.Len(), "spilled", tx.Spill != nil, "filtered", res.filtered, "internal", res.internal, "origin", res.origin)
	case txEcho:
		log.Debug("tx dropped: echo", "origin", res.origin)
	case txFiltered:
		log.Debug("tx dropped: no change left after filtering", "filtered", res.filtered, "internal", res.internal)
	}
	return nil
}

// held is the Size of the changes the open transaction holds in memory.
func (cur *committed) held() int {
	for ; cur.counted < len(cur.tx.Changes); cur.counted++ {
		cur.memBytes += cur.tx.Changes[cur.counted].Size()
	}
	return cur.memBytes
}

// spill moves the changes cur holds in memory to its spill file (made on
// first use), after deciding the row filters of those changes: a
// transaction bigger than Config.SpillBytes is held on disk, not in memory.
func (c *Capture) spill(ctx context.Context, cur *committed) error {
	if len(cur.rowFilters) > 0 {
		kind := cur.kind
		if err := c.applyRowFilters(ctx, cur); err != nil {
			return err
		}
		cur.kind = kind // more changes may follow
	}
	tx := cur.tx
	if tx.Spill == nil {
		s, err := change.NewSpill(c.cfg.SpillDir)
		if err != nil {
			return c.errorf("xid %d: %w", tx.Xid, err)
		}
		tx.Spill = s
		c.log.Info("transaction larger than the spill threshold: its changes go to a temporary file", "xid", tx.Xid, "threshold_bytes", c.cfg.SpillBytes)
	}
	if err := tx.Spill.Append(tx.Changes); err != nil {
		return c.errorf("xid %d: %w", tx.Xid, err)
	}
	clear(tx.Changes)
	tx.Changes = tx.Changes[:0]
	cur.memBytes, cur.counted = 0, 0
	return nil
}

// keepalive records a keepalive's server WAL end. Between transactions it is a
// position-only entry: everything before it has been received (see flushQueue).
func (c *Capture) keepalive(walEnd change.LSN, inTx bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.ServerWALEnd = max(c.stats.ServerWALEnd, walEnd)
	if !inTx {
		c.received = max(c.received, walEnd)
		c.stats.ReceivedLSN = c.received
		c.q.free(walEnd)
	}
}

// confirmableMoved reports whether the slot has not yet been told the
// confirmable position; if so, the caller schedules a status update.
func (c *Capture) confirmableMoved() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	moved := c.q.advance() > c.sentFlush
	if moved {
		c.statusDue = true
	}
	return moved
}

// sendStatus sends a standby status update with the confirmable position as
// flush and apply and the received position as write.
func (c *Capture) sendStatus(conn *pgconn.PgConn) error {
	c.mu.Lock()
	flush := c.q.advance()
	write := c.received
	c.statusDue = false // an Ack from here on is not in this update
	c.mu.Unlock()
	if err := pglogrepl.SendStandbyStatusUpdate(context.Background(), conn, standbyStatus(write, flush, time.Now())); err != nil {
		return err
	}
	c.mu.Lock()
	moved := flush > c.sentFlush
	c.sentFlush = flush
	c.stats.ConfirmedLSN = flush
	c.mu.Unlock()
	if moved {
		c.log.Debug("confirmed", "lsn", flush)
	}
	return nil
}

// standbyStatus builds the update with every position set explicitly. pglogrepl
// replaces a zero flush or apply position with the write position, which would
// claim as flushed what was merely received; so while nothing is confirmable
// (flush 0) write is reported as 0 too, which the server ignores.
func standbyStatus(write, flush change.LSN, now time.Time) pglogrepl.StandbyStatusUpdate {
	if flush == 0 {
		write = 0
	}
	return pglogrepl.StandbyStatusUpdate{
		WALWritePosition: max(write, flush),
		WALFlushPosition: flush,
		WALApplyPosition: flush,
		ClientTime:       now,
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
