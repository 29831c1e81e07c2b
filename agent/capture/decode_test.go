package capture

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/change"
)

// Builders for pgoutput protocol-1 messages, written from the protocol
// documentation ("Logical Streaming Replication Protocol", message formats).

type msgBuf []byte

func (b msgBuf) u8(v byte) msgBuf    { return append(b, v) }
func (b msgBuf) u16(v uint16) msgBuf { return binary.BigEndian.AppendUint16(b, v) }
func (b msgBuf) u32(v uint32) msgBuf { return binary.BigEndian.AppendUint32(b, v) }
func (b msgBuf) u64(v uint64) msgBuf { return binary.BigEndian.AppendUint64(b, v) }
func (b msgBuf) str(s string) msgBuf { return append(append(b, s...), 0) }
func (b msgBuf) ts(t time.Time) msgBuf {
	pgEpoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return b.u64(uint64(t.Sub(pgEpoch).Microseconds()))
}

func beginMsg(final change.LSN, xid uint32) []byte {
	return msgBuf{'B'}.u64(uint64(final)).ts(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)).u32(xid)
}

func commitMsg(commit, end change.LSN) []byte {
	return msgBuf{'C'}.u8(0).u64(uint64(commit)).u64(uint64(end)).ts(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
}

func originMsg(name string) []byte { return msgBuf{'O'}.u64(0x1234).str(name) }

type testCol struct {
	name string
	key  bool
}

func relationMsg(id uint32, schema, table string, identity byte, cols ...testCol) []byte {
	b := msgBuf{'R'}.u32(id).str(schema).str(table).u8(identity).u16(uint16(len(cols)))
	for _, c := range cols {
		var flags byte
		if c.key {
			flags = 1
		}
		b = b.u8(flags).str(c.name).u32(25).u32(0xffffffff)
	}
	return b
}

// tuple encodes values: "\x00" is NULL ('n'), "\x01" unchanged TOAST ('u'),
// "\x02..." a binary value ('b'), anything else text.
func tuple(b msgBuf, vals ...string) msgBuf {
	b = b.u16(uint16(len(vals)))
	for _, v := range vals {
		switch {
		case v == "\x00":
			b = b.u8('n')
		case v == "\x01":
			b = b.u8('u')
		case strings.HasPrefix(v, "\x02"):
			b = append(b.u8('b').u32(uint32(len(v)-1)), v[1:]...)
		default:
			b = append(b.u8('t').u32(uint32(len(v))), v...)
		}
	}
	return b
}

func insertMsg(rel uint32, vals ...string) []byte {
	return tuple(msgBuf{'I'}.u32(rel).u8('N'), vals...)
}

func updateMsg(rel uint32, oldKind byte, old []string, vals ...string) []byte {
	b := msgBuf{'U'}.u32(rel)
	if oldKind != 0 {
		b = tuple(b.u8(oldKind), old...)
	}
	return tuple(b.u8('N'), vals...)
}

func deleteMsg(rel uint32, kind byte, old ...string) []byte {
	return tuple(msgBuf{'D'}.u32(rel).u8(kind), old...)
}

func truncateMsg(opts byte, rels ...uint32) []byte {
	b := msgBuf{'T'}.u32(uint32(len(rels))).u8(opts)
	for _, r := range rels {
		b = b.u32(r)
	}
	return b
}

// feed decodes the messages in order, each from the same reused buffer which is
// overwritten afterwards, as pgconn does with its receive buffer.
func feed(t *testing.T, d *decoder, msgs ...[]byte) []*committed {
	t.Helper()
	var out []*committed
	buf := make([]byte, 0, 4096)
	for i, m := range msgs {
		buf = append(buf[:0], m...)
		res, err := d.decode(buf)
		if err != nil {
			t.Fatalf("message %d (%q): %v", i, m[0], err)
		}
		for j := range buf {
			buf[j] = 0xAA
		}
		if res != nil {
			out = append(out, res)
		}
	}
	return out
}

func text(s string) change.Value { return change.Value{Kind: change.Text, Data: []byte(s)} }

var (
	null      = change.Value{Kind: change.Null}
	unchanged = change.Value{Kind: change.Unchanged}
)

func sameValues(a, b []change.Value) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || string(a[i].Data) != string(b[i].Data) {
			return false
		}
	}
	return true
}

