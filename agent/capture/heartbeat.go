package capture

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// heartbeatSQL writes a transactional logical decoding message. Capture does not
// enable pgoutput's messages option, so pgoutput skips the transaction as empty:
// nothing is delivered, but the WAL it writes moves the walsender's position, its
// next keepalive carries that position, and with nothing pending the slot is
// confirmed up to it (DESIGN.md §2 invariant 8, SPEC §6.8). Without it a database
// with no writes to published tables would pin WAL in the slot forever.
const heartbeatSQL = "SELECT pg_logical_emit_message(true, 'pgduet.heartbeat', '')"

// heartbeat runs heartbeatSQL every HeartbeatInterval on its own normal
// connection until ctx ends. A failure is logged (Warn) and the connection
// re-opened at the next tick; it never stops the capture.
func (c *Capture) heartbeat(ctx context.Context) {
	every := c.cfg.HeartbeatInterval
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			_ = conn.Close(cctx)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if conn == nil {
			cfg, err := pgx.ParseConfig(c.cfg.ConnString)
			if err != nil {
				c.log.Warn("heartbeat: connection string", "err", err)
				continue
			}
			delete(cfg.RuntimeParams, "replication")
			if cfg.RuntimeParams["application_name"] == "" {
				cfg.RuntimeParams["application_name"] = "pgduet heartbeat " + c.cfg.Node
			}
			if conn, err = pgx.ConnectConfig(ctx, cfg); err != nil {
				conn = nil
				if ctx.Err() == nil {
					c.log.Warn("heartbeat: connect", "err", err)
				}
				continue
			}
		}
		if _, err := conn.Exec(ctx, heartbeatSQL); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("heartbeat failed", "err", err)
			cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_ = conn.Close(cctx)
			cancel()
			conn = nil
		}
	}
}
