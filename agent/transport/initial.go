package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pgduet/pgduet/agent/change"
	peerpb "github.com/pgduet/pgduet/agent/transport/proto"
)

// The initial sync's calls (proto: Snapshot, Schema, Copy, Sequences). The
// receiving agent of the DDL source's direction is the client: it drives the
// copy and keeps its state in its own database, atomically with the copied
// rows. The DDL source's agent serves them through a Source.

// Snapshot is an exported snapshot of the DDL source: what Source.ExportSnapshot
// hands to ready.
type Snapshot struct {
	ID     string     // opaque handle, valid while the Snapshot call lasts
	LSN    change.LSN // the snapshot sees exactly the transactions that committed before it
	Tables []SyncTable
}

// SyncTable is one selected table of the DDL source.
type SyncTable struct {
	Schema, Name             string   // the DDL source's names
	TargetSchema, TargetName string   // the receiving node's names
	TargetColumns            []string // replicated columns in the receiver's names, in COPY order
	EstRows                  float64
	EstBytes                 int64
	// SchemaSynced: the table's definition is in Schema's dump; otherwise it
	// must exist on the receiver already.
	SchemaSynced bool
	// Blocks is the table's size in heap blocks at the snapshot; 0 when it
	// is not copied in parts (a partitioned table, a table without a unique
	// index).
	Blocks int64
}

// Blocks is a part of a table: the rows in heap blocks [From, To), or from
// From on when To is 0. The zero value is the whole table.
type Blocks struct{ From, To uint32 }

// Whole reports whether b is the whole table.
func (b Blocks) Whole() bool { return b == Blocks{} }

// SequenceValue is a sequence's state, named as on the receiving node.
type SequenceValue struct {
	Schema, Name string
	LastValue    int64
	IsCalled     bool
}

// Source serves the initial sync on the DDL source's agent. Errors marked
// with Permanent reach the client as permanent *RemoteError.
type Source interface {
	// ExportSnapshot exports a snapshot, calls ready once with it, and keeps
	// it alive until ctx ends.
	ExportSnapshot(ctx context.Context, ready func(Snapshot) error) error
	// DumpSchema writes the schema dump of section "pre-data" or "post-data"
	// under the snapshot.
	DumpSchema(ctx context.Context, snapshot, section string, w io.Writer) error
	// CopyTable writes one table's rows (those in blocks) in COPY text
	// format under the snapshot.
	CopyTable(ctx context.Context, snapshot, schema, name string, blocks Blocks, w io.Writer) error
	// Sequences reads the selected sequences.
	Sequences(ctx context.Context, snapshot string) ([]SequenceValue, error)
}

// chunkSize is the size of the DataChunk messages of Schema and Copy.
const chunkSize = 256 << 10

// chunkWriter sends what it is given as DataChunks (behind a bufio.Writer).
type chunkWriter struct {
	send func(*peerpb.DataChunk) error
}

func (w chunkWriter) Write(p []byte) (int, error) {
	// gRPC serialises the message before SendMsg returns: p may be reused.
	if err := w.send(&peerpb.DataChunk{Data: p}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sourceCall checks a call's Hello and finds the Source; a non-empty refusal
// is the status to end the call with.
func (s *Server) sourceCall(h *peerpb.Hello) (Source, codes.Code, string) {
	if h == nil {
		return nil, codes.InvalidArgument, fmt.Sprintf("protocol error: a call to %s without a Hello", s.cfg.Node)
	}
	if msg := s.checkHello(h); msg != "" {
		return nil, codes.FailedPrecondition, msg
	}
	if s.cfg.Source == nil {
		return nil, codes.FailedPrecondition, fmt.Sprintf("%s does not serve the initial sync: it is not the pair's DDL source", s.cfg.Node)
	}
	return s.cfg.Source, codes.OK, ""
}

// sourceError is the status for a Source's error.
func (s *Server) sourceError(ctx context.Context, err error) error {
	code := codes.Unavailable
	if IsPermanent(err) {
		code = codes.FailedPrecondition
	}
	if ctx.Err() != nil && !IsPermanent(err) {
		return status.FromContextError(ctx.Err()).Err()
	}
	_ = grpc.SetTrailer(ctx, metadata.Pairs(trailerNode, s.cfg.Node))
	return status.Error(code, fmt.Sprintf("%s: %v", s.cfg.Node, err))
}

func (s *Server) refuse(ctx context.Context, code codes.Code, msg string) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs(trailerNode, s.cfg.Node))
	return status.Error(code, msg)
}

