package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/change"
	peerpb "github.com/pgduet/pgduet/agent/transport/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	testPair   = "prod"
	testDigest = "3fa2c0ffee0123456789abcdef"
	// waitLimit bounds every wait in these tests: reaching it is a failure, it
	// never orders events.
	waitLimit = 20 * time.Second
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// westConfig is the server side: west receives from east.
func westConfig(t *testing.T) ServerConfig {
	return ServerConfig{Listen: "127.0.0.1:0", Pair: testPair, Node: "west", Peer: "east", Digest: testDigest, Logger: testLogger(t)}
}

// eastHello is what east says when it dials west.
func eastHello() Hello { return Hello{Pair: testPair, From: "east", To: "west", Digest: testDigest} }

// testReceiver opens a testSession per stream.
type testReceiver struct {
	resume  change.LSN
	openErr error
	apply   func(ctx context.Context, tx *change.Tx) error // runs before a tx counts as applied

	hellos   chan Hello
	sessions chan *testSession

	mu     sync.Mutex
	events []string // "open", "close", in order
}

func newTestReceiver() *testReceiver {
	return &testReceiver{hellos: make(chan Hello, 16), sessions: make(chan *testSession, 16)}
}

func (r *testReceiver) event(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *testReceiver) Open(ctx context.Context, h Hello) (change.LSN, Session, error) {
	r.hellos <- h
	if r.openErr != nil {
		return 0, nil, r.openErr
	}
	r.event("open")
	s := &testSession{r: r, apply: r.apply, applied: make(chan *change.Tx, 64), closed: make(chan struct{})}
	r.sessions <- s
	return r.resume, s, nil
}

type testSession struct {
	r       *testReceiver
	apply   func(ctx context.Context, tx *change.Tx) error
	applied chan *change.Tx
	closes  atomic.Int32
	closed  chan struct{}
}

func (s *testSession) Apply(ctx context.Context, tx *change.Tx) error {
	if s.apply != nil {
		if err := s.apply(ctx, tx); err != nil {
			return err
		}
	}
	select {
	case s.applied <- tx:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *testSession) Close() {
	if s.closes.Add(1) == 1 {
		s.r.event("close")
		close(s.closed)
	}
}

// recv waits for a value from ch, failing the test after waitLimit.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// waitClosed waits until ch is closed, discarding anything it still delivers.
func waitClosed[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-limit:
			t.Fatalf("timed out waiting for %s to close", what)
		}
	}
}

type testServer struct {
	addr   string
	cancel context.CancelFunc
	served chan error
}

// startServer runs a Server until the test ends (or stop).
func startServer(t *testing.T, cfg ServerConfig, r Receiver) *testServer {
	t.Helper()
	srv := NewServer(cfg, r)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{addr: srv.Addr().String(), cancel: cancel, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ctx) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop cancels Serve and returns its result (once; later calls return nil).
func (ts *testServer) stop(t *testing.T) error {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.served:
		if ok {
			close(ts.served)
		}
		return err
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return after its ctx was cancelled")
	}
	return nil
}

