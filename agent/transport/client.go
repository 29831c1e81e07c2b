package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pgduet/pgduet/agent/change"
	peerpb "github.com/pgduet/pgduet/agent/transport/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ClientConfig configures the sending side of a direction.
type ClientConfig struct {
	Address string      // the peer agent's host:port
	TLS     *tls.Config // nil = insecure
	Hello   Hello       // who we are and whom we expect; ProtocolVersion is added

	MaxInFlightTx    int // unacked transactions; default 1024
	MaxInFlightBytes int // unacked bytes by change.Tx.Size; default 64 MiB
	Logger           *slog.Logger
}

// Stream is the sending end of one direction: transactions go out with Send,
// the peer's acks come back on Acks. It lives until Close, a peer error or a
// connection failure; a new session dials a new Stream.
type Stream struct {
	cfg    ClientConfig
	log    *slog.Logger
	conn   *grpc.ClientConn
	stream grpc.BidiStreamingClient[peerpb.SenderFrame, peerpb.ReceiverFrame]
	cancel context.CancelFunc // ends the gRPC stream
	diag   *connDiag
	resume change.LSN
	acks   chan change.LSN
	// connected is set once the handshake succeeded (before receive starts).
	connected bool

	sendMu sync.Mutex // serialises Send: one transaction's frames at a time
	enc    *encoder   // guarded by sendMu

	mu            sync.Mutex
	err           error         // why the stream ended; nil while running
	done          chan struct{} // closed when err is set
	inflight      []pending     // sent, not yet acked, in stream order
	inflightBytes int
	freed         chan struct{} // closed (and replaced) whenever the window shrinks

	recvDone chan struct{} // the receiving goroutine has exited
}

type pending struct {
	end  change.LSN
	size int
}

// Dial connects to the peer at cfg.Address and performs the handshake. On
// success the peer has accepted the stream and Resume is its origin progress.
// A refusal by the peer is a *RemoteError; other errors name the address and
// the cause (connection refused, certificate problem, ...). ctx bounds the dial
// and handshake only, not the stream's life.
func Dial(ctx context.Context, cfg ClientConfig) (*Stream, error) {
	if cfg.MaxInFlightTx <= 0 {
		cfg.MaxInFlightTx = defaultMaxInFlightTx
	}
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = defaultMaxInFlightBytes
	}
	s := &Stream{
		cfg:      cfg,
		log:      orDiscard(cfg.Logger).With("peer", cfg.Hello.To, "direction", cfg.Hello.From+"→"+cfg.Hello.To),
		diag:     &connDiag{},
		acks:     make(chan change.LSN, cfg.MaxInFlightTx),
		enc:      newEncoder(),
		done:     make(chan struct{}),
		freed:    make(chan struct{}),
		recvDone: make(chan struct{}),
	}
	conn, err := newConn(cfg, s.diag)
	if err != nil {
		return nil, err
	}
	s.conn = conn

	// The stream outlives Dial's ctx; only the handshake is bounded by it.
	sctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	stopHandshake := context.AfterFunc(ctx, cancel)
	fail := func(err error) (*Stream, error) {
		stopHandshake() // or every failed dial leaves an AfterFunc on the caller's long-lived ctx
		cancel()
		conn.Close()
		if ctx.Err() != nil && !errors.As(err, new(*RemoteError)) {
			return nil, fmt.Errorf("dial peer %s at %s: %w", cfg.Hello.To, cfg.Address, context.Cause(ctx))
		}
		return nil, err
	}
	stream, err := peerpb.NewPeerClient(conn).Replicate(sctx)
	if err != nil {
		return fail(s.streamError(err, nil))
	}
	s.stream = stream
	h := cfg.Hello
	if err := stream.Send(&peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Hello{Hello: &peerpb.Hello{
		Pair: h.Pair, FromNode: h.From, ToNode: h.To, ProtocolVersion: ProtocolVersion, ConfigDigest: h.Digest,
	}}}); err != nil && err != io.EOF {
		return fail(s.streamError(err, nil))
	}
	f, err := stream.Recv()
	if err != nil {
		return fail(s.streamError(err, stream))
	}
	reply := f.GetHelloReply()
	if reply == nil {
		return fail(&RemoteError{Msg: fmt.Sprintf("protocol error: peer %s at %s answered the Hello with %T", h.To, cfg.Address, f.GetFrame()), Permanent: true})
	}
	if !stopHandshake() {
		return fail(ctx.Err())
	}
	s.resume = change.LSN(reply.ResumeLsn)
	s.connected = true
	s.log.Info("connected to peer", "addr", cfg.Address, "resume_lsn", s.resume)
	go s.receive()
	return s, nil
}