func (v service) Snapshot(req *peerpb.SnapshotRequest, stream grpc.ServerStreamingServer[peerpb.SnapshotReply]) error {
	s := v.s
	ctx := stream.Context()
	src, code, msg := s.sourceCall(req.GetHello())
	if msg != "" {
		return s.refuse(ctx, code, msg)
	}
	s.streams.Add(1)
	defer s.streams.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.runCtx, cancel) // shutting down ends the snapshot
	defer stop()
	err := src.ExportSnapshot(ctx, func(snap Snapshot) error {
		reply := &peerpb.SnapshotReply{Snapshot: snap.ID, Lsn: uint64(snap.LSN)}
		for _, t := range snap.Tables {
			reply.Tables = append(reply.Tables, &peerpb.SyncTable{
				Schema: t.Schema, Name: t.Name, TargetSchema: t.TargetSchema, TargetName: t.TargetName,
				TargetColumns: t.TargetColumns, EstRows: t.EstRows, EstBytes: t.EstBytes, SchemaSynced: t.SchemaSynced,
				Blocks: t.Blocks,
			})
		}
		return stream.Send(reply)
	})
	if err != nil {
		return s.sourceError(ctx, err)
	}
	return nil
}

func (v service) Schema(req *peerpb.SchemaRequest, stream grpc.ServerStreamingServer[peerpb.DataChunk]) error {
	s := v.s
	ctx := stream.Context()
	src, code, msg := s.sourceCall(req.GetHello())
	if msg != "" {
		return s.refuse(ctx, code, msg)
	}
	if req.Section != "pre-data" && req.Section != "post-data" {
		return s.refuse(ctx, codes.InvalidArgument, fmt.Sprintf("protocol error: schema section %q", req.Section))
	}
	return s.streamChunks(ctx, stream, func(w io.Writer) error { return src.DumpSchema(ctx, req.Snapshot, req.Section, w) })
}

func (v service) Copy(req *peerpb.CopyRequest, stream grpc.ServerStreamingServer[peerpb.DataChunk]) error {
	s := v.s
	ctx := stream.Context()
	src, code, msg := s.sourceCall(req.GetHello())
	if msg != "" {
		return s.refuse(ctx, code, msg)
	}
	return s.streamChunks(ctx, stream, func(w io.Writer) error {
		return src.CopyTable(ctx, req.Snapshot, req.Schema, req.Name, Blocks{From: req.BlockFrom, To: req.BlockTo}, w)
	})
}

// streamChunks runs write with a writer that sends what it is given as
// DataChunks of chunkSize.
func (s *Server) streamChunks(ctx context.Context, stream grpc.ServerStreamingServer[peerpb.DataChunk], write func(io.Writer) error) error {
	w := bufio.NewWriterSize(chunkWriter{send: stream.Send}, chunkSize)
	if err := write(w); err != nil {
		return s.sourceError(ctx, err)
	}
	if err := w.Flush(); err != nil {
		return s.sourceError(ctx, err)
	}
	return nil
}

func (v service) Sequences(ctx context.Context, req *peerpb.SequencesRequest) (*peerpb.SequencesReply, error) {
	s := v.s
	src, code, msg := s.sourceCall(req.GetHello())
	if msg != "" {
		return nil, s.refuse(ctx, code, msg)
	}
	seqs, err := src.Sequences(ctx, req.Snapshot)
	if err != nil {
		return nil, s.sourceError(ctx, err)
	}
	reply := &peerpb.SequencesReply{}
	for _, q := range seqs {
		reply.Sequences = append(reply.Sequences, &peerpb.SequenceValue{Schema: q.Schema, Name: q.Name, LastValue: q.LastValue, IsCalled: q.IsCalled})
	}
	return reply, nil
}

// SourceClient calls the DDL source's agent for the initial sync.
type SourceClient struct {
	cfg   ClientConfig
	diag  *connDiag
	conn  *grpc.ClientConn
	peer  peerpb.PeerClient
	hello *peerpb.Hello
}

// DialSource prepares calls to the peer at cfg.Address (the connection is made
// by the first call). Close releases it.
func DialSource(cfg ClientConfig) (*SourceClient, error) {
	c := &SourceClient{cfg: cfg, diag: &connDiag{}}
	conn, err := newConn(cfg, c.diag)
	if err != nil {
		return nil, err
	}
	c.conn, c.peer = conn, peerpb.NewPeerClient(conn)
	h := cfg.Hello
	c.hello = &peerpb.Hello{Pair: h.Pair, FromNode: h.From, ToNode: h.To, ProtocolVersion: ProtocolVersion, ConfigDigest: h.Digest}
	return c, nil
}

// Close closes the connection.
func (c *SourceClient) Close() error { return c.conn.Close() }

func (c *SourceClient) callError(err error, trailer metadata.MD) error {
	if err == nil {
		return nil
	}
	return callError(c.cfg, c.diag, true, err, trailer)
}

