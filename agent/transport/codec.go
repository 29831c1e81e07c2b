package transport

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgduet/pgduet/agent/change"
	peerpb "github.com/pgduet/pgduet/agent/transport/proto"
)

// checkTx reports why tx cannot travel (nil when it can). The sender runs it
// before anything goes on the wire, the receiver on every decoded change, so both
// sides enforce the same shape:
//
//   - insert: Rel set, New has one value per column, no Old;
//   - update: Rel set, New has one value per column, Old absent or one per column;
//   - delete: Rel set, no New, Old has one value per column;
//   - truncate: Rel nil, Rels lists at least one relation, no row values;
//   - values: Null and Unchanged carry no data.
//
// A spilled transaction's changes are checked as they are encoded instead
// (reading the file twice would cost more than it saves): an error there
// ends the stream.
func checkTx(tx *change.Tx) error {
	for i := range tx.Changes {
		if err := checkChange(&tx.Changes[i]); err != nil {
			return fmt.Errorf("%s: change %d: %w", tx, i, err)
		}
	}
	return nil
}

func checkChange(c *change.Change) error {
	switch c.Op {
	case change.Insert, change.Update, change.Delete:
		if c.Rel == nil {
			return fmt.Errorf("%s without a relation", c.Op)
		}
		if len(c.Rels) > 0 || c.Cascade || c.RestartIdentity {
			return fmt.Errorf("%s on %s carries truncate fields", c.Op, c.Rel.Table)
		}
		n := len(c.Rel.Columns)
		switch c.Op {
		case change.Insert:
			if len(c.New) != n || len(c.Old) != 0 {
				return fmt.Errorf("insert on %s: want %d new values and no old row, have %d new and %d old", c.Rel.Table, n, len(c.New), len(c.Old))
			}
		case change.Update:
			if len(c.New) != n || (len(c.Old) != 0 && len(c.Old) != n) {
				return fmt.Errorf("update on %s: want %d new values and 0 or %d old, have %d new and %d old", c.Rel.Table, n, n, len(c.New), len(c.Old))
			}
		case change.Delete:
			if len(c.New) != 0 || len(c.Old) != n {
				return fmt.Errorf("delete on %s: want %d old values and no new row, have %d old and %d new", c.Rel.Table, n, len(c.Old), len(c.New))
			}
		}
	case change.Truncate:
		if c.Rel != nil {
			return fmt.Errorf("truncate with Rel set (truncated tables belong in Rels)")
		}
		if len(c.Rels) == 0 {
			return errors.New("truncate of no tables")
		}
		for _, r := range c.Rels {
			if r == nil {
				return errors.New("truncate lists a nil relation")
			}
		}
		if len(c.New) != 0 || len(c.Old) != 0 {
			return errors.New("truncate carries row values")
		}
	default:
		return fmt.Errorf("unknown operation %s", c.Op)
	}
	for i, v := range c.New {
		if err := checkValue(v); err != nil {
			return fmt.Errorf("new value %d: %w", i, err)
		}
	}
	for i, v := range c.Old {
		if err := checkValue(v); err != nil {
			return fmt.Errorf("old value %d: %w", i, err)
		}
	}
	return nil
}

func checkValue(v change.Value) error {
	switch v.Kind {
	case change.Null, change.Unchanged:
		if len(v.Data) != 0 {
			return fmt.Errorf("%s value carries %d bytes of data", kindName(v.Kind), len(v.Data))
		}
	case change.Text:
	default:
		return fmt.Errorf("unknown value kind %d", v.Kind)
	}
	return nil
}

