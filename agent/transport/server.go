package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// ServerConfig configures the receiving side of a direction.
type ServerConfig struct {
	Listen                   string      // host:port; port 0 allowed (tests)
	TLS                      *tls.Config // nil = insecure
	Pair, Node, Peer, Digest string      // what this (receiving) agent expects
	Logger                   *slog.Logger
	// Source serves the initial sync's calls; nil on the node that is not the
	// DDL source (the calls are refused).
	Source Source
	// SpillBytes is how much of one incoming transaction's changes (by
	// change.Change.Size) is held in memory; past it they go to a spill
	// file in SpillDir (os.TempDir() when empty). 0: change.DefaultSpillBytes;
	// negative: never spill.
	SpillBytes int
	SpillDir   string
}

// Server accepts the peer's Replicate streams and hands their transactions to a
// Receiver's Sessions, acking each transaction after Session.Apply committed it.
type Server struct {
	cfg  ServerConfig
	recv Receiver
	log  *slog.Logger

	mu      sync.Mutex
	lis     net.Listener
	serving bool
	runCtx  context.Context // Serve's ctx: handlers end when it is done
	active  *activeStream   // the stream holding the Session, if any
	streams sync.WaitGroup  // running handlers
}

// activeStream is the stream that holds (or is about to open) the Session.
type activeStream struct {
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once its Session is closed and every earlier stream has ended
}

var (
	errShuttingDown = errors.New("shutting down")
	errSuperseded   = errors.New("superseded by a newer stream")
)

// NewServer returns a server for cfg that hands accepted streams to r. It does
// no I/O; Listen binds, Serve accepts.
func NewServer(cfg ServerConfig, r Receiver) *Server {
	return &Server{cfg: cfg, recv: r, log: orDiscard(cfg.Logger)}
}

// Listen binds the listening socket. After it returns nil, Addr is valid.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis != nil {
		return nil
	}
	lis, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for peer %s on %s: %w", s.cfg.Peer, s.cfg.Listen, err)
	}
	s.lis = lis
	return nil
}

// Addr is the bound address (nil before Listen).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// Serve accepts streams until ctx is done (binding first if Listen was not
// called). Then it ends every stream (each Session sees its Apply ctx cancelled
// and is closed), and returns nil once they have all ended. It returns an error
// only if serving failed.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("transport: Serve called twice")
	}
	s.serving = true
	s.runCtx = ctx
	lis := s.lis
	s.mu.Unlock()

	creds := insecure.NewCredentials()
	if s.cfg.TLS != nil {
		creds = &serverCreds{TransportCredentials: credentials.NewTLS(s.cfg.TLS), log: s.log}
	}
	gs := grpc.NewServer(
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(ioBuffer),
		grpc.WriteBufferSize(ioBuffer),
	)
	peerpb.RegisterPeerServer(gs, service{s: s})
	s.log.Info("listening for peer", "peer", s.cfg.Peer, "addr", lis.Addr().String(), "tls", s.cfg.TLS != nil)

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	var err error
	select {
	case err = <-served:
		if err != nil {
			err = fmt.Errorf("serve peer %s on %s: %w", s.cfg.Peer, lis.Addr(), err)
		}
	case <-ctx.Done():
	}
	// Handlers watch ctx and end their streams with "shutting down"; GracefulStop
	// lets those statuses reach the peer. An Apply that ignores its ctx must not
	// hold the process: after shutdownGrace the connections are closed hard.
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	grace := time.NewTimer(shutdownGrace)
	select {
	case <-stopped:
	case <-grace.C:
		s.log.Warn("peer streams did not end in time; closing connections", "peer", s.cfg.Peer, "grace", shutdownGrace)
		gs.Stop()
		<-stopped
	}
	grace.Stop()
	s.streams.Wait() // every Session is closed
	if err == nil {
		s.log.Info("stopped listening for peer", "peer", s.cfg.Peer)
	}
	return err
}

type service struct {
	peerpb.UnimplementedPeerServer
	s *Server
}

func (v service) Replicate(stream grpc.BidiStreamingServer[peerpb.SenderFrame, peerpb.ReceiverFrame]) error {
	return v.s.replicate(stream)
}