// Resume is where the peer wants the stream to start: its origin progress, the
// end LSN of the last transaction from us it committed.
func (s *Stream) Resume() change.LSN { return s.resume }

// Send streams tx to the peer. It blocks while the window is full (MaxInFlightTx
// unacked transactions, or MaxInFlightBytes unacked bytes; a transaction bigger
// than the byte window goes alone). It returns once tx's frames are handed to
// gRPC: nothing about tx is durable then; its end LSN appears on Acks once the
// peer committed it.
//
// It returns ctx's error if ctx ends while waiting for the window (the stream
// stays usable), the stream's error if it ended, and an error without ending the
// stream if tx cannot be encoded. If ctx ends while tx is half sent, the stream
// is ended. Calls are serialised; transactions go out in the order Send is called.
func (s *Stream) Send(ctx context.Context, tx *change.Tx) error {
	if err := checkTx(tx); err != nil {
		return fmt.Errorf("send to peer %s: %w", s.cfg.Hello.To, err)
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.reserve(ctx, tx); err != nil {
		return err
	}
	// Half a transaction on the wire cannot be taken back: if ctx ends while the
	// frames go out, the stream ends (and an in-progress stream.Send returns).
	interrupted := func() {
		s.fail(fmt.Errorf("send %s to peer %s interrupted: %w", tx, s.cfg.Hello.To, context.Cause(ctx)))
	}
	stop := context.AfterFunc(ctx, interrupted)
	err := s.enc.encode(tx, s.stream.Send)
	if !stop() {
		interrupted() // the AfterFunc may still be running; fail is idempotent
		return s.Err()
	}
	if err != nil {
		if err != io.EOF { // an error of this side; otherwise receive learns the status
			s.fail(s.streamError(err, nil))
		}
		<-s.done
		return s.Err()
	}
	s.log.Debug("sent", "lsn", tx.EndLSN, "xid", tx.Xid, "changes", tx.Len())
	return nil
}

// reserve waits for room in the window and records tx as in flight.
func (s *Stream) reserve(ctx context.Context, tx *change.Tx) error {
	size := tx.Size()
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		n := len(s.inflight)
		if n == 0 || (n < s.cfg.MaxInFlightTx && s.inflightBytes+size <= s.cfg.MaxInFlightBytes) {
			s.inflight = append(s.inflight, pending{end: tx.EndLSN, size: size})
			s.inflightBytes += size
			s.mu.Unlock()
			return nil
		}
		freed := s.freed
		s.mu.Unlock()
		select {
		case <-freed:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// receive reads acks until the stream ends, delivers them on Acks in order and
// then frees their room in the window. It closes Acks on exit, after Err is set.
func (s *Stream) receive() {
	defer close(s.recvDone)
	defer close(s.acks)
	defer s.conn.Close()
	for {
		f, err := s.stream.Recv()
		if err != nil {
			s.fail(s.streamError(err, s.stream))
			return
		}
		ack := f.GetAck()
		if ack == nil {
			s.fail(&RemoteError{Msg: fmt.Sprintf("protocol error: peer %s sent %T, want an Ack", s.cfg.Hello.To, f.GetFrame()), Permanent: true})
			return
		}
		lsn := change.LSN(ack.EndLsn)
		s.mu.Lock()
		if len(s.inflight) == 0 || s.inflight[0].end != lsn {
			want := "nothing"
			if len(s.inflight) > 0 {
				want = s.inflight[0].end.String()
			}
			s.mu.Unlock()
			s.fail(&RemoteError{Msg: fmt.Sprintf("protocol error: peer %s acked %s, expected an ack for %s", s.cfg.Hello.To, lsn, want), Permanent: true})
			return
		}
		s.mu.Unlock()
		select {
		case s.acks <- lsn:
		case <-s.done:
			return
		}
		s.mu.Lock()
		s.inflightBytes -= s.inflight[0].size
		s.inflight = s.inflight[1:]
		close(s.freed)
		s.freed = make(chan struct{})
		s.mu.Unlock()
		s.log.Debug("acked", "lsn", lsn)
	}
}

// Acks delivers the end LSNs the peer has committed, in order; it is closed
// when the stream ends (then Err says why). Keep reading it: room in the window
// is freed only as acks are taken, so an unread Acks eventually blocks Send.
func (s *Stream) Acks() <-chan change.LSN { return s.acks }

// Err is why the stream ended: nil while it runs, a *RemoteError for the peer's
// errors, ErrClosed after Close, otherwise the connection failure.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the stream (the peer rolls back whatever it was applying; nothing
// acked is affected) and waits until Acks is closed.
func (s *Stream) Close() error {
	s.fail(ErrClosed)
	<-s.recvDone
	return nil
}

// fail ends the stream with err, unless it has already ended.
func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.done)
		if err != ErrClosed {
			s.log.Info("peer stream ended", "err", err)
		}
	}
	s.mu.Unlock()
	s.cancel()
}