func kindName(k change.ValueKind) string {
	switch k {
	case change.Null:
		return "null"
	case change.Unchanged:
		return "unchanged-toast"
	case change.Text:
		return "text"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// encoder turns transactions into SenderFrames for one stream. It remembers which
// relations it has defined on the stream: one stream id per source table (its
// OID), redefined under the same id whenever capture hands out a new
// *change.Relation for it (any relcache invalidation, even a VACUUM, makes one),
// so the maps on both sides stay as large as the set of tables, however long the
// stream lives.
type encoder struct {
	ids  map[relKey]encRel
	next uint32
}

// relKey identifies a source table: its OID, or the pointer for relations
// without one.
type relKey struct {
	oid uint32
	ptr *change.Relation
}

// encRel is a table's stream id and the relation last defined under it.
type encRel struct {
	id  uint32
	rel *change.Relation
}

func newEncoder() *encoder { return &encoder{ids: make(map[relKey]encRel)} }

// encode emits tx as frames: a Relation frame before the chunk holding the first
// change that uses a relation new to the stream, and TxChunks of about
// batchBytes each, the first with the begin header, the last with the commit.
// tx must have passed checkTx. An error from emit is returned as is.
func (e *encoder) encode(tx *change.Tx, emit func(*peerpb.SenderFrame) error) error {
	chunk := &peerpb.TxChunk{Begin: &peerpb.TxBegin{
		Xid:               tx.Xid,
		CommitLsn:         uint64(tx.CommitLSN),
		EndLsn:            uint64(tx.EndLSN),
		CommitTimeSeconds: tx.CommitTime.Unix(),
		CommitTimeNanos:   int32(tx.CommitTime.Nanosecond()),
	}}
	size := 0
	spilled := tx.Spill != nil
	err := tx.Each(func(base int, cs []change.Change) error {
		for i := range cs {
			c := &cs[i]
			if spilled {
				if err := checkChange(c); err != nil {
					return fmt.Errorf("%s: change %d: %w", tx, base+i, err)
				}
			}
			// A table redefined inside the transaction (DDL between its row
			// changes): the changes queued so far use the old definition, so they
			// go out before the new Relation frame replaces it on the receiver.
			if len(chunk.Changes) > 0 && e.redefines(c) {
				if err := emit(&peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Tx{Tx: chunk}}); err != nil {
					return err
				}
				chunk, size = &peerpb.TxChunk{}, 0
			}
			pc := &peerpb.Change{
				Op:       peerpb.Op(c.Op), // change.Op and peerpb.Op share their numbering
				New:      tuple(c.New),
				Old:      tuple(c.Old),
				OldIsKey: c.OldIsKey,
			}
			if c.Rel != nil {
				id, err := e.relation(c.Rel, emit)
				if err != nil {
					return err
				}
				pc.Relation = id
			}
			if len(c.Rels) > 0 {
				pc.TruncateRelations = make([]uint32, len(c.Rels))
				for j, r := range c.Rels {
					id, err := e.relation(r, emit)
					if err != nil {
						return err
					}
					pc.TruncateRelations[j] = id
				}
				pc.Cascade = c.Cascade
				pc.RestartIdentity = c.RestartIdentity
			}
			chunk.Changes = append(chunk.Changes, pc)
			size += c.Size()
			if size >= batchBytes {
				if err := emit(&peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Tx{Tx: chunk}}); err != nil {
					return err
				}
				chunk, size = &peerpb.TxChunk{}, 0
			}
		}
		if spilled && len(chunk.Changes) > 0 {
			// The chunk's values point into the window, which the next
			// one overwrites: out it goes (emit has serialised it on return).
			if err := emit(&peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Tx{Tx: chunk}}); err != nil {
				return err
			}
			chunk, size = &peerpb.TxChunk{}, 0
		}
		return nil
	})
	if err != nil {
		return err
	}
	chunk.Commit = &peerpb.TxCommit{EndLsn: uint64(tx.EndLSN), ChangeCount: uint64(tx.Len())}
	return emit(&peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Tx{Tx: chunk}})
}

// redefines reports whether c uses a relation that replaces a table's
// definition already sent on the stream.
func (e *encoder) redefines(c *change.Change) bool {
	check := func(r *change.Relation) bool {
		if r == nil || r.ID == 0 {
			return false
		}
		known, ok := e.ids[relKey{oid: r.ID}]
		return ok && known.rel != r
	}
	if check(c.Rel) {
		return true
	}
	for _, r := range c.Rels {
		if check(r) {
			return true
		}
	}
	return false
}

// relation returns r's stream id, emitting its Relation frame first if r is new
// to the stream or replaces the table's previous definition.
func (e *encoder) relation(r *change.Relation, emit func(*peerpb.SenderFrame) error) (uint32, error) {
	key := relKey{oid: r.ID}
	if r.ID == 0 {
		key.ptr = r
	}
	known, ok := e.ids[key]
	if ok && known.rel == r {
		return known.id, nil
	}
	id := known.id
	if !ok {
		e.next++
		id = e.next
	}
	pr := &peerpb.Relation{
		Id:        id,
		SourceOid: r.ID,
		Schema:    r.Table.Schema,
		Table:     r.Table.Name,
		Identity:  uint32(r.Identity),
		Columns:   make([]*peerpb.Column, len(r.Columns)),
	}
	for i, c := range r.Columns {
		pr.Columns[i] = &peerpb.Column{Name: c.Name, TypeOid: c.TypeOID, TypeMod: c.TypeMod, Key: c.Key}
	}
	if err := emit(&peerpb.SenderFrame{Frame: &peerpb.SenderFrame_Relation{Relation: pr}}); err != nil {
		return 0, err
	}
	e.ids[key] = encRel{id: id, rel: r}
	return id, nil
}

