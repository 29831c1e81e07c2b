package transport

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	peerpb "github.com/pgduet/pgduet/agent/transport/proto"
)

// TestChunkCodec decodes what the proto codec encodes, split over several
// buffers as gRPC hands them over, reusing its buffer from one chunk to the
// next, and skips fields it does not know.
func TestChunkCodec(t *testing.T) {
	var c chunkCodec
	var m peerpb.DataChunk
	for i, data := range [][]byte{
		bytes.Repeat([]byte("1\tone\n"), 50000),
		[]byte("2\ttwo\n"),
		{},
		bytes.Repeat([]byte("3\tthree\n"), 1000),
	} {
		wire, err := proto.Marshal(&peerpb.DataChunk{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		// An unknown field after the data (a newer sender's).
		wire = protowire.AppendTag(wire, 7, protowire.VarintType)
		wire = protowire.AppendVarint(wire, 42)
		var slice mem.BufferSlice
		for len(wire) > 0 {
			n := min(len(wire), 1000)
			slice = append(slice, mem.SliceBuffer(wire[:n]))
			wire = wire[n:]
		}
		if err := c.Unmarshal(slice, &m); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !bytes.Equal(m.Data, data) {
			t.Fatalf("chunk %d: decoded %d bytes, want %d equal ones", i, len(m.Data), len(data))
		}
	}
	if cap(c.buf) < 300000 {
		t.Errorf("buffer of %d bytes: not kept from the first chunk", cap(c.buf))
	}
	bad := mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x10, 'x'})} // says 16 bytes, holds 1
	if err := c.Unmarshal(bad, &m); err == nil {
		t.Error("a truncated chunk decoded without an error")
	}
	// Other messages go through the proto codec.
	var req peerpb.CopyRequest
	wire, _ := proto.Marshal(&peerpb.CopyRequest{Schema: "s", Name: "t", BlockFrom: 3})
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &req); err != nil || req.Name != "t" || req.BlockFrom != 3 {
		t.Errorf("CopyRequest: %v, %v", &req, err)
	}
}