// newConn makes the gRPC client connection to the peer (it connects lazily, on
// the first call); dial and TLS failures are kept in diag.
func newConn(cfg ClientConfig, diag *connDiag) (*grpc.ClientConn, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("dial peer %s: no address configured", cfg.Hello.To)
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = &clientCreds{TransportCredentials: credentials.NewTLS(cfg.TLS), diag: diag}
	}
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			diag.set(&dialError{err: err})
		}
		return c, err
	}
	conn, err := grpc.NewClient("passthrough:///"+cfg.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(dialer),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithReadBufferSize(ioBuffer),
		grpc.WithWriteBufferSize(ioBuffer),
	)
	if err != nil {
		return nil, fmt.Errorf("dial peer %s at %s: %w", cfg.Hello.To, cfg.Address, err)
	}
	return conn, nil
}

// streamError turns an error of the gRPC stream into ours. stream is non-nil
// when the error came from Recv, so the trailer is readable.
func (s *Stream) streamError(err error, stream grpc.ClientStream) error {
	var trailer metadata.MD
	if stream != nil {
		trailer = stream.Trailer()
	}
	return callError(s.cfg, s.diag, s.connected, err, trailer)
}

// callError turns an error of a gRPC call to the peer into ours. trailer is
// the call's trailer when it is readable (nil otherwise); connected says
// whether the peer answered before.
func callError(cfg ClientConfig, diag *connDiag, connected bool, err error, trailer metadata.MD) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("stream to peer %s at %s: %w", cfg.Hello.To, cfg.Address, err)
	}
	if len(trailer.Get(trailerNode)) > 0 {
		return &RemoteError{Msg: st.Message(), Permanent: permanentCode(st.Code()), Busy: len(trailer.Get(trailerBusy)) > 0}
	}
	if st.Code() == codes.Unimplemented {
		return &RemoteError{Permanent: true, Msg: fmt.Sprintf("peer %s at %s does not serve pgduet's protocol (not a pgduet agent, or an incompatible version): %s",
			cfg.Hello.To, cfg.Address, st.Message())}
	}
	if cause := diag.get(); cause != nil {
		return fmt.Errorf("dial peer %s at %s: %w", cfg.Hello.To, cfg.Address, cause)
	}
	if !connected {
		hint := ""
		if cfg.TLS == nil {
			hint = " (does the peer expect TLS? this node dials without it)"
		}
		return fmt.Errorf("dial peer %s at %s: %s: %s%s", cfg.Hello.To, cfg.Address, st.Code(), st.Message(), hint)
	}
	return fmt.Errorf("stream to peer %s at %s: %s: %s", cfg.Hello.To, cfg.Address, st.Code(), st.Message())
}