// inbound is what the reading goroutine hands to the handler, in stream order:
// the Hello, then whole transactions, then exactly one end (err, or eof).
type inbound struct {
	hello *peerpb.Hello
	tx    *change.Tx
	err   error
	eof   bool
}

// replicate runs one stream: handshake, then apply and ack each transaction.
func (s *Server) replicate(stream grpc.BidiStreamingServer[peerpb.SenderFrame, peerpb.ReceiverFrame]) error {
	s.streams.Add(1)
	defer s.streams.Done()
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	s.mu.Lock()
	runCtx := s.runCtx
	s.mu.Unlock()
	stopWatch := context.AfterFunc(runCtx, func() { cancel(errShuttingDown) })
	defer stopWatch()

	in := make(chan inbound, maxGroupTxs)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.read(ctx, stream, in)
	}()
	var txs []*change.Tx // being applied
	defer func() {
		// Spill files of transactions not applied: those being applied,
		// and those read ahead, once the reader has stopped.
		for _, tx := range txs {
			tx.Release()
		}
		// The reader may be blocked in Recv until this handler has
		// returned: wait for it elsewhere.
		go func() {
			<-readDone
			for {
				select {
				case it := <-in:
					if it.tx != nil {
						it.tx.Release()
					}
				default:
					return
				}
			}
		}()
	}()

	var first inbound
	select {
	case first = <-in:
	case <-ctx.Done():
		return s.ended(ctx, stream, "")
	}
	if first.err != nil || first.eof {
		return s.readFailed(ctx, stream, "the sender", first)
	}
	ph := first.hello
	h := Hello{Pair: ph.Pair, From: ph.FromNode, To: ph.ToNode, Digest: ph.ConfigDigest}
	if msg := s.checkHello(ph); msg != "" {
		s.log.Warn("refused peer stream", "peer", s.cfg.Peer, "from", h.From, "reason", msg)
		return s.status(stream, codes.FailedPrecondition, msg)
	}
	log := s.log.With("direction", h.From+"→"+s.cfg.Node)

	release, err := s.claim(ctx, cancel)
	if err != nil {
		return s.ended(ctx, stream, h.From)
	}
	defer release()

	resume, sess, err := s.recv.Open(ctx, h)
	if err != nil {
		if ctx.Err() != nil && !IsPermanent(err) {
			return s.ended(ctx, stream, h.From)
		}
		log.Warn("refused peer stream", "err", err)
		code := codes.Unavailable
		if IsPermanent(err) {
			code = codes.FailedPrecondition
		}
		if IsBusy(err) {
			stream.SetTrailer(metadata.Pairs(trailerBusy, "1"))
		}
		return s.status(stream, code, fmt.Sprintf("%s refused the stream from %s: %v", s.cfg.Node, h.From, err))
	}
	defer sess.Close()
	if err := stream.Send(&peerpb.ReceiverFrame{Frame: &peerpb.ReceiverFrame_HelloReply{
		HelloReply: &peerpb.HelloReply{ResumeLsn: uint64(resume)},
	}}); err != nil {
		return err
	}
	log.Info("peer stream opened", "resume_lsn", resume)

	// Cases, in stream order:
	//   - a whole transaction: Apply it; on nil, Ack its end LSN; on error, end
	//     the stream with that error (permanent if marked so);
	//   - the sender half-closed between transactions: end cleanly;
	//   - a receive or protocol error: end the stream with it;
	//   - ctx done (peer gone, newer stream, shutdown): end with the reason.
	//   Transactions that have already arrived while the previous ones were
	//   applied go to a GroupSession together (at most maxGroupTxs).
	group, _ := sess.(GroupSession)
	var next *inbound // read ahead by the grouping, not handled yet
	for {
		var it inbound
		if next != nil {
			it, next = *next, nil
		} else {
			select {
			case it = <-in:
			case <-ctx.Done():
				return s.ended(ctx, stream, h.From)
			}
		}
		switch {
		case it.tx != nil:
			txs = []*change.Tx{it.tx}
		more:
			for group != nil && len(txs) < maxGroupTxs {
				select {
				case more := <-in:
					if more.tx == nil {
						next = &more
						break more
					}
					txs = append(txs, more.tx)
				default:
					break more
				}
			}
			var n int
			var err error
			if group != nil && len(txs) > 1 {
				if n, err = group.ApplyGroup(ctx, txs); err == nil && n != len(txs) {
					err = fmt.Errorf("internal error: %d of %d transactions applied, and no error", n, len(txs))
				}
			} else if err = sess.Apply(ctx, txs[0]); err == nil {
				n = 1
			}
			for _, tx := range txs[:n] {
				log.Debug("applied", "lsn", tx.EndLSN, "xid", tx.Xid, "changes", tx.Len())
				if err := stream.Send(&peerpb.ReceiverFrame{Frame: &peerpb.ReceiverFrame_Ack{
					Ack: &peerpb.Ack{EndLsn: uint64(tx.EndLSN)},
				}}); err != nil {
					return err
				}
			}
			for _, tx := range txs {
				tx.Release() // applied, or the stream ends below
			}
			if err != nil {
				if ctx.Err() != nil && !IsPermanent(err) {
					return s.ended(ctx, stream, h.From)
				}
				tx := txs[min(n, len(txs)-1)]
				log.Warn("apply failed; ending peer stream", "lsn", tx.EndLSN, "xid", tx.Xid, "err", err)
				code := codes.Aborted
				if IsPermanent(err) {
					code = codes.FailedPrecondition
				}
				return s.status(stream, code, fmt.Sprintf("%s: %v", s.cfg.Node, err))
			}
			txs = nil
		case it.eof:
			log.Info("peer stream ended by the sender")
			return nil
		default:
			return s.readFailed(ctx, stream, h.From, it)
		}
	}
}

