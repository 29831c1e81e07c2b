package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/change"
	peerpb "github.com/pgduet/pgduet/agent/transport/proto"
	"google.golang.org/protobuf/proto"
)

func text(s string) change.Value { return change.Value{Kind: change.Text, Data: []byte(s)} }

var (
	null      = change.Value{Kind: change.Null}
	unchanged = change.Value{Kind: change.Unchanged}
)

// testRelations returns users, orders, and orders after ALTER TABLE ADD COLUMN
// (same OID, new shape, new pointer).
func testRelations() (users, orders, orders2 *change.Relation) {
	users = &change.Relation{ID: 16384, Table: change.TableRef{Schema: "public", Name: "users"}, Identity: change.IdentityDefault,
		Columns: []change.Column{
			{Name: "id", TypeOID: 23, TypeMod: -1, Key: true},
			{Name: "name", TypeOID: 25, TypeMod: -1},
			{Name: "bio", TypeOID: 25, TypeMod: -1},
		}}
	orders = &change.Relation{ID: 16390, Table: change.TableRef{Schema: "shop", Name: "orders"}, Identity: change.IdentityFull,
		Columns: []change.Column{
			{Name: "id", TypeOID: 20, TypeMod: -1, Key: true},
			{Name: "amount", TypeOID: 1700, TypeMod: 655366},
		}}
	orders2 = &change.Relation{ID: 16390, Table: change.TableRef{Schema: "shop", Name: "orders"}, Identity: change.IdentityFull,
		Columns: []change.Column{
			{Name: "id", TypeOID: 20, TypeMod: -1, Key: true},
			{Name: "amount", TypeOID: 1700, TypeMod: 655366},
			{Name: "note", TypeOID: 1043, TypeMod: 104},
		}}
	return users, orders, orders2
}

// testTxs covers every operation and value kind, several relations, a relation
// that changes shape between transactions, a truncate of two relations and an
// empty transaction.
func testTxs() []*change.Tx {
	users, orders, orders2 := testRelations()
	at := time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	return []*change.Tx{
		{Xid: 7421, CommitLSN: 0x1A2B300, EndLSN: 0x1A2B3C8, CommitTime: at, Changes: []change.Change{
			{Op: change.Insert, Rel: users, New: []change.Value{text("1"), text("ann"), null}},
			{Op: change.Insert, Rel: users, New: []change.Value{text("2"), {Kind: change.Text, Data: []byte{}}, text("ünïcødé\x00\xff")}},
			{Op: change.Update, Rel: users, New: []change.Value{text("1"), text("anne"), unchanged}},
			{Op: change.Update, Rel: users, New: []change.Value{text("10"), text("anne"), unchanged},
				Old: []change.Value{text("1"), null, null}, OldIsKey: true},
			{Op: change.Insert, Rel: orders, New: []change.Value{text("100"), text("9.99")}},
			{Op: change.Update, Rel: orders, New: []change.Value{text("100"), text("10.99")},
				Old: []change.Value{text("100"), text("9.99")}},
			{Op: change.Delete, Rel: users, Old: []change.Value{text("2"), null, null}, OldIsKey: true},
		}},
		{Xid: 7422, CommitLSN: 0x1A2C000, EndLSN: 0x1A2C0F0, CommitTime: at.Add(time.Second), Changes: []change.Change{
			{Op: change.Insert, Rel: orders2, New: []change.Value{text("101"), text("1.00"), text("gift")}},
			{Op: change.Delete, Rel: orders2, Old: []change.Value{text("100"), text("10.99"), null}},
			{Op: change.Truncate, Rels: []*change.Relation{users, orders2}, Cascade: true, RestartIdentity: true},
		}},
		{Xid: 7423, CommitLSN: 0x1A2D000, EndLSN: 0x1A2D050, CommitTime: at.Add(2 * time.Second)},
	}
}