// Snapshot asks for a snapshot. It is kept alive until release is called (or
// ctx ends, or the connection is lost); the peer's error, if any, arrives on
// lost, which is closed when the snapshot is gone.
func (c *SourceClient) Snapshot(ctx context.Context) (snap Snapshot, release func(), lost <-chan error, err error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.peer.Snapshot(sctx, &peerpb.SnapshotRequest{Hello: c.hello})
	if err != nil {
		cancel()
		return Snapshot{}, nil, nil, c.callError(err, nil)
	}
	reply, err := stream.Recv()
	if err != nil {
		cancel()
		return Snapshot{}, nil, nil, c.callError(err, stream.Trailer())
	}
	snap = Snapshot{ID: reply.Snapshot, LSN: change.LSN(reply.Lsn)}
	for _, t := range reply.Tables {
		snap.Tables = append(snap.Tables, SyncTable{
			Schema: t.Schema, Name: t.Name, TargetSchema: t.TargetSchema, TargetName: t.TargetName,
			TargetColumns: t.TargetColumns, EstRows: t.EstRows, EstBytes: t.EstBytes, SchemaSynced: t.SchemaSynced,
			Blocks: t.Blocks,
		})
	}
	ch := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			err = errors.New("the snapshot ended")
		}
		if sctx.Err() == nil {
			ch <- c.callError(err, stream.Trailer())
		}
		close(ch)
	}()
	return snap, cancel, ch, nil
}

// Schema writes the schema dump of section ("pre-data" or "post-data") to w.
func (c *SourceClient) Schema(ctx context.Context, snapshot, section string, w io.Writer) error {
	stream, err := c.peer.Schema(ctx, &peerpb.SchemaRequest{Hello: c.hello, Snapshot: snapshot, Section: section})
	if err != nil {
		return c.callError(err, nil)
	}
	return c.drain(stream, w)
}

// Copy opens the rows of one table, or of its blocks, in COPY text format as
// a reader to hand to COPY FROM as it is: each Read returns (part of) a
// received chunk. Cancel ctx to end the call early.
func (c *SourceClient) Copy(ctx context.Context, snapshot, schema, name string, blocks Blocks) (*CopyReader, error) {
	r := &CopyReader{c: c}
	stream, err := c.peer.Copy(ctx, &peerpb.CopyRequest{Hello: c.hello, Snapshot: snapshot, Schema: schema, Name: name,
		BlockFrom: blocks.From, BlockTo: blocks.To}, grpc.ForceCodecV2(&r.codec))
	if err != nil {
		return nil, c.callError(err, nil)
	}
	r.stream = stream
	return r, nil
}

// CopyReader reads a Copy call's chunks. One goroutine at a time may Read.
type CopyReader struct {
	c      *SourceClient
	stream grpc.ServerStreamingClient[peerpb.DataChunk]
	codec  chunkCodec
	msg    peerpb.DataChunk
	rest   []byte // what the last chunk still holds
	err    error  // io.EOF at the end of the rows, else the call's error
}

// chunkCodec is the proto codec, except that it decodes a DataChunk into one
// buffer it reuses: the next chunk overwrites the last, which CopyReader has
// consumed by then. The rows of a table then make no garbage on this side
// (gRPC's own codec allocates every chunk anew), which the copy's speed
// depends on. The wire format is unchanged.
type chunkCodec struct {
	buf []byte
}

func (c *chunkCodec) Name() string { return protoCodec().Name() }

func (c *chunkCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec().Marshal(v) }

func (c *chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*peerpb.DataChunk)
	if !ok {
		return protoCodec().Unmarshal(data, v)
	}
	n := data.Len()
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	data.CopyTo(b)
	m.Reset()
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("decode a data chunk: %w", protowire.ParseError(l))
		}
		b = b[l:]
		if num == 1 && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return fmt.Errorf("decode a data chunk: %w", protowire.ParseError(l))
			}
			m.Data, b = v, b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return fmt.Errorf("decode a data chunk: %w", protowire.ParseError(l))
		}
		b = b[l:]
	}
	return nil
}

// protoCodec is gRPC's proto codec.
func protoCodec() encoding.CodecV2 { return encoding.GetCodecV2(proto.Name) }

// Read implements io.Reader. Errors other than io.EOF are the call's, mapped
// as the other calls' are (a refusal, a lost connection).
func (r *CopyReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		err := r.stream.RecvMsg(&r.msg)
		if errors.Is(err, io.EOF) {
			r.err = io.EOF
			return 0, io.EOF
		}
		if err != nil {
			r.err = r.c.callError(err, r.stream.Trailer())
			return 0, r.err
		}
		r.rest = r.msg.Data
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// drain copies a stream of DataChunks to w. An error of w is returned as it is
// (the call is cancelled by the caller's ctx).
func (c *SourceClient) drain(stream grpc.ServerStreamingClient[peerpb.DataChunk], w io.Writer) error {
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.callError(err, stream.Trailer())
		}
		if _, err := w.Write(chunk.Data); err != nil {
			return err
		}
	}
}

// Sequences reads the selected sequences' values.
func (c *SourceClient) Sequences(ctx context.Context, snapshot string) ([]SequenceValue, error) {
	var trailer metadata.MD
	reply, err := c.peer.Sequences(ctx, &peerpb.SequencesRequest{Hello: c.hello, Snapshot: snapshot}, grpc.Trailer(&trailer))
	if err != nil {
		return nil, c.callError(err, trailer)
	}
	var out []SequenceValue
	for _, q := range reply.Sequences {
		out = append(out, SequenceValue{Schema: q.Schema, Name: q.Name, LastValue: q.LastValue, IsCalled: q.IsCalled})
	}
	return out, nil
}
