package capture

import (
	"context"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgduet/pgduet/agent/change"
)

// Filter decides whether a change to table t of kind op is sent to the peer;
// false drops it (counted in Stats.ChangesFiltered). For a TRUNCATE it is asked
// once per truncated table. It runs on Run's goroutine and must not block.
type Filter func(t change.TableRef, op change.Op) bool

// Mapper renames a table for the peer (SPEC §4 `target`): t is this node's
// name, the result the peer's. It runs on Run's goroutine and must not block.
type Mapper func(t change.TableRef) change.TableRef

// Columns says which columns of table t (this node's names) are sent, and
// under which names: the function it returns maps a column to its name on
// the peer, ok false leaving it out (a key column is sent all the same). A
// nil function sends every column as it is.
type Columns func(t change.TableRef) func(col string) (peer string, ok bool)

// DDLMode says what becomes of the rows pgduet's event triggers write to
// pgduet.ddl_queue (SPEC §6.4).
type DDLMode uint8

const (
	// DDLOff: queue rows are pgduet's own bookkeeping, dropped like every
	// other change to schema pgduet (ddl.replicate = false).
	DDLOff DDLMode = iota
	// DDLForward: this node is the DDL source; queue rows are sent to the
	// peer in place, which replays the DDL they describe.
	DDLForward
	// DDLIgnore: this node is not the DDL source; its DDL is not shipped.
	// Each command is logged once (Warn) and its rows counted in
	// Stats.DDLIgnored.
	DDLIgnore
)

// Config configures one Capture.
type Config struct {
	ConnString string // libpq/pgx connection string of the local database; capture adds replication=database itself
	Pair, Node string
	Peer       string  // the other node: its changes are applied here under origin pgduet_<pair>_<peer>, so those are echoes
	Filter     Filter  // nil keeps everything
	Map        Mapper  // nil keeps this node's names
	Columns    Columns // nil sends every column as it is
	// Where returns the row filter of table t (this node's names), "" for
	// none: a boolean SQL expression over its columns, evaluated by this
	// node's database before a transaction is delivered (rowfilter.go),
	// and the columns it reads.
	Where func(t change.TableRef) (expr string, cols []string)
	DDL   DDLMode

	// StatusInterval is the longest time between two standby status updates;
	// default 10s. Run shortens it to a third of the server's wal_sender_timeout
	// when that is smaller, so a slow consumer never gets the connection killed.
	StatusInterval time.Duration
	// HeartbeatInterval is the period of the heartbeat (a transactional
	// pg_logical_emit_message on a separate normal connection) that keeps the slot
	// of an idle database advancing; default 10s; negative turns it off.
	HeartbeatInterval time.Duration
	// SpillBytes is how much of one transaction's changes (by
	// change.Change.Size) capture holds in memory; past it they go to a
	// spill file in SpillDir (os.TempDir() when empty), so memory does not
	// grow with the size of a transaction. Default change.DefaultSpillBytes.
	SpillBytes int
	SpillDir   string
	Logger     *slog.Logger // nil discards
}

const (
	defaultStatusInterval    = 10 * time.Second
	defaultHeartbeatInterval = 10 * time.Second
	// bufferedTx is how many decoded transactions wait for Next besides the one Run
	// holds: enough to overlap decoding with the consumer, small enough to bound
	// memory (the rest stays in the server's socket buffers and slot).
	bufferedTx = 2
	// feedbackDelay is how soon after the confirmable position moves (an Ack, an
	// echo, a keepalive) a status update follows; changes within it share one.
	feedbackDelay = 20 * time.Millisecond
	closeTimeout  = 5 * time.Second
)

// ErrStopped is what Next returns once Run has returned without an error (its
// context ended).
var ErrStopped = errors.New("capture stopped")

// Stats is a snapshot of a Capture's progress and counters.
type Stats struct {
	ReceivedLSN     change.LSN // stream read through here: the last transaction end or keepalive between transactions (reported as write)
	ConfirmedLSN    change.LSN // what was last reported to the slot as flushed (0 until something is confirmable)
	ServerWALEnd    change.LSN // the server's WAL position from its latest keepalive
	TxDelivered     uint64     // transactions returned by Next
	TxEcho          uint64     // transactions dropped because a pgduet origin of this pair committed them
	TxFiltered      uint64     // transactions dropped because no change was left after filtering
	ChangesFiltered uint64     // changes the Filter rejected (a TRUNCATE counts once per rejected table)
	TxSpilled       uint64     // delivered transactions whose changes went to a spill file (Config.SpillBytes)
	ChangesInternal uint64     // changes to pgduet's own tables (schema pgduet), never forwarded
	DDLIgnored      uint64     // queue rows of DDL not shipped because this node is not the DDL source (DDLIgnore)
	LastCommitTime  time.Time  // commit time of the last non-echo transaction received
}