// bigTx has n small changes and one value of bigValue bytes.
func bigTx(n, bigValue int) *change.Tx {
	users, _, _ := testRelations()
	tx := &change.Tx{Xid: 9000, CommitLSN: 0x5000000, EndLSN: 0x5000100, CommitTime: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	for i := range n {
		tx.Changes = append(tx.Changes, change.Change{Op: change.Insert, Rel: users,
			New: []change.Value{text(fmt.Sprint(i)), text(strings.Repeat("x", i%97)), null}})
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), bigValue/16)
	tx.Changes = append(tx.Changes, change.Change{Op: change.Update, Rel: users,
		New: []change.Value{text("0"), text("big"), {Kind: change.Text, Data: big}}})
	return tx
}

// encodeAll encodes txs on one stream into frames.
func encodeAll(t testing.TB, txs ...*change.Tx) []*peerpb.SenderFrame {
	t.Helper()
	var frames []*peerpb.SenderFrame
	enc := newEncoder()
	for _, tx := range txs {
		if err := checkTx(tx); err != nil {
			t.Fatalf("checkTx: %v", err)
		}
		if err := enc.encode(tx, func(f *peerpb.SenderFrame) error { frames = append(frames, f); return nil }); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return frames
}

// decodeAll decodes frames (each through a marshal/unmarshal, as on the wire).
func decodeAll(t testing.TB, frames []*peerpb.SenderFrame) []*change.Tx {
	t.Helper()
	var txs []*change.Tx
	dec := newDecoder()
	for i, f := range frames {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatalf("marshal frame %d: %v", i, err)
		}
		var g peerpb.SenderFrame
		if err := proto.Unmarshal(b, &g); err != nil {
			t.Fatalf("unmarshal frame %d: %v", i, err)
		}
		tx, err := dec.frame(&g)
		if err != nil {
			t.Fatalf("decode frame %d: %v", i, err)
		}
		if tx != nil {
			txs = append(txs, tx)
		}
	}
	if dec.open() != nil {
		t.Fatalf("frames end inside %s", dec.open())
	}
	return txs
}

// diffTx describes the first difference between two transactions ("" if equal).
func diffTx(want, got *change.Tx) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	if want.Xid != got.Xid || want.CommitLSN != got.CommitLSN || want.EndLSN != got.EndLSN || !reflect.DeepEqual(want.CommitTime, got.CommitTime) {
		return fmt.Sprintf("header: want xid %d %s %s %v, got xid %d %s %s %v",
			want.Xid, want.CommitLSN, want.EndLSN, want.CommitTime, got.Xid, got.CommitLSN, got.EndLSN, got.CommitTime)
	}
	if len(want.Changes) != len(got.Changes) {
		return fmt.Sprintf("want %d changes, got %d", len(want.Changes), len(got.Changes))
	}
	for i := range want.Changes {
		if !reflect.DeepEqual(want.Changes[i], got.Changes[i]) {
			return fmt.Sprintf("change %d:\nwant %+v\n got %+v", i, want.Changes[i], got.Changes[i])
		}
	}
	return "differs (nil versus empty slice?)"
}

