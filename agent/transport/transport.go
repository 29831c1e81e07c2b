package transport

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pgduet/pgduet/agent/change"
	"google.golang.org/grpc/codes"
)

// ProtocolVersion is the version of the wire protocol this package speaks. Both
// agents of a pair must speak the same one; the receiver refuses any other.
// Version 2 added the block ranges of Copy: a version 1 source would ignore
// them and send the whole table for each part.
const ProtocolVersion = 2

// Hello is what a sender says when it opens a stream: the pair, the sending node
// (From), the node it means to reach (To) and the digest of the configuration both
// agents must share.
type Hello struct {
	Pair, From, To, Digest string
}

// Receiver accepts streams on the receiving agent.
type Receiver interface {
	// Open runs after the handshake checks passed. It returns the resume position (the receiver's
	// origin progress) and the Session that applies this stream's transactions. An error refuses the stream
	// and its text reaches the sender.
	//
	// The server opens at most one Session at a time: a new stream from the peer
	// first ends the previous one (its Session is closed) and only then calls Open.
	Open(ctx context.Context, h Hello) (resume change.LSN, s Session, err error)
}

// Session applies the transactions of one stream, one at a time, in stream order.
type Session interface {
	// Apply returns nil only when tx and its origin progress are committed on the receiving database.
	// The server acks tx only after that. ctx is cancelled when the stream ends.
	Apply(ctx context.Context, tx *change.Tx) error
	Close() // called once when the stream ends, however it ends
}

// GroupSession is a Session that can also apply several consecutive
// transactions at once (in one local transaction where it can). ApplyGroup
// returns how many of txs, a prefix, are committed, and the error that
// stopped the rest; the server acks each committed one, in order. When the
// receiving side keeps up, groups are of one: the server only groups what
// has already arrived.
type GroupSession interface {
	Session
	ApplyGroup(ctx context.Context, txs []*change.Tx) (int, error)
}

// RemoteError is an error the peer sent: it refused the stream, failed to apply
// a transaction, or is shutting down. Permanent reports that retrying cannot help
// until someone fixes the cause (a configuration mismatch, a protocol error, an
// error the peer marked with Permanent).
//
// Errors from Dial, Send and Err that are not *RemoteError (and not ctx errors)
// are failures of the connection itself (dial, TLS, a lost stream): retryable.
type RemoteError struct {
	Msg       string
	Permanent bool
	// Busy: the peer is busy with something that ends by itself (its
	// initial sync); the sender waits without counting it as a failure.
	Busy bool
}

func (e *RemoteError) Error() string { return e.Msg }

// Permanent marks err as permanent: when Receiver.Open or Session.Apply returns
// it, the sender receives a *RemoteError with Permanent set and should stop the
// direction rather than retry. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Busy marks err as "busy": when Receiver.Open returns it, the sender
// receives a *RemoteError with Busy set and should wait, not count a failure.
// Busy(nil) is nil.
func Busy(err error) error {
	if err == nil {
		return nil
	}
	return &busyError{err: err}
}

type busyError struct{ err error }

func (e *busyError) Error() string { return e.err.Error() }
func (e *busyError) Unwrap() error { return e.err }

// IsBusy reports whether err was marked with Busy or is a busy *RemoteError.
func IsBusy(err error) bool {
	var b *busyError
	if errors.As(err, &b) {
		return true
	}
	var r *RemoteError
	return errors.As(err, &r) && r.Busy
}

// IsPermanent reports whether err was marked with Permanent or is a permanent
// *RemoteError.
func IsPermanent(err error) bool {
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	var r *RemoteError
	return errors.As(err, &r) && r.Permanent
}

// ErrClosed is what Stream.Err returns after Stream.Close ended the stream.
var ErrClosed = errors.New("transport: stream closed")

// permanentCode reports whether a gRPC status code means "retrying cannot help".
func permanentCode(c codes.Code) bool {
	switch c {
	case codes.FailedPrecondition, codes.InvalidArgument, codes.PermissionDenied,
		codes.Unauthenticated, codes.Unimplemented:
		return true
	}
	// Unavailable, Aborted, Canceled, DeadlineExceeded, ResourceExhausted and
	// everything else: the next session may succeed.
	return false
}

const (
	// maxMsgSize bounds one gRPC message. Transactions are chunked, but a single
	// value (a big text or bytea) still travels in one message.
	maxMsgSize = 1 << 30
	// streamWindow and connWindow are HTTP/2 flow-control windows: how much a
	// peer may send before this side has read it, per call and per connection.
	// gRPC's default (64 KiB, grown by its bandwidth estimate, which on a fast
	// link stays small) stalls the initial copy's chunks; these bound what one
	// connection can hold in memory unread.
	streamWindow = 4 << 20
	connWindow   = 16 << 20
	// ioBuffer is the size of each gRPC connection's read and write buffers.
	ioBuffer = 256 << 10
	// batchBytes is the size (by change.Change.Size) after which the sender closes a
	// TxChunk and starts the next.
	batchBytes = 1 << 20

	// Keepalive: each side pings after keepaliveTime without traffic and drops the
	// connection when the ping is not answered within keepaliveTimeout, so a dead
	// peer (power loss, partition) ends the stream within about 20 s.
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 10 * time.Second
	// keepaliveMinTime is the fastest client ping rate the server tolerates.
	keepaliveMinTime = 5 * time.Second

	// shutdownGrace bounds how long Serve waits for streams to end (each Apply
	// sees its ctx cancelled) before it closes the connections hard.
	shutdownGrace = 10 * time.Second

	// trailerNode is set in the trailer of every status the server itself
	// decides, so the client can tell the peer's errors from a connection failure.
	trailerNode = "pgduet-node"
	// trailerBusy marks a refusal marked with Busy.
	trailerBusy = "pgduet-busy"

	defaultMaxInFlightTx = 1024
	// maxGroupTxs bounds the transactions the server hands a GroupSession
	// at once, and the transactions it reads ahead.
	maxGroupTxs             = 256
	defaultMaxInFlightBytes = 64 << 20
)

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