// tuple encodes a row; nil stays absent so the receiver can tell "no row" from
// "a row of zero columns".
func tuple(vs []change.Value) *peerpb.Tuple {
	if vs == nil {
		return nil
	}
	buf := make([]peerpb.Value, len(vs)) // one allocation for the row's values
	t := &peerpb.Tuple{Values: make([]*peerpb.Value, len(vs))}
	for i, v := range vs {
		pv := &buf[i]
		switch v.Kind {
		case change.Null:
			pv.Kind = peerpb.ValueKind_VALUE_KIND_NULL
		case change.Unchanged:
			pv.Kind = peerpb.ValueKind_VALUE_KIND_UNCHANGED
		default:
			pv.Kind = peerpb.ValueKind_VALUE_KIND_TEXT
			pv.Data = v.Data
		}
		t.Values[i] = pv
	}
	return t
}

// decoder rebuilds transactions from the SenderFrames that follow the Hello. It
// never trusts the frames: anything malformed, out of order or referring to an
// unknown relation is an error (a protocol error: the stream must end).
//
// A transaction whose changes pass spillBytes (by change.Change.Size) goes
// to a spill file from there on, so memory does not grow with its size.
type decoder struct {
	rels map[uint32]*change.Relation
	tx   *change.Tx // the open transaction; nil between transactions
	mem  int        // Size of tx.Changes

	spillBytes int // 0: never spill
	spillDir   string
}

func newDecoder() *decoder { return &decoder{rels: make(map[uint32]*change.Relation)} }

// drop ends the open transaction, if any, freeing its spill file.
func (d *decoder) drop() {
	if d.tx != nil {
		d.tx.Release()
		d.tx, d.mem = nil, 0
	}
}

// spill moves the open transaction's changes in memory to its spill file.
func (d *decoder) spill() error {
	tx := d.tx
	if tx.Spill == nil {
		s, err := change.NewSpill(d.spillDir)
		if err != nil {
			return fmt.Errorf("%s: %w", tx, err)
		}
		tx.Spill = s
	}
	if err := tx.Spill.Append(tx.Changes); err != nil {
		return fmt.Errorf("%s: %w", tx, err)
	}
	clear(tx.Changes)
	tx.Changes = tx.Changes[:0]
	d.mem = 0
	return nil
}

// frame consumes one frame. It returns the transaction the frame completed, or
// nil while none is complete.
func (d *decoder) frame(f *peerpb.SenderFrame) (*change.Tx, error) {
	switch fr := f.GetFrame().(type) {
	case *peerpb.SenderFrame_Relation:
		return nil, d.relation(fr.Relation)
	case *peerpb.SenderFrame_Tx:
		return d.chunk(fr.Tx)
	case *peerpb.SenderFrame_Hello:
		return nil, errors.New("unexpected Hello after the handshake")
	case nil:
		return nil, errors.New("empty frame")
	default:
		return nil, fmt.Errorf("unknown frame %T", fr)
	}
}

// open reports whether a transaction is in progress (the stream must not end
// there).
func (d *decoder) open() *change.Tx { return d.tx }

func (d *decoder) relation(pr *peerpb.Relation) error {
	if pr == nil {
		return errors.New("empty relation frame")
	}
	if pr.Id == 0 {
		return fmt.Errorf("relation %s.%s: id 0 is reserved", pr.Schema, pr.Table)
	}
	// A known id is redefined: the table's shape (or just its relcache entry)
	// changed on the source. Transactions already decoded keep the old one.
	switch pr.Identity {
	case uint32(change.IdentityDefault), uint32(change.IdentityFull), uint32(change.IdentityIndex), uint32(change.IdentityNothing):
	default:
		return fmt.Errorf("relation %s.%s: unknown replica identity %d", pr.Schema, pr.Table, pr.Identity)
	}
	r := &change.Relation{
		ID:       pr.SourceOid,
		Table:    change.TableRef{Schema: pr.Schema, Name: pr.Table},
		Identity: byte(pr.Identity),
	}
	if len(pr.Columns) > 0 {
		r.Columns = make([]change.Column, len(pr.Columns))
		for i, c := range pr.Columns {
			if c == nil {
				return fmt.Errorf("relation %s: column %d is empty", r.Table, i)
			}
			r.Columns[i] = change.Column{Name: c.Name, TypeOID: c.TypeOid, TypeMod: c.TypeMod, Key: c.Key}
		}
	}
	d.rels[pr.Id] = r
	return nil
}

