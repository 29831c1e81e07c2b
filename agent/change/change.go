package change

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
)

// LSN is a WAL position. It is pglogrepl's type, so positions are typed end to end.
type LSN = pglogrepl.LSN

// Op is the kind of a row change.
type Op uint8

const (
	Insert Op = iota + 1
	Update
	Delete
	Truncate
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Truncate:
		return "truncate"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// TableRef names a table. Names are raw (unquoted); quote them with
// pgx.Identifier{Schema, Name}.Sanitize() before they go into SQL.
type TableRef struct {
	Schema string
	Name   string
}

func (t TableRef) String() string { return t.Schema + "." + t.Name }

// DDLQueue is the table pgduet's event triggers write captured DDL to (see
// sql/0002_ddl.sql). Its rows travel to the peer as ordinary inserts, in place
// among the row changes of their transaction; the peer's apply replays the
// DDL they describe instead of inserting them.
var DDLQueue = TableRef{Schema: "pgduet", Name: "ddl_queue"}

// Replica identity settings, as pgoutput reports them in a Relation message.
const (
	IdentityDefault byte = 'd' // primary key
	IdentityFull    byte = 'f' // whole old row
	IdentityIndex   byte = 'i' // a chosen unique index
	IdentityNothing byte = 'n' // no old row: UPDATE and DELETE cannot be applied
)

// Column describes one column of a Relation as the source decoded it.
type Column struct {
	Name    string
	TypeOID uint32 // source OID; only meaningful for built-in types (< 16384)
	TypeMod int32
	Key     bool // part of the replica identity
}

// Relation describes a table at the time its changes were decoded. A new Relation
// value is made whenever the source's schema for the table changes, so a pointer
// identifies one version of a table's shape within a stream.
type Relation struct {
	ID       uint32 // source relation OID; differs between databases
	Table    TableRef
	Identity byte // IdentityDefault, IdentityFull, IdentityIndex, IdentityNothing
	Columns  []Column
}

// KeyColumns returns the indexes of the replica-identity columns.
func (r *Relation) KeyColumns() []int {
	var idx []int
	for i, c := range r.Columns {
		if c.Key {
			idx = append(idx, i)
		}
	}
	return idx
}

// ValueKind tells what a Value holds.
type ValueKind uint8

const (
	// Null is SQL NULL.
	Null ValueKind = iota
	// Unchanged is an unchanged TOASTed value that the source did not send: the
	// column must be left as it is on the peer, never written.
	Unchanged
	// Text is a value in PostgreSQL's text format.
	Text
)

// Value is one column value.
type Value struct {
	Kind ValueKind
	Data []byte // text format; nil unless Kind == Text
}

func (v Value) String() string {
	switch v.Kind {
	case Null:
		return "NULL"
	case Unchanged:
		return "<unchanged toast>"
	}
	return string(v.Data)
}

// Change is one row change (or one TRUNCATE) within a transaction.
//
//   - Insert: New holds every column.
//   - Update: New holds every column, some possibly Unchanged; Old is nil when the
//     key did not change and the identity is not FULL, else it holds the key
//     columns (OldIsKey) or the whole old row.
//   - Delete: Old holds the key columns (OldIsKey, others Null) or the whole row.
//   - Truncate: Rels lists every truncated table; Rel is nil.
type Change struct {
	Op       Op
	Rel      *Relation
	New      []Value
	Old      []Value
	OldIsKey bool // Old holds only the replica-identity columns ('K'), not the full row ('O')

	Rels            []*Relation // Truncate only
	Cascade         bool        // Truncate only
	RestartIdentity bool        // Truncate only
}

// Size estimates the memory the change holds, for in-flight byte accounting.
func (c *Change) Size() int {
	n := 32
	for _, v := range c.New {
		n += 8 + len(v.Data)
	}
	for _, v := range c.Old {
		n += 8 + len(v.Data)
	}
	return n + 8*len(c.Rels)
}

// Tx is one committed source transaction: whole, never partial.
//
// A transaction too big to hold in memory keeps its changes in Spill, a
// temporary file, and Changes is then empty: code that may meet such a
// transaction reads the changes with Each, and counts them with Len.
type Tx struct {
	Xid        uint32
	CommitLSN  LSN       // LSN of the commit record
	EndLSN     LSN       // end of the commit record: the position to resume after
	CommitTime time.Time // source commit time (the origin time for forwarded transactions)
	Changes    []Change
	Spill      *Spill // nil unless the changes are on disk (then Changes is empty)
}

// Size estimates the memory the transaction's changes take (for a spilled
// transaction, the memory they would take: the bytes it stands for).
func (t *Tx) Size() int {
	n := 64
	for i := range t.Changes {
		n += t.Changes[i].Size()
	}
	if t.Spill != nil {
		n += int(t.Spill.Size())
	}
	return n
}

// errMixed: a spilled transaction must hold all its changes in the file.
var errMixed = errors.New("a spilled transaction holds changes in memory too")

// Len is the number of changes, in memory or spilled.
func (t *Tx) Len() int {
	if t.Spill != nil {
		return t.Spill.Len() + len(t.Changes)
	}
	return len(t.Changes)
}

// Each calls fn with the changes in order: once with Changes, or window by
// window from the spill file (valid only until fn returns). base is the
// index of the window's first change in the transaction.
func (t *Tx) Each(fn func(base int, cs []Change) error) error {
	if t.Spill == nil {
		return fn(0, t.Changes)
	}
	if len(t.Changes) > 0 {
		return errMixed
	}
	return t.Spill.Each(fn)
}

// Unspill reads a spilled transaction's changes back into Changes and frees
// its file; it does nothing to a transaction in memory.
func (t *Tx) Unspill() error {
	if t.Spill == nil {
		return nil
	}
	if len(t.Changes) > 0 {
		return errMixed
	}
	all := make([]Change, 0, t.Spill.Len())
	err := t.Spill.Each(func(_ int, cs []Change) error {
		for _, c := range cs {
			all = append(all, c.Clone())
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.Release()
	t.Changes = all
	return nil
}

// Release frees the spill file, if any. The transaction's changes are gone
// with it: call it once the transaction is no longer needed.
func (t *Tx) Release() {
	if t.Spill != nil {
		_ = t.Spill.Close()
		t.Spill = nil
	}
}

// Clone copies c with values of its own (a spill window's values are
// overwritten by the next window).
func (c Change) Clone() Change {
	cp := func(vs []Value) []Value {
		if vs == nil {
			return nil
		}
		out := make([]Value, len(vs))
		n := 0
		for _, v := range vs {
			n += len(v.Data)
		}
		buf := make([]byte, 0, n)
		for i, v := range vs {
			out[i].Kind = v.Kind
			if v.Data != nil {
				start := len(buf)
				buf = append(buf, v.Data...)
				out[i].Data = buf[start:len(buf):len(buf)]
			}
		}
		return out
	}
	c.New, c.Old = cp(c.New), cp(c.Old)
	if c.Rels != nil {
		c.Rels = append([]*Relation(nil), c.Rels...)
	}
	return c
}

func (t *Tx) String() string {
	return fmt.Sprintf("tx %s (xid %d, %d changes)", t.EndLSN, t.Xid, t.Len())
}
