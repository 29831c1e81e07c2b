package change

import "testing"

func TestKeyColumnsAndSize(t *testing.T) {
	r := &Relation{Columns: []Column{{Name: "a", Key: true}, {Name: "b"}, {Name: "c", Key: true}}}
	got := r.KeyColumns()
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("KeyColumns = %v, want [0 2]", got)
	}
	tx := &Tx{Changes: []Change{{Op: Insert, Rel: r, New: []Value{{Kind: Text, Data: []byte("12345")}, {Kind: Null}, {Kind: Unchanged}}}}}
	if tx.Size() < 5 {
		t.Fatalf("Size = %d, want at least the 5 data bytes", tx.Size())
	}
	if Update.String() != "update" || Op(9).String() != "op(9)" {
		t.Fatalf("Op.String: %q %q", Update.String(), Op(9).String())
	}
	if (Value{Kind: Unchanged}).String() != "<unchanged toast>" {
		t.Fatal("Value.String for Unchanged")
	}
}