// connDiag keeps the last dial or TLS failure of a connection, which gRPC only
// reports as text inside an Unavailable status.
type connDiag struct {
	mu  sync.Mutex
	err error
}

func (d *connDiag) set(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

func (d *connDiag) get() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// dialError is a failed TCP connect, shown by its innermost cause
// ("connection refused"), still matching errors.Is(err, syscall.ECONNREFUSED).
type dialError struct{ err error }

func (e *dialError) Error() string {
	err := e.err
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sc *os.SyscallError
	if errors.As(err, &sc) {
		err = sc.Err
	}
	return err.Error()
}

func (e *dialError) Unwrap() error { return e.err }

// tlsError is a failed TLS handshake, local or rejected by the peer.
type tlsError struct{ err error }

func (e *tlsError) Error() string {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		op          *net.OpError
		remoteAlert = errors.As(e.err, &op) && op.Op == "remote error"
	)
	switch {
	case remoteAlert:
		return "certificate problem: the peer rejected this node's TLS certificate: " + e.err.Error()
	case errors.As(e.err, &unknownCA), errors.As(e.err, &hostname), errors.As(e.err, &invalid), errors.As(e.err, &verify):
		return "certificate problem: the peer's TLS certificate is not accepted: " + e.err.Error()
	}
	return "TLS handshake failed (certificate problem?): " + e.err.Error()
}

func (e *tlsError) Unwrap() error { return e.err }

// clientCreds records TLS failures in diag, including the peer's rejection of
// this node's certificate.
type clientCreds struct {
	credentials.TransportCredentials
	diag *connDiag
}

func (c *clientCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		c.diag.set(&tlsError{err: err})
		return nil, nil, err
	}
	ac := &alertConn{Conn: conn, diag: c.diag}
	if ti, ok := info.(credentials.TLSInfo); ok && ti.State.Version >= tls.VersionTLS13 {
		// With TLS 1.3 the server checks our certificate after our side of the
		// handshake is done, and its verdict is the first thing it sends: an
		// alert, or its HTTP/2 settings (a gRPC server speaks first). Wait for it
		// here, so a rejection reads as a certificate problem rather than as the
		// broken pipe gRPC would meet writing its preface.
		if err := ac.awaitFirstRead(ctx); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return ac, info, nil
}

func (c *clientCreds) Clone() credentials.TransportCredentials {
	return &clientCreds{TransportCredentials: c.TransportCredentials.Clone(), diag: c.diag}
}

// alertConn records a TLS alert received after the handshake. It may hold the
// first bytes the server sent, read by awaitFirstRead.
type alertConn struct {
	net.Conn
	diag  *connDiag
	first []byte
}

// awaitFirstRead reads the server's first bytes (keeping them for Read), bounded
// by ctx. A failure is recorded as a TLS failure and returned.
func (c *alertConn) awaitFirstRead(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.Conn.SetReadDeadline(time.Now()) })
	buf := make([]byte, 4096)
	n, err := c.Conn.Read(buf)
	if !stop() {
		err = fmt.Errorf("waiting for the server's answer to this node's certificate: %w", context.Cause(ctx))
	}
	c.Conn.SetReadDeadline(time.Time{})
	if n > 0 {
		c.first = buf[:n]
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	err = &tlsError{err: err}
	c.diag.set(err)
	return err
}

func (c *alertConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	var op *net.OpError
	if err != nil && errors.As(err, &op) && op.Op == "remote error" {
		c.diag.set(&tlsError{err: err})
	}
	return n, err
}