func (d *decoder) chunk(c *peerpb.TxChunk) (*change.Tx, error) {
	if c == nil {
		return nil, errors.New("empty transaction chunk")
	}
	if b := c.Begin; b != nil {
		if d.tx != nil {
			return nil, fmt.Errorf("begin of tx %s while %s is still open", change.LSN(b.EndLsn), d.tx)
		}
		if b.CommitTimeNanos < 0 || b.CommitTimeNanos >= 1e9 {
			return nil, fmt.Errorf("tx %s: commit time nanoseconds %d out of range", change.LSN(b.EndLsn), b.CommitTimeNanos)
		}
		d.tx = &change.Tx{
			Xid:        b.Xid,
			CommitLSN:  change.LSN(b.CommitLsn),
			EndLSN:     change.LSN(b.EndLsn),
			CommitTime: time.Unix(b.CommitTimeSeconds, int64(b.CommitTimeNanos)).UTC(),
		}
	} else if d.tx == nil {
		return nil, errors.New("transaction chunk without a begin")
	}
	tx := d.tx
	for _, pc := range c.Changes {
		ch, err := d.change(pc)
		if err != nil {
			err = fmt.Errorf("%s: change %d: %w", tx, tx.Len(), err)
			d.drop()
			return nil, err
		}
		tx.Changes = append(tx.Changes, ch)
		d.mem += ch.Size()
	}
	if d.spillBytes > 0 && d.mem >= d.spillBytes || tx.Spill != nil && c.Commit != nil && len(tx.Changes) > 0 {
		if err := d.spill(); err != nil {
			d.drop()
			return nil, err
		}
	}
	if c.Commit == nil {
		return nil, nil
	}
	if change.LSN(c.Commit.EndLsn) != tx.EndLSN {
		err := fmt.Errorf("%s: commit says end LSN %s", tx, change.LSN(c.Commit.EndLsn))
		d.drop()
		return nil, err
	}
	if c.Commit.ChangeCount != uint64(tx.Len()) {
		err := fmt.Errorf("%s: commit says %d changes, received %d", tx, c.Commit.ChangeCount, tx.Len())
		d.drop()
		return nil, err
	}
	d.tx, d.mem = nil, 0
	return tx, nil
}

func (d *decoder) change(pc *peerpb.Change) (change.Change, error) {
	if pc == nil {
		return change.Change{}, errors.New("empty change")
	}
	var c change.Change
	switch pc.Op {
	case peerpb.Op_OP_INSERT, peerpb.Op_OP_UPDATE, peerpb.Op_OP_DELETE, peerpb.Op_OP_TRUNCATE:
		c.Op = change.Op(pc.Op)
	default:
		return c, fmt.Errorf("unknown operation %d", pc.Op)
	}
	if pc.Relation != 0 {
		r, ok := d.rels[pc.Relation]
		if !ok {
			return c, fmt.Errorf("%s refers to unknown relation id %d", c.Op, pc.Relation)
		}
		c.Rel = r
	}
	if len(pc.TruncateRelations) > 0 {
		c.Rels = make([]*change.Relation, len(pc.TruncateRelations))
		for i, id := range pc.TruncateRelations {
			r, ok := d.rels[id]
			if !ok {
				return c, fmt.Errorf("truncate refers to unknown relation id %d", id)
			}
			c.Rels[i] = r
		}
	}
	c.Cascade, c.RestartIdentity, c.OldIsKey = pc.Cascade, pc.RestartIdentity, pc.OldIsKey
	var err error
	if c.New, err = values(pc.New); err != nil {
		return c, fmt.Errorf("new row: %w", err)
	}
	if c.Old, err = values(pc.Old); err != nil {
		return c, fmt.Errorf("old row: %w", err)
	}
	return c, checkChange(&c)
}

func values(t *peerpb.Tuple) ([]change.Value, error) {
	if t == nil {
		return nil, nil
	}
	vs := make([]change.Value, len(t.Values))
	for i, v := range t.Values {
		switch v.GetKind() {
		case peerpb.ValueKind_VALUE_KIND_NULL:
			vs[i].Kind = change.Null
		case peerpb.ValueKind_VALUE_KIND_UNCHANGED:
			vs[i].Kind = change.Unchanged
		case peerpb.ValueKind_VALUE_KIND_TEXT:
			vs[i].Kind = change.Text
			vs[i].Data = v.Data
			if vs[i].Data == nil {
				vs[i].Data = []byte{} // an empty string is text, not NULL
			}
			continue
		default:
			return nil, fmt.Errorf("value %d: unknown kind %d", i, v.GetKind())
		}
		if len(v.Data) != 0 {
			return nil, fmt.Errorf("value %d: %s value carries %d bytes of data", i, kindName(vs[i].Kind), len(v.Data))
		}
	}
	return vs, nil
}