func dialTest(t *testing.T, cfg ClientConfig) (*Stream, error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s, err := Dial(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func mustDial(t *testing.T, addr string) *Stream {
	t.Helper()
	s, err := dialTest(t, ClientConfig{Address: addr, Hello: eastHello()})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return s
}

func sendAll(t *testing.T, s *Stream, txs ...*change.Tx) {
	t.Helper()
	for _, tx := range txs {
		if err := s.Send(context.Background(), tx); err != nil {
			t.Fatalf("Send %s: %v", tx, err)
		}
	}
}

func TestHandshakeResume(t *testing.T) {
	r := newTestReceiver()
	r.resume = 0x1A2B3C8
	ts := startServer(t, westConfig(t), r)
	s := mustDial(t, ts.addr)
	if s.Resume() != r.resume {
		t.Errorf("Resume() = %s, want %s", s.Resume(), r.resume)
	}
	if h := recv(t, r.hellos, "Open"); h != eastHello() {
		t.Errorf("Open got %+v, want %+v", h, eastHello())
	}
	if s.Err() != nil {
		t.Errorf("Err() = %v while running", s.Err())
	}
}

func TestHandshakeRefused(t *testing.T) {
	for _, c := range []struct {
		name      string
		hello     func(*Hello)
		openErr   error
		permanent bool
		want      []string
		opened    bool
	}{
		{name: "wrong pair", hello: func(h *Hello) { h.Pair = "staging" }, permanent: true,
			want: []string{"pair mismatch", `"staging"`, `"prod"`}},
		{name: "wrong target node", hello: func(h *Hello) { h.To = "north" }, permanent: true,
			want: []string{"wrong node", `"north"`, `"west"`}},
		{name: "wrong sending node", hello: func(h *Hello) { h.From = "south" }, permanent: true,
			want: []string{"wrong peer", `"east"`, `"south"`}},
		{name: "digest mismatch", hello: func(h *Hello) { h.Digest = "91bc0000ffff" }, permanent: true,
			want: []string{"config digest mismatch: east has 91bc0000ffff, west has " + testDigest, "same config"}},
		{name: "open fails", openErr: errors.New("database west is starting up"), permanent: false, opened: true,
			want: []string{"west refused the stream from east: database west is starting up"}},
		{name: "open fails permanently", openErr: Permanent(errors.New("direction east→west failed")), permanent: true, opened: true,
			want: []string{"direction east→west failed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newTestReceiver()
			r.openErr = c.openErr
			ts := startServer(t, westConfig(t), r)
			h := eastHello()
			if c.hello != nil {
				c.hello(&h)
			}
			_, err := dialTest(t, ClientConfig{Address: ts.addr, Hello: h})
			re, ok := err.(*RemoteError)
			if !ok {
				t.Fatalf("Dial error = %#v, want a *RemoteError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(re.Msg, w) {
					t.Errorf("message %q does not contain %q", re.Msg, w)
				}
			}
			if re.Permanent != c.permanent {
				t.Errorf("Permanent = %v, want %v (%s)", re.Permanent, c.permanent, re.Msg)
			}
			if IsPermanent(err) != c.permanent {
				t.Errorf("IsPermanent = %v", IsPermanent(err))
			}
			if opened := len(r.hellos) > 0; opened != c.opened {
				t.Errorf("Open called = %v, want %v", opened, c.opened)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	r := newTestReceiver()
	ts := startServer(t, westConfig(t), r)
	s := mustDial(t, ts.addr)
	sess := recv(t, r.sessions, "session")

	want := testTxs()
	sendAll(t, s, want...)
	var got []*change.Tx
	for i, tx := range want {
		g := recv(t, sess.applied, "applied tx")
		if d := diffTx(tx, g); d != "" {
			t.Errorf("tx %d: %s", i, d)
		}
		got = append(got, g)
		if ack := recv(t, s.Acks(), "ack"); ack != tx.EndLSN {
			t.Errorf("ack %d = %s, want %s", i, ack, tx.EndLSN)
		}
	}
	c0, c1 := got[0].Changes, got[1].Changes
	if c0[0].Rel != c0[6].Rel || c1[2].Rels[0] != c0[0].Rel || c1[2].Rels[1] != c1[0].Rel {
		t.Error("relation pointers are not shared like on the sending side")
	}
	if c0[4].Rel == c1[0].Rel || len(c1[0].Rel.Columns) != 3 {
		t.Error("the reshaped relation was not rebuilt")
	}

	// The relations stay defined for later transactions on the stream.
	again := testTxs()[:1]
	again[0].Changes = want[0].Changes // same pointers: no new Relation frames needed
	again[0].CommitLSN, again[0].EndLSN = 0x2000000, 0x2000010
	sendAll(t, s, again[0])
	if d := diffTx(again[0], recv(t, sess.applied, "applied tx")); d != "" {
		t.Error(d)
	}
	if ack := recv(t, s.Acks(), "ack"); ack != again[0].EndLSN {
		t.Errorf("ack = %s, want %s", ack, again[0].EndLSN)
	}
}

func TestBigTransaction(t *testing.T) {
	r := newTestReceiver()
	ts := startServer(t, westConfig(t), r)
	s := mustDial(t, ts.addr)
	sess := recv(t, r.sessions, "session")
	want := bigTx(20000, 5<<20)
	sendAll(t, s, want)
	got := recv(t, sess.applied, "the big transaction")
	if d := diffTx(want, got); d != "" {
		t.Fatal(d)
	}
	if ack := recv(t, s.Acks(), "ack"); ack != want.EndLSN {
		t.Errorf("ack = %s, want %s", ack, want.EndLSN)
	}
}

// gatedReceiver returns a receiver whose Apply waits for a token on the returned
// channel.
func gatedReceiver() (*testReceiver, chan struct{}) {
	gate := make(chan struct{})
	r := newTestReceiver()
	r.apply = func(ctx context.Context, tx *change.Tx) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r, gate
}

func smallTx(end change.LSN) *change.Tx {
	users, _, _ := testRelations()
	return &change.Tx{Xid: uint32(end), CommitLSN: end - 8, EndLSN: end, CommitTime: time.Unix(1e9, 0).UTC(),
		Changes: []change.Change{{Op: change.Insert, Rel: users, New: []change.Value{text("1"), text("x"), null}}}}
}

// blockedSend checks that Send(tx) blocks: with a deadline it returns
// DeadlineExceeded, and the stream stays usable.
func blockedSend(t *testing.T, s *Stream, tx *change.Tx) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Send(ctx, tx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with a full window = %v, want it to block until its deadline", err)
	}
	if s.Err() != nil {
		t.Fatalf("stream ended after a Send timed out waiting for the window: %v", s.Err())
	}
}

func TestWindowBackPressureTx(t *testing.T) {
	r, gate := gatedReceiver()
	ts := startServer(t, westConfig(t), r)
	s, err := dialTest(t, ClientConfig{Address: ts.addr, Hello: eastHello(), MaxInFlightTx: 2})
	if err != nil {
		t.Fatal(err)
	}
	sess := recv(t, r.sessions, "session")
	tx1, tx2, tx3 := smallTx(0x100), smallTx(0x200), smallTx(0x300)
	sendAll(t, s, tx1, tx2)
	blockedSend(t, s, tx3)

	sent := make(chan error, 1)
	go func() { sent <- s.Send(context.Background(), tx3) }()
	select {
	case err := <-sent:
		t.Fatalf("third Send returned (%v) with two transactions unacked", err)
	default:
	}
	gate <- struct{}{} // tx1 may commit
	if got := recv(t, sess.applied, "tx1"); got.EndLSN != tx1.EndLSN {
		t.Fatalf("applied %s first, want %s", got, tx1)
	}
	if ack := recv(t, s.Acks(), "ack of tx1"); ack != tx1.EndLSN {
		t.Fatalf("ack = %s, want %s", ack, tx1.EndLSN)
	}
	if err := recv(t, sent, "the third Send"); err != nil {
		t.Fatalf("third Send after an ack: %v", err)
	}
	for _, tx := range []*change.Tx{tx2, tx3} {
		gate <- struct{}{}
		recv(t, sess.applied, "applied tx")
		if ack := recv(t, s.Acks(), "ack"); ack != tx.EndLSN {
			t.Fatalf("ack = %s, want %s", ack, tx.EndLSN)
		}
	}
}

func TestWindowBackPressureBytes(t *testing.T) {
	r, gate := gatedReceiver()
	ts := startServer(t, westConfig(t), r)
	small := smallTx(0x100)
	s, err := dialTest(t, ClientConfig{Address: ts.addr, Hello: eastHello(), MaxInFlightBytes: small.Size() + small.Size()/2})
	if err != nil {
		t.Fatal(err)
	}
	sess := recv(t, r.sessions, "session")
	sendAll(t, s, small)
	blockedSend(t, s, smallTx(0x200)) // two would exceed the byte window

	gate <- struct{}{}
	recv(t, sess.applied, "tx")
	recv(t, s.Acks(), "ack")
	// Nothing in flight: a transaction bigger than the whole window still goes.
	big := bigTx(100, 1<<16)
	sendAll(t, s, big)
	blockedSend(t, s, smallTx(0x6000000))
	gate <- struct{}{}
	if got := recv(t, sess.applied, "big tx"); got.EndLSN != big.EndLSN {
		t.Fatalf("applied %s, want %s", got, big)
	}
	if ack := recv(t, s.Acks(), "ack"); ack != big.EndLSN {
		t.Fatalf("ack = %s, want %s", ack, big.EndLSN)
	}
}

func TestApplyError(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"permanent", Permanent(errors.New("apply east→west tx 0/200 (xid 512): insert public.users: duplicate key (SQLSTATE 23505)")), true},
		{"retryable", errors.New("apply east→west tx 0/200 (xid 512): terminating connection (SQLSTATE 57P01)"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newTestReceiver()
			r.apply = func(ctx context.Context, tx *change.Tx) error {
				if tx.EndLSN == 0x200 {
					return c.err
				}
				return nil
			}
			ts := startServer(t, westConfig(t), r)
			s := mustDial(t, ts.addr)
			sess := recv(t, r.sessions, "session")
			sendAll(t, s, smallTx(0x100), smallTx(0x200))
			if ack := recv(t, s.Acks(), "ack"); ack != 0x100 {
				t.Fatalf("ack = %s, want 0/100", ack)
			}
			waitClosed(t, s.Acks(), "Acks")
			var re *RemoteError
			if !errors.As(s.Err(), &re) {
				t.Fatalf("Err() = %#v, want a *RemoteError", s.Err())
			}
			if re.Permanent != c.permanent {
				t.Errorf("Permanent = %v, want %v", re.Permanent, c.permanent)
			}
			if !strings.Contains(re.Msg, c.err.Error()) || !strings.HasPrefix(re.Msg, "west: ") {
				t.Errorf("Msg = %q, want west's error %q", re.Msg, c.err)
			}
			if err := s.Send(context.Background(), smallTx(0x300)); err != s.Err() {
				t.Errorf("Send after the stream ended = %v, want %v", err, s.Err())
			}
			recv(t, sess.closed, "Session.Close")
			if n := sess.closes.Load(); n != 1 {
				t.Errorf("Session.Close called %d times", n)
			}
		})
	}
}

func TestServerShutdownEndsStream(t *testing.T) {
	r := newTestReceiver()
	ts := startServer(t, westConfig(t), r)
	s := mustDial(t, ts.addr)
	sess := recv(t, r.sessions, "session")
	sendAll(t, s, smallTx(0x100))
	recv(t, s.Acks(), "ack")

	if err := ts.stop(t); err != nil {
		t.Fatalf("Serve = %v after its ctx was cancelled, want nil", err)
	}
	recv(t, sess.closed, "Session.Close") // Serve returned, so it must already be closed
	waitClosed(t, s.Acks(), "Acks")
	err := s.Err()
	if err == nil {
		t.Fatal("Err() = nil after the server stopped")
	}
	if IsPermanent(err) {
		t.Errorf("Err() = %v is permanent; a stopping peer is retryable", err)
	}
	t.Logf("client saw: %v", err)
	if err := s.Send(context.Background(), smallTx(0x200)); err == nil {
		t.Error("Send succeeded on an ended stream")
	}
}

func TestClientClose(t *testing.T) {
	r := newTestReceiver()
	ts := startServer(t, westConfig(t), r)
	s := mustDial(t, ts.addr)
	sess := recv(t, r.sessions, "session")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, s.Acks(), "Acks")
	if s.Err() != ErrClosed {
		t.Errorf("Err() = %v, want ErrClosed", s.Err())
	}
	recv(t, sess.closed, "Session.Close")
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewStreamSupersedesOld(t *testing.T) {
	r := newTestReceiver()
	ts := startServer(t, westConfig(t), r)
	old := mustDial(t, ts.addr)
	oldSess := recv(t, r.sessions, "first session")
	s := mustDial(t, ts.addr)
	recv(t, r.sessions, "second session")
	recv(t, oldSess.closed, "first Session.Close")
	waitClosed(t, old.Acks(), "old Acks")
	var re *RemoteError
	if !errors.As(old.Err(), &re) || re.Permanent || !strings.Contains(re.Msg, "superseded") {
		t.Errorf("old stream ended with %v, want a retryable RemoteError about being superseded", old.Err())
	}
	r.mu.Lock()
	events := strings.Join(r.events, ",")
	r.mu.Unlock()
	if events != "open,close,open" {
		t.Errorf("events %s, want open,close,open: the old Session must close before the new one opens", events)
	}
	sendAll(t, s, smallTx(0x100))
	recv(t, s.Acks(), "ack on the new stream")
}

func TestDialRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	_, err = dialTest(t, ClientConfig{Address: addr, Hello: eastHello()})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if want := "dial peer west at " + addr + ": connection refused"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not match ECONNREFUSED", err)
	}
}

// rawStream opens a Replicate stream without the Stream client, to send frames
// the client never would.
func rawStream(t *testing.T, addr string) grpc.BidiStreamingClient[peerpb.SenderFrame, peerpb.ReceiverFrame] {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	st, err := peerpb.NewPeerClient(conn).Replicate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestProtocolErrors(t *testing.T) {
	hello := func(version uint32) *peerpb.SenderFrame {
		return &peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Hello{Hello: &peerpb.Hello{
			Pair: testPair, FromNode: "east", ToNode: "west", ProtocolVersion: version, ConfigDigest: testDigest}}}
	}
	unknownRel := &peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Tx{Tx: &peerpb.TxChunk{
		Begin:   &peerpb.TxBegin{Xid: 5, EndLsn: 0x100},
		Changes: []*peerpb.Change{{Op: peerpb.Op_OP_DELETE, Relation: 9}},
	}}}
	for _, c := range []struct {
		name   string
		frames []*peerpb.SenderFrame
		code   codes.Code
		want   string
	}{
		{"no hello", []*peerpb.SenderFrame{unknownRel}, codes.InvalidArgument, "the first frame must be a Hello, got a TxChunk"},
		{"protocol version", []*peerpb.SenderFrame{hello(ProtocolVersion + 1)}, codes.FailedPrecondition, fmt.Sprintf("protocol version mismatch: east speaks %d, west speaks %d", ProtocolVersion+1, ProtocolVersion)},
		{"unknown relation", []*peerpb.SenderFrame{hello(ProtocolVersion), unknownRel}, codes.InvalidArgument,
			"protocol error from east to west: tx 0/100 (xid 5, 0 changes): change 0: delete refers to unknown relation id 9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newTestReceiver()
			ts := startServer(t, westConfig(t), r)
			st := rawStream(t, ts.addr)
			for _, f := range c.frames {
				if err := st.Send(f); err != nil {
					break // the server may have ended the stream already
				}
			}
			var err error
			for err == nil {
				_, err = st.Recv()
			}
			s := status.Convert(err)
			if s.Code() != c.code || !strings.Contains(s.Message(), c.want) {
				t.Errorf("status %s %q, want %s containing %q", s.Code(), s.Message(), c.code, c.want)
			}
			if got := st.Trailer().Get(trailerNode); len(got) != 1 || got[0] != "west" {
				t.Errorf("trailer %s = %v, want [west]", trailerNode, got)
			}
		})
	}
}