// Capture is the sending side's first stage: it reads the node's slot and hands
// whole committed transactions to Next. Make one with New per replication
// session; Run may be called once.
type Capture struct {
	cfg        Config
	log        *slog.Logger
	slot       string
	pub        string
	echoOrigin string

	out     chan *change.Tx // decoded transactions waiting for Next
	wake    chan struct{}   // Ack moved the confirmable position
	done    chan struct{}   // closed when Run returns
	started atomic.Bool

	mu        sync.Mutex
	q         flushQueue
	received  change.LSN
	sentFlush change.LSN
	// statusDue: the stream loop has a status update scheduled within
	// feedbackDelay (the confirmable position moved), which will carry
	// whatever Acks arrive until it reads the position: those need not
	// interrupt the receive again, one per transaction.
	statusDue bool
	// recvConn is the replication connection's net.Conn while a receive is in
	// progress (nil otherwise): Ack and the end of Run's context interrupt
	// that receive by moving its read deadline into the past (interruptLocked).
	// readDeadline is the read deadline last set on it, so that a receive
	// sets it only when it changes.
	recvConn     net.Conn
	readDeadline time.Time
	stats        Stats
	runErr       error // why Run ended (valid once done is closed)

	// Row filters, owned by the streaming goroutine: the session that
	// evaluates them, the decoder whose relations they name, and the SQL
	// types of each relation version's columns.
	dec        *decoder
	filterConn *pgx.Conn
	typeNames  map[*change.Relation][]string
}

// New makes a Capture. It does no I/O and starts no goroutines; Run does.
func New(cfg Config) *Capture {
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = defaultStatusInterval
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = defaultHeartbeatInterval
	}
	if cfg.SpillBytes <= 0 {
		cfg.SpillBytes = change.DefaultSpillBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Capture{
		cfg:        cfg,
		log:        log.With("node", cfg.Node),
		slot:       SlotName(cfg.Pair, cfg.Node),
		pub:        PublicationName(cfg.Pair),
		echoOrigin: echoOrigin(cfg.Pair, cfg.Peer),
		out:        make(chan *change.Tx, bufferedTx),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
}

// errorf wraps an error with the stage and node: "capture east: receive: ...".
func (c *Capture) errorf(format string, args ...any) error {
	return fmt.Errorf("capture %s: "+format, append([]any{c.cfg.Node}, args...)...)
}

// Next blocks until the next committed transaction that was not committed by
// pgduet (echo) and kept at least one change after filtering, and returns it
// whole, in commit order. Transactions come from the stream position Run started
// at; none of them is confirmed to the slot until Ack covers its EndLSN, so after
// a restart any transaction not acked is delivered again.
//
// Once Run has returned, Next returns Run's error (ErrStopped, wrapped, when Run
// ended cleanly). It returns ctx's error when ctx ends first. The returned Tx and
// its Relations are shared with nobody else and never changed afterwards.
func (c *Capture) Next(ctx context.Context) (*change.Tx, error) {
	select {
	case <-c.done:
		return nil, c.endErr()
	default:
	}
	select {
	case tx := <-c.out:
		c.mu.Lock()
		c.stats.TxDelivered++
		c.mu.Unlock()
		return tx, nil
	case <-c.done:
		return nil, c.endErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Capture) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runErr != nil {
		return c.runErr
	}
	return c.errorf("%w", ErrStopped)
}

// Ack records that the peer has durably committed every delivered transaction
// whose EndLSN is at or before lsn. It never blocks and is safe from any
// goroutine.
//
// When Ack returns, nothing is durable yet on this node: Run reports the new flush
// position to the slot shortly afterwards (within feedbackDelay while connected),
// and only that report moves the slot's confirmed_flush_lsn. Losing it is
// harmless: the peer's origin progress is the resume point, so the next session
// starts after lsn anyway.
func (c *Capture) Ack(lsn change.LSN) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.q.ack(lsn)
	if !c.statusDue && c.q.advance() > c.sentFlush {
		select {
		case c.wake <- struct{}{}:
		default:
		}
		c.interruptLocked()
	}
}

// Stats returns a snapshot of the counters and positions.
func (c *Capture) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}