func TestDecoderAssemblesTransaction(t *testing.T) {
	d := newDecoder(echoOrigin("p", "west"), nil, nil)
	cols := []testCol{{"id", true}, {"v", false}, {"big", false}}
	res := feed(t, d,
		beginMsg(0x100, 7),
		relationMsg(16400, "public", "t", 'd', cols...),
		insertMsg(16400, "1", "\x00", "x"),
		updateMsg(16400, 0, nil, "1", "a", "\x01"),
		updateMsg(16400, 'K', []string{"1", "\x00", "\x00"}, "2", "a", "\x01"),
		deleteMsg(16400, 'K', "2", "\x00", "\x00"),
		relationMsg(16401, "public", "f", 'f', cols...),
		updateMsg(16401, 'O', []string{"1", "old", "b"}, "1", "new", "b"),
		deleteMsg(16401, 'O', "1", "new", "b"),
		truncateMsg(3, 16400, 16401),
		commitMsg(0x100, 0x130),
	)
	if len(res) != 1 {
		t.Fatalf("got %d transactions, want 1", len(res))
	}
	r := res[0]
	if r.kind != txDeliver || r.tx.Xid != 7 || r.tx.CommitLSN != 0x100 || r.tx.EndLSN != 0x130 || r.tx.CommitTime.IsZero() {
		t.Fatalf("tx = %+v kind %d", r.tx, r.kind)
	}
	ch := r.tx.Changes
	if len(ch) != 7 {
		t.Fatalf("%d changes, want 7", len(ch))
	}
	rel := ch[0].Rel
	if rel.Table != (change.TableRef{Schema: "public", Name: "t"}) || rel.Identity != change.IdentityDefault ||
		len(rel.Columns) != 3 || !rel.Columns[0].Key || rel.Columns[1].Key || rel.Columns[0].TypeOID != 25 || rel.Columns[0].TypeMod != -1 {
		t.Fatalf("relation = %+v", rel)
	}
	want := []struct {
		op       change.Op
		newV     []change.Value
		oldV     []change.Value
		oldIsKey bool
	}{
		{change.Insert, []change.Value{text("1"), null, text("x")}, nil, false},
		{change.Update, []change.Value{text("1"), text("a"), unchanged}, nil, false},
		{change.Update, []change.Value{text("2"), text("a"), unchanged}, []change.Value{text("1"), null, null}, true},
		{change.Delete, nil, []change.Value{text("2"), null, null}, true},
		{change.Update, []change.Value{text("1"), text("new"), text("b")}, []change.Value{text("1"), text("old"), text("b")}, false},
		{change.Delete, nil, []change.Value{text("1"), text("new"), text("b")}, false},
	}
	for i, w := range want {
		c := ch[i]
		if c.Op != w.op || !sameValues(c.New, w.newV) || !sameValues(c.Old, w.oldV) || c.OldIsKey != w.oldIsKey {
			t.Errorf("change %d = %v new=%v old=%v key=%v; want %v new=%v old=%v key=%v",
				i, c.Op, c.New, c.Old, c.OldIsKey, w.op, w.newV, w.oldV, w.oldIsKey)
		}
	}
	if ch[4].Rel.Identity != change.IdentityFull {
		t.Errorf("identity of f = %q", ch[4].Rel.Identity)
	}
	tr := ch[6]
	if tr.Op != change.Truncate || tr.Rel != nil || len(tr.Rels) != 2 || tr.Rels[0].Table.Name != "t" || tr.Rels[1].Table.Name != "f" ||
		!tr.Cascade || !tr.RestartIdentity {
		t.Errorf("truncate = %+v", tr)
	}
}

func TestDecoderRelationVersions(t *testing.T) {
	d := newDecoder(echoOrigin("p", "west"), nil, nil)
	res := feed(t, d,
		beginMsg(0x100, 1),
		relationMsg(1, "s", "t", 'd', testCol{"id", true}),
		insertMsg(1, "1"),
		commitMsg(0x100, 0x110),
		beginMsg(0x200, 2),
		relationMsg(1, "s", "t", 'd', testCol{"id", true}, testCol{"added", false}),
		insertMsg(1, "2", "x"),
		commitMsg(0x200, 0x210),
	)
	r1, r2 := res[0].tx.Changes[0].Rel, res[1].tx.Changes[0].Rel
	if r1 == r2 {
		t.Fatal("a new Relation message reused the old *change.Relation")
	}
	if len(r1.Columns) != 1 || len(r2.Columns) != 2 || r2.Columns[1].Name != "added" {
		t.Fatalf("old relation %+v, new %+v", r1, r2)
	}
}