// TestRemoteErrorClassification covers the status codes the brief names.
func TestRemoteErrorClassification(t *testing.T) {
	for c, want := range map[codes.Code]bool{
		codes.FailedPrecondition: true, codes.InvalidArgument: true, codes.PermissionDenied: true,
		codes.Unavailable: false, codes.Aborted: false, codes.Canceled: false,
		codes.DeadlineExceeded: false, codes.ResourceExhausted: false,
	} {
		if permanentCode(c) != want {
			t.Errorf("permanentCode(%s) = %v, want %v", c, !want, want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	base := errors.New("boom")
	if p := Permanent(base); !IsPermanent(p) || !errors.Is(p, base) || p.Error() != "boom" {
		t.Errorf("Permanent(boom) = %v", p)
	}
}

// TestTLSClientAgainstPlainServer: a TLS client dialing a plain server gets a
// clear error rather than a hang.
func TestTLSClientAgainstPlainServer(t *testing.T) {
	r := newTestReceiver()
	ts := startServer(t, westConfig(t), r)
	p := newPKI(t)
	cfg, err := ClientTLS(p.caFile, p.eastCert, p.eastKey, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = dialTest(t, ClientConfig{Address: ts.addr, Hello: eastHello(), TLS: cfg})
	if err == nil {
		t.Fatal("a TLS client reached a plain server")
	}
	t.Logf("Dial: %v", err)
	if !strings.Contains(err.Error(), "dial peer west at "+ts.addr) || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("error %q should name the peer, the address and TLS", err)
	}
}

// TestPlainClientAgainstTLSServer: a client without TLS dialing a TLS server
// gets an error naming the peer and the address, not a hang.
func TestPlainClientAgainstTLSServer(t *testing.T) {
	p := newPKI(t)
	stls, err := ServerTLS(p.caFile, p.westCert, p.westKey, "east")
	if err != nil {
		t.Fatal(err)
	}
	cfg := westConfig(t)
	cfg.TLS = stls
	r := newTestReceiver()
	ts := startServer(t, cfg, r)
	_, err = dialTest(t, ClientConfig{Address: ts.addr, Hello: eastHello()})
	if err == nil {
		t.Fatal("a plain client reached a TLS server")
	}
	t.Logf("Dial: %v", err)
	if !strings.HasPrefix(err.Error(), "dial peer west at "+ts.addr) || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("error %q should name the peer, the address and TLS", err)
	}
	if IsPermanent(err) {
		t.Errorf("error %v is permanent", err)
	}
}

func TestDialContextCancelled(t *testing.T) {
	ts := startServer(t, westConfig(t), newTestReceiver())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Dial(ctx, ClientConfig{Address: ts.addr, Hello: eastHello()})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "dial peer west at "+ts.addr+": ") {
		t.Fatalf("Dial with a cancelled ctx = %v, want a dial error wrapping context.Canceled", err)
	}
}
