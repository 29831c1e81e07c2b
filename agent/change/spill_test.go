package change

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
)

func TestSpillRoundTrip(t *testing.T) {
	r1 := &Relation{ID: 1, Table: TableRef{"s", "a"}, Columns: []Column{{Name: "id", Key: true}, {Name: "v"}}}
	r2 := &Relation{ID: 2, Table: DDLQueue}
	rng := rand.New(rand.NewSource(1))
	var want []Change
	for i := 0; i < 25000; i++ {
		val := func() Value {
			switch rng.Intn(4) {
			case 0:
				return Value{Kind: Null}
			case 1:
				return Value{Kind: Unchanged}
			}
			return Value{Kind: Text, Data: []byte(fmt.Sprintf("v%d-%s", i, bytes.Repeat([]byte("x"), rng.Intn(600))))}
		}
		switch i % 5 {
		case 0:
			want = append(want, Change{Op: Insert, Rel: r1, New: []Value{val(), val()}})
		case 1:
			want = append(want, Change{Op: Update, Rel: r1, New: []Value{val(), val()}, Old: []Value{val(), {Kind: Null}}, OldIsKey: true})
		case 2:
			want = append(want, Change{Op: Delete, Rel: r1, Old: []Value{val(), val()}})
		case 3:
			want = append(want, Change{Op: Truncate, Rels: []*Relation{r1, r2}, Cascade: true, RestartIdentity: i%2 == 0})
		case 4:
			want = append(want, Change{Op: Update, Rel: r1, New: []Value{}})
		}
	}
	// One value bigger than a window.
	want = append(want, Change{Op: Insert, Rel: r1, New: []Value{{Kind: Text, Data: bytes.Repeat([]byte("b"), SpillWindowBytes+10)}, {Kind: Text, Data: []byte{}}}})

	s, err := NewSpill(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for lo := 0; lo < len(want); lo += 777 {
		if err := s.Append(want[lo:min(lo+777, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(want))
	}
	var size int64
	for i := range want {
		size += int64(want[i].Size())
	}
	if s.Size() != size {
		t.Fatalf("Size = %d, want %d", s.Size(), size)
	}
	if s.HasDDL() {
		t.Fatal("HasDDL: only a truncate names the queue table, no row of it was appended")
	}
	for pass := 0; pass < 2; pass++ { // read twice: a retried apply reads again
		next, windows := 0, 0
		err := s.Each(func(base int, cs []Change) error {
			if base != next {
				return fmt.Errorf("window base %d, want %d", base, next)
			}
			if len(cs) > SpillWindowChanges {
				return fmt.Errorf("window of %d changes", len(cs))
			}
			for k := range cs {
				if err := sameChange(&cs[k], &want[base+k]); err != nil {
					return fmt.Errorf("change %d: %w", base+k, err)
				}
			}
			next += len(cs)
			windows++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next != len(want) || windows < 3 {
			t.Fatalf("read %d changes in %d windows, want %d in several", next, windows, len(want))
		}
	}

	tx := &Tx{Spill: s}
	if tx.Len() != len(want) || tx.Size() != int(size)+64 {
		t.Fatalf("Tx.Len %d, Tx.Size %d", tx.Len(), tx.Size())
	}
	if err := tx.Unspill(); err != nil {
		t.Fatal(err)
	}
	if tx.Spill != nil || len(tx.Changes) != len(want) {
		t.Fatalf("Unspill left Spill %v and %d changes", tx.Spill, len(tx.Changes))
	}
	for i := range want {
		if err := sameChange(&tx.Changes[i], &want[i]); err != nil {
			t.Fatalf("unspilled change %d: %v", i, err)
		}
	}
	if err := s.Each(func(int, []Change) error { return nil }); err == nil {
		t.Fatal("Each after Close: no error")
	}
}

func TestSpillDDL(t *testing.T) {
	s, err := NewSpill("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append([]Change{{Op: Insert, Rel: &Relation{Table: DDLQueue}, New: []Value{{Kind: Null}}}}); err != nil {
		t.Fatal(err)
	}
	if !s.HasDDL() {
		t.Fatal("HasDDL false after a queue row")
	}
	if _, err := NewSpill("/nonexistent/dir"); err == nil {
		t.Fatal("NewSpill in a missing directory: no error")
	}
}

func sameChange(got, want *Change) error {
	if got.Op != want.Op || got.Rel != want.Rel || got.OldIsKey != want.OldIsKey || got.Cascade != want.Cascade || got.RestartIdentity != want.RestartIdentity {
		return fmt.Errorf("header %+v, want %+v", got, want)
	}
	if len(got.Rels) != len(want.Rels) {
		return fmt.Errorf("%d truncated relations, want %d", len(got.Rels), len(want.Rels))
	}
	for i := range got.Rels {
		if got.Rels[i] != want.Rels[i] {
			return fmt.Errorf("truncated relation %d differs", i)
		}
	}
	for _, p := range [][2][]Value{{got.New, want.New}, {got.Old, want.Old}} {
		if (p[0] == nil) != (p[1] == nil) || len(p[0]) != len(p[1]) {
			return fmt.Errorf("tuple %v, want %v", p[0], p[1])
		}
		for i := range p[0] {
			if p[0][i].Kind != p[1][i].Kind || !bytes.Equal(p[0][i].Data, p[1][i].Data) {
				return fmt.Errorf("value %d: %v, want %v", i, p[0][i], p[1][i])
			}
		}
	}
	return nil
}