func TestDecoderEchoAndFilter(t *testing.T) {
	filter := func(tb change.TableRef, op change.Op) bool { return tb.Name != "skip" && op != change.Delete }
	d := newDecoder(echoOrigin("p", "west"), filter, nil)
	res := feed(t, d,
		// An echo: dropped whole; its Relation message still counts.
		beginMsg(0x100, 1),
		originMsg("pgduet_p_west"),
		relationMsg(1, "public", "t", 'd', testCol{"id", true}),
		insertMsg(1, "1"),
		commitMsg(0x100, 0x110),
		// Another pair's or a foreign origin: forwarded.
		beginMsg(0x200, 2),
		originMsg("pgduet_p_eu_west"), // pair "p_eu": not ours, though it starts like ours
		insertMsg(1, "2"),
		commitMsg(0x200, 0x210),
		beginMsg(0x300, 3),
		originMsg("some_subscription"),
		insertMsg(1, "3"),
		commitMsg(0x300, 0x310),
		// Filtered: only changes the filter rejects, and pgduet's own table.
		beginMsg(0x400, 4),
		relationMsg(2, "public", "skip", 'd', testCol{"id", true}),
		relationMsg(3, "pgduet", "bookkeeping", 'd', testCol{"id", true}),
		insertMsg(2, "1"),
		deleteMsg(1, 'K', "1"),
		insertMsg(3, "1"),
		truncateMsg(0, 2, 3),
		commitMsg(0x400, 0x410),
		// Mixed: the kept part of a truncate survives.
		beginMsg(0x500, 5),
		insertMsg(2, "1"),
		insertMsg(1, "4"),
		truncateMsg(1, 1, 2, 3),
		commitMsg(0x500, 0x510),
	)
	kinds := []txKind{txEcho, txDeliver, txDeliver, txFiltered, txDeliver}
	if len(res) != len(kinds) {
		t.Fatalf("%d transactions, want %d", len(res), len(kinds))
	}
	for i, k := range kinds {
		if res[i].kind != k {
			t.Errorf("tx %d: kind %d, want %d", i, res[i].kind, k)
		}
	}
	if res[0].origin != "pgduet_p_west" || len(res[0].tx.Changes) != 0 || res[0].tx.EndLSN != 0x110 {
		t.Errorf("echo = %+v", res[0])
	}
	if f := res[3]; f.filtered != 3 || f.internal != 2 || f.tx.EndLSN != 0x410 {
		t.Errorf("filtered tx: filtered=%d internal=%d end=%s; want 3, 2, 0/410", f.filtered, f.internal, f.tx.EndLSN)
	}
	m := res[4]
	if len(m.tx.Changes) != 2 || m.filtered != 2 || m.internal != 1 {
		t.Fatalf("mixed tx: %d changes filtered=%d internal=%d", len(m.tx.Changes), m.filtered, m.internal)
	}
	if tr := m.tx.Changes[1]; len(tr.Rels) != 1 || tr.Rels[0].Table.Name != "t" || !tr.Cascade || tr.RestartIdentity {
		t.Errorf("truncate = %+v", tr)
	}
}