func TestOpNumberingMatchesWire(t *testing.T) {
	for _, c := range []struct {
		op   change.Op
		wire peerpb.Op
	}{
		{change.Insert, peerpb.Op_OP_INSERT},
		{change.Update, peerpb.Op_OP_UPDATE},
		{change.Delete, peerpb.Op_OP_DELETE},
		{change.Truncate, peerpb.Op_OP_TRUNCATE},
	} {
		if peerpb.Op(c.op) != c.wire {
			t.Errorf("change.%s = %d, wire %s = %d", c.op, c.op, c.wire, c.wire)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	want := testTxs()
	frames := encodeAll(t, want...)
	got := decodeAll(t, frames)
	if len(got) != len(want) {
		t.Fatalf("decoded %d transactions, want %d", len(got), len(want))
	}
	for i := range want {
		if d := diffTx(want[i], got[i]); d != "" {
			t.Errorf("tx %d: %s", i, d)
		}
	}
	// One Relation frame per relation pointer (users, orders, orders2), but one
	// stream id per source table: orders2 redefines orders' id.
	n, ids := 0, map[uint32]bool{}
	for _, f := range frames {
		if r := f.GetRelation(); r != nil {
			n++
			ids[r.Id] = true
		}
	}
	if n != 3 || len(ids) != 2 {
		t.Errorf("%d Relation frames with %d ids, want 3 frames with 2 ids", n, len(ids))
	}
	// Pointers shared on the sending side are shared on the receiving side.
	c0, c1 := got[0].Changes, got[1].Changes
	if c0[0].Rel != c0[6].Rel || c1[2].Rels[0] != c0[0].Rel || c1[2].Rels[1] != c1[0].Rel {
		t.Error("relation pointers are not shared like on the sending side")
	}
	if c0[4].Rel == c1[0].Rel {
		t.Error("the reshaped relation decoded to the old pointer")
	}
}

// DDL between a table's row changes in one transaction gives two shapes of
// the table inside it: the rows of the old shape must decode with it.
func TestCodecRedefinesInsideTransaction(t *testing.T) {
	_, orders, orders2 := testRelations()
	want := &change.Tx{Xid: 9, CommitLSN: 0x100, EndLSN: 0x180, Changes: []change.Change{
		{Op: change.Insert, Rel: orders, New: []change.Value{text("1"), text("2.00")}},
		{Op: change.Insert, Rel: orders2, New: []change.Value{text("2"), text("3.00"), text("new column")}},
		{Op: change.Truncate, Rels: []*change.Relation{orders}},
		{Op: change.Insert, Rel: orders, New: []change.Value{text("3"), text("4.00")}},
	}}
	got := decodeAll(t, encodeAll(t, want))
	if len(got) != 1 {
		t.Fatalf("decoded %d transactions, want 1", len(got))
	}
	if d := diffTx(want, got[0]); d != "" {
		t.Error(d)
	}
}

func TestCodecChunksBigTransaction(t *testing.T) {
	want := bigTx(20000, 5<<20)
	frames := encodeAll(t, want)
	chunks := 0
	for i, f := range frames {
		if f.GetTx() == nil {
			continue
		}
		chunks++
		size := proto.Size(f)
		hasBig := false
		for _, c := range f.GetTx().Changes {
			for _, v := range c.GetNew().GetValues() {
				hasBig = hasBig || len(v.Data) >= 5<<20
			}
		}
		if !hasBig && size > 2*batchBytes {
			t.Errorf("frame %d is %d bytes; chunks should stay near %d", i, size, batchBytes)
		}
	}
	if chunks < 3 {
		t.Errorf("%d chunks for a %d-byte transaction", chunks, want.Size())
	}
	got := decodeAll(t, frames)
	if len(got) != 1 {
		t.Fatalf("decoded %d transactions, want 1", len(got))
	}
	if d := diffTx(want, got[0]); d != "" {
		t.Error(d)
	}
}

func TestCheckTxRejects(t *testing.T) {
	users, _, _ := testRelations()
	row := []change.Value{text("1"), null, null}
	for _, c := range []struct {
		name string
		ch   change.Change
		want string
	}{
		{"no relation", change.Change{Op: change.Insert, New: row}, "insert without a relation"},
		{"short row", change.Change{Op: change.Insert, Rel: users, New: row[:2]}, "want 3 new values"},
		{"insert with old", change.Change{Op: change.Insert, Rel: users, New: row, Old: row}, "no old row"},
		{"delete without old", change.Change{Op: change.Delete, Rel: users}, "want 3 old values"},
		{"truncate of nothing", change.Change{Op: change.Truncate}, "truncate of no tables"},
		{"truncate with Rel", change.Change{Op: change.Truncate, Rel: users, Rels: []*change.Relation{users}}, "Rel set"},
		{"truncate nil rel", change.Change{Op: change.Truncate, Rels: []*change.Relation{nil}}, "nil relation"},
		{"unknown op", change.Change{Op: 9, Rel: users}, "unknown operation op(9)"},
		{"null with data", change.Change{Op: change.Insert, Rel: users, New: []change.Value{text("1"), {Kind: change.Null, Data: []byte("x")}, null}}, "null value carries 1 bytes"},
		{"unknown kind", change.Change{Op: change.Insert, Rel: users, New: []change.Value{text("1"), {Kind: 7}, null}}, "unknown value kind 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tx := &change.Tx{EndLSN: 0x10, Changes: []change.Change{c.ch}}
			err := checkTx(tx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("checkTx = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestDecoderRejects(t *testing.T) {
	rel := &peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Relation{Relation: &peerpb.Relation{
		Id: 1, Schema: "public", Table: "t", Identity: 'd', Columns: []*peerpb.Column{{Name: "id", Key: true}},
	}}}
	val := &peerpb.Tuple{Values: []*peerpb.Value{{Kind: peerpb.ValueKind_VALUE_KIND_TEXT, Data: []byte("1")}}}
	chunk := func(c *peerpb.TxChunk) *peerpb.SenderFrame {
		return &peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Tx{Tx: c}}
	}
	begin := &peerpb.TxBegin{Xid: 1, EndLsn: 0x20}
	commit := func(n uint64) *peerpb.TxCommit { return &peerpb.TxCommit{EndLsn: 0x20, ChangeCount: n} }
	insert := func(relID uint32, tu *peerpb.Tuple) *peerpb.Change {
		return &peerpb.Change{Op: peerpb.Op_OP_INSERT, Relation: relID, New: tu}
	}
	for _, c := range []struct {
		name   string
		frames []*peerpb.SenderFrame
		want   string
	}{
		{"empty frame", []*peerpb.SenderFrame{{}}, "empty frame"},
		{"hello again", []*peerpb.SenderFrame{{Frame: &peerpb.SenderFrame_Hello{Hello: &peerpb.Hello{}}}}, "unexpected Hello"},
		{"relation id 0", []*peerpb.SenderFrame{{Frame: &peerpb.SenderFrame_Relation{Relation: &peerpb.Relation{Identity: 'd'}}}}, "id 0 is reserved"},
		{"bad identity", []*peerpb.SenderFrame{{Frame: &peerpb.SenderFrame_Relation{Relation: &peerpb.Relation{Id: 3, Identity: 'x'}}}}, "unknown replica identity"},
		{"unknown relation", []*peerpb.SenderFrame{chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{insert(5, val)}})}, "unknown relation id 5"},
		{"unknown truncate relation", []*peerpb.SenderFrame{rel, chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{
			{Op: peerpb.Op_OP_TRUNCATE, TruncateRelations: []uint32{1, 6}}}})}, "unknown relation id 6"},
		{"chunk without begin", []*peerpb.SenderFrame{chunk(&peerpb.TxChunk{Commit: commit(0)})}, "without a begin"},
		{"begin while open", []*peerpb.SenderFrame{chunk(&peerpb.TxChunk{Begin: begin}), chunk(&peerpb.TxChunk{Begin: begin})}, "still open"},
		{"commit count", []*peerpb.SenderFrame{rel, chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{insert(1, val)}, Commit: commit(2)})}, "commit says 2 changes, received 1"},
		{"commit lsn", []*peerpb.SenderFrame{chunk(&peerpb.TxChunk{Begin: begin, Commit: &peerpb.TxCommit{EndLsn: 0x30}})}, "commit says end LSN 0/30"},
		{"bad nanos", []*peerpb.SenderFrame{chunk(&peerpb.TxChunk{Begin: &peerpb.TxBegin{CommitTimeNanos: -1}})}, "out of range"},
		{"unknown op", []*peerpb.SenderFrame{rel, chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{{Op: 42, Relation: 1}}})}, "unknown operation 42"},
		{"unspecified kind", []*peerpb.SenderFrame{rel, chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{
			insert(1, &peerpb.Tuple{Values: []*peerpb.Value{{}}})}})}, "unknown kind"},
		{"null with data", []*peerpb.SenderFrame{rel, chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{
			insert(1, &peerpb.Tuple{Values: []*peerpb.Value{{Kind: peerpb.ValueKind_VALUE_KIND_NULL, Data: []byte("x")}}})}})}, "carries 1 bytes"},
		{"wrong column count", []*peerpb.SenderFrame{rel, chunk(&peerpb.TxChunk{Begin: begin, Changes: []*peerpb.Change{
			insert(1, &peerpb.Tuple{})}})}, "want 1 new values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dec := newDecoder()
			var err error
			for _, f := range c.frames {
				if _, err = dec.frame(f); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("decode = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// appendFrames appends frames to b as the fuzz input format: each frame is a
// uvarint length followed by the marshalled SenderFrame.
func appendFrames(t testing.TB, b []byte, frames ...*peerpb.SenderFrame) []byte {
	for _, f := range frames {
		m, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

// FuzzDecodeFrames feeds arbitrary frame sequences to the receiver's decoder: it
// must return errors, never panic, and whatever transaction it accepts must
// survive an encode/decode round trip unchanged.
func FuzzDecodeFrames(f *testing.F) {
	valid := encodeAll(f, testTxs()...)
	f.Add(appendFrames(f, nil, valid...))
	f.Add(appendFrames(f, nil, valid[1:]...))                           // a change before its relation
	f.Add(appendFrames(f, nil, valid[len(valid)-1], valid[0]))          // out of order
	f.Add(appendFrames(f, nil, encodeAll(f, bigTx(50, 4096))...))       // several changes, bigger value
	f.Add(appendFrames(f, nil, &peerpb.SenderFrame{}, valid[0]))        // empty frame
	f.Add(appendFrames(f, nil, valid[0], valid[0], valid[1], valid[2])) // relation redefined
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := newDecoder()
		for len(data) > 0 {
			n, k := binary.Uvarint(data)
			if k <= 0 || n > uint64(len(data)-k) {
				return
			}
			var fr peerpb.SenderFrame
			if err := proto.Unmarshal(data[k:k+int(n)], &fr); err != nil {
				return
			}
			data = data[k+int(n):]
			tx, err := dec.frame(&fr)
			if err != nil {
				return
			}
			if tx == nil {
				continue
			}
			if err := checkTx(tx); err != nil {
				t.Fatalf("decoder accepted a transaction the sender would refuse: %v", err)
			}
			again := decodeAll(t, encodeAll(t, tx))
			if len(again) != 1 {
				t.Fatalf("re-encoding %s gave %d transactions", tx, len(again))
			}
			if d := diffTx(tx, again[0]); d != "" {
				t.Fatalf("re-encoding %s: %s", tx, d)
			}
		}
	})
}

// TestCodecSpilled: a spilled transaction is encoded window by window (each
// frame serialised before the window's buffers are reused), and a receiver
// with a small threshold spills it again; read back, it is the transaction
// that was sent.
func TestCodecSpilled(t *testing.T) {
	want := bigTx(3*change.SpillWindowChanges, 5<<20)
	sent := *want
	sent.Changes = nil
	s, err := change.NewSpill(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(want.Changes); err != nil {
		t.Fatal(err)
	}
	sent.Spill = s
	var wire [][]byte
	err = newEncoder().encode(&sent, func(f *peerpb.SenderFrame) error {
		b, err := proto.Marshal(f)
		wire = append(wire, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sent.Release()
	dec := newDecoder()
	dec.spillBytes, dec.spillDir = 64<<10, t.TempDir()
	var got *change.Tx
	for i, b := range wire {
		var f peerpb.SenderFrame
		if err := proto.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		tx, err := dec.frame(&f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if tx != nil {
			got = tx
		}
	}
	if got == nil || got.Spill == nil || len(got.Changes) != 0 || got.Len() != len(want.Changes) {
		t.Fatalf("received %+v, want a spilled transaction of %d changes", got, len(want.Changes))
	}
	if err := got.Unspill(); err != nil {
		t.Fatal(err)
	}
	if d := diffTx(want, got); d != "" {
		t.Error(d)
	}

	// A receiver that fails mid-transaction drops its spill file.
	dec = newDecoder()
	dec.spillBytes, dec.spillDir = 64<<10, t.TempDir()
	for _, b := range wire[:len(wire)/2] {
		var f peerpb.SenderFrame
		if err := proto.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.frame(&f); err != nil {
			t.Fatal(err)
		}
	}
	open := dec.open()
	if open == nil || open.Spill == nil {
		t.Fatal("half the frames did not leave a spilled transaction open")
	}
	dec.drop()
	if open.Spill != nil || dec.open() != nil {
		t.Fatal("drop kept the spill file")
	}
}