// read receives frames until the stream ends, handing the Hello and then whole
// transactions to the handler. It runs beside the handler so the next
// transaction arrives while the previous one is applied.
func (s *Server) read(ctx context.Context, stream grpc.BidiStreamingServer[peerpb.SenderFrame, peerpb.ReceiverFrame], out chan<- inbound) {
	push := func(it inbound) bool {
		select {
		case out <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	f, err := stream.Recv()
	if err != nil {
		push(inbound{err: err, eof: err == io.EOF})
		return
	}
	if f.GetHello() == nil {
		push(inbound{err: protocolError(fmt.Errorf("the first frame must be a Hello, got %s", frameName(f)))})
		return
	}
	if !push(inbound{hello: f.GetHello()}) {
		return
	}
	dec := newDecoder()
	dec.spillDir = s.cfg.SpillDir
	switch {
	case s.cfg.SpillBytes == 0:
		dec.spillBytes = change.DefaultSpillBytes
	case s.cfg.SpillBytes > 0:
		dec.spillBytes = s.cfg.SpillBytes
	}
	defer dec.drop()
	for {
		f, err := stream.Recv()
		if err == io.EOF {
			if tx := dec.open(); tx != nil {
				push(inbound{err: protocolError(fmt.Errorf("stream ended inside %s", tx))})
				return
			}
			push(inbound{eof: true})
			return
		}
		if err != nil {
			push(inbound{err: err})
			return
		}
		tx, err := dec.frame(f)
		if err != nil {
			push(inbound{err: protocolError(err)})
			return
		}
		if tx != nil && !push(inbound{tx: tx}) {
			tx.Release()
			return
		}
	}
}

type protoErr struct{ err error }

func (e *protoErr) Error() string { return e.err.Error() }

func protocolError(err error) error { return &protoErr{err: err} }

func frameName(f *peerpb.SenderFrame) string {
	switch f.GetFrame().(type) {
	case *peerpb.SenderFrame_Relation:
		return "a Relation"
	case *peerpb.SenderFrame_Tx:
		return "a TxChunk"
	case nil:
		return "an empty frame"
	}
	return fmt.Sprintf("%T", f.GetFrame())
}

// checkHello returns why the stream must be refused, or "".
func (s *Server) checkHello(h *peerpb.Hello) string {
	from := h.FromNode
	if from == "" {
		from = "the sender"
	}
	switch {
	case h.ProtocolVersion != ProtocolVersion:
		return fmt.Sprintf("protocol version mismatch: %s speaks %d, %s speaks %d — run the same pgduet version on both nodes",
			from, h.ProtocolVersion, s.cfg.Node, ProtocolVersion)
	case h.Pair != s.cfg.Pair:
		return fmt.Sprintf("pair mismatch: %s is in pair %q, %s is in pair %q", from, h.Pair, s.cfg.Node, s.cfg.Pair)
	case h.ToNode != s.cfg.Node:
		return fmt.Sprintf("wrong node: %s dialled node %q, but this is %q", from, h.ToNode, s.cfg.Node)
	case h.FromNode != s.cfg.Peer:
		return fmt.Sprintf("wrong peer: %s expects its peer %q, but %q connected", s.cfg.Node, s.cfg.Peer, h.FromNode)
	case h.ConfigDigest != s.cfg.Digest:
		return fmt.Sprintf("config digest mismatch: %s has %s, %s has %s — run both agents with the same config",
			from, h.ConfigDigest, s.cfg.Node, s.cfg.Digest)
	}
	return ""
}

// claim makes this stream the active one: it ends the previous stream (whose
// Session is closed when its handler returns) and waits for it, so at most one
// Session is open at a time. release must be called after this stream's
// Session is closed.
func (s *Server) claim(ctx context.Context, cancel context.CancelCauseFunc) (release func(), err error) {
	me := &activeStream{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	prev := s.active
	s.active = me
	s.mu.Unlock()
	release = func() {
		s.mu.Lock()
		if s.active == me {
			s.active = nil
		}
		s.mu.Unlock()
		if prev != nil {
			<-prev.done // prev was cancelled and is ending
		}
		close(me.done)
	}
	if prev == nil {
		return release, nil
	}
	s.log.Info("a new peer stream replaces the running one", "peer", s.cfg.Peer)
	prev.cancel(errSuperseded)
	select {
	case <-prev.done:
		return release, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// ended returns the status for a stream whose ctx is done.
func (s *Server) ended(ctx context.Context, stream grpc.ServerStream, from string) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errShuttingDown):
		return s.status(stream, codes.Unavailable, fmt.Sprintf("%s is shutting down", s.cfg.Node))
	case errors.Is(cause, errSuperseded):
		return s.status(stream, codes.Aborted, fmt.Sprintf("%s: stream from %s superseded by a newer stream", s.cfg.Node, from))
	default: // the sender went away; nobody hears this status
		return status.FromContextError(ctx.Err()).Err()
	}
}

// readFailed returns the status for a stream whose reading ended badly.
func (s *Server) readFailed(ctx context.Context, stream grpc.ServerStream, from string, it inbound) error {
	var pe *protoErr
	switch {
	case errors.As(it.err, &pe):
		s.log.Warn("protocol error on peer stream", "peer", s.cfg.Peer, "err", pe.err)
		return s.status(stream, codes.InvalidArgument, fmt.Sprintf("protocol error from %s to %s: %v", from, s.cfg.Node, pe.err))
	case it.eof:
		return s.status(stream, codes.InvalidArgument, fmt.Sprintf("protocol error: the stream to %s ended before the Hello", s.cfg.Node))
	case ctx.Err() != nil:
		return s.ended(ctx, stream, from)
	}
	return it.err // the stream broke; the status is grpc's
}

// status ends the stream with a status decided here; the trailer tells the
// client that the peer (not the network) said so.
func (s *Server) status(stream grpc.ServerStream, code codes.Code, msg string) error {
	stream.SetTrailer(metadata.Pairs(trailerNode, s.cfg.Node))
	return status.Error(code, msg)
}

// serverCreds logs failed TLS handshakes (a peer with the wrong certificate)
// where the operator of this node sees them.
type serverCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

func (c *serverCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.log.Warn("peer TLS handshake failed (certificate problem?)", "remote", raw.RemoteAddr().String(), "err", err)
	}
	return conn, info, err
}

func (c *serverCreds) Clone() credentials.TransportCredentials {
	return &serverCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}