func TestDecoderRejectsTheUnexpected(t *testing.T) {
	rel := relationMsg(1, "public", "t", 'd', testCol{"id", true}, testCol{"v", false})
	cases := []struct {
		name string
		msgs [][]byte
		want string
	}{
		{"logical message", [][]byte{msgBuf{'M'}.u8(1).u64(1).str("x").u32(0)}, "messages"},
		{"stream start", [][]byte{msgBuf{'S'}.u32(1).u8(1)}, "streaming"},
		{"two-phase begin prepare", [][]byte{{'b', 0, 0}}, "unexpected pgoutput message type 'b'"},
		{"unknown", [][]byte{{'Z'}}, "unexpected pgoutput message type 'Z'"},
		{"empty", [][]byte{{}}, "empty"},
		{"insert outside tx", [][]byte{rel, insertMsg(1, "1", "2")}, "outside a transaction"},
		{"begin inside tx", [][]byte{beginMsg(1, 1), beginMsg(2, 2)}, "inside transaction"},
		{"commit outside tx", [][]byte{commitMsg(1, 2)}, "outside a transaction"},
		{"origin outside tx", [][]byte{originMsg("x")}, "outside a transaction"},
		{"commit lsn mismatch", [][]byte{beginMsg(0x100, 1), commitMsg(0x101, 0x120)}, "does not match"},
		{"unknown relation", [][]byte{beginMsg(1, 1), insertMsg(9, "1")}, "no Relation message"},
		{"column count", [][]byte{rel, beginMsg(1, 1), insertMsg(1, "1")}, "tuple has 1 columns"},
		{"binary value", [][]byte{rel, beginMsg(1, 1), insertMsg(1, "1", "\x02\x00\x01")}, "binary"},
		{"truncated message", [][]byte{beginMsg(1, 1), {'I', 0, 0, 0, 1, 'N', 0, 5, 't'}}, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(echoOrigin("p", "west"), nil, nil)
			var err error
			for _, m := range tc.msgs {
				if _, err = d.decode(m); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDecoderColumns: a table's column selection leaves columns out of the
// relation and of every tuple (new, key-only old, full old), renames the
// ones the peer calls differently, and always keeps the key.
func TestDecoderColumns(t *testing.T) {
	d := newDecoder("", nil, nil)
	d.columns = func(tr change.TableRef) func(string) (string, bool) {
		switch tr.Name {
		case "sub":
			return func(c string) (string, bool) { return "value", c == "v" } // id is the key: kept anyway
		case "ren":
			return func(c string) (string, bool) {
				if c == "v" {
					return "value", true
				}
				return c, true
			}
		}
		return nil
	}
	got := feed(t, d,
		relationMsg(1, "public", "sub", 'f', testCol{"id", true}, testCol{"v", false}, testCol{"secret", false}),
		relationMsg(2, "public", "ren", 'd', testCol{"id", true}, testCol{"v", false}, testCol{"w", false}),
		relationMsg(3, "public", "all", 'd', testCol{"id", true}, testCol{"v", false}),
		beginMsg(0x100, 7),
		insertMsg(1, "1", "a", "s1"),
		updateMsg(1, 'O', []string{"1", "a", "s1"}, "1", "b", "s2"),
		deleteMsg(1, 'O', "1", "b", "s2"),
		insertMsg(2, "2", "x", "y"),
		updateMsg(2, 'K', []string{"2", "\x00", "\x00"}, "3", "x", "\x01"),
		insertMsg(3, "4", "z"),
		commitMsg(0x100, 0x110),
	)
	if len(got) != 1 {
		t.Fatalf("%d transactions", len(got))
	}
	ch := got[0].tx.Changes
	names := func(r *change.Relation) string {
		var n []string
		for _, c := range r.Columns {
			n = append(n, c.Name)
		}
		return strings.Join(n, ",")
	}
	if n := names(ch[0].Rel); n != "id,value" {
		t.Errorf("subset relation columns %q, want id,value", n)
	}
	if !sameValues(ch[0].New, []change.Value{text("1"), text("a")}) ||
		!sameValues(ch[1].Old, []change.Value{text("1"), text("a")}) || !sameValues(ch[1].New, []change.Value{text("1"), text("b")}) ||
		!sameValues(ch[2].Old, []change.Value{text("1"), text("b")}) {
		t.Errorf("subset tuples: %+v", ch[:3])
	}
	if n := names(ch[3].Rel); n != "id,value,w" || !sameValues(ch[3].New, []change.Value{text("2"), text("x"), text("y")}) {
		t.Errorf("renamed relation %q, row %+v", n, ch[3].New)
	}
	if len(ch[4].Old) != 3 || ch[4].New[2].Kind != change.Unchanged {
		t.Errorf("renamed update: old %+v new %+v", ch[4].Old, ch[4].New)
	}
	if n := names(ch[5].Rel); n != "id,v" || !sameValues(ch[5].New, []change.Value{text("4"), text("z")}) {
		t.Errorf("untouched relation %q, row %+v", n, ch[5].New)
	}
}

func TestIsEcho(t *testing.T) {
	echo := echoOrigin("p", "west")
	for origin, want := range map[string]bool{
		"pgduet_p_west":         true,
		"pgduet_p_west-copy-1":  true,
		"pgduet_p_west-copy-12": true,
		"pgduet_p_west-copy-":   false,
		"pgduet_p_west-copy-1x": false,
		"pgduet_p_west_2":       false,
		"pgduet_p_eu_west":      false,
		"pgduet_p_westx-copy-1": false,
		"some_subscription":     false,
		"":                      false,
	} {
		if got := isEcho(origin, echo); got != want {
			t.Errorf("isEcho(%q) = %v, want %v", origin, got, want)
		}
	}
}

// BenchmarkDecodeTx decodes a transaction of 100 inserts and 100 updates
// with a key change into a three-column table (bigint, int, text), the shape
// of the agent's catch-up benchmark; allocs/op are per transaction.
func BenchmarkDecodeTx(b *testing.B) {
	d := newDecoder(echoOrigin("p", "west"), nil, nil)
	rel := relationMsg(16400, "public", "bench", 'd', testCol{"id", true}, testCol{"n", false}, testCol{"v", false})
	if _, err := d.decode(rel); err != nil {
		b.Fatal(err)
	}
	msgs := [][]byte{beginMsg(0x100, 7)}
	for i := range 100 {
		id := strconv.Itoa(1000 + i)
		msgs = append(msgs, insertMsg(16400, id, "0", "row "+id))
	}
	for i := range 100 {
		id := strconv.Itoa(1000 + i)
		msgs = append(msgs, updateMsg(16400, 'K', []string{id, "\x00", "\x00"}, id+"0", "1", "row "+id))
	}
	msgs = append(msgs, commitMsg(0x100, 0x130))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			buf = append(buf[:0], m...)
			if _, err := d.decode(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
