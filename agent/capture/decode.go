package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pglogrepl"

	"github.com/pgduet/pgduet/agent/change"
)

// internalSchema holds pgduet's own bookkeeping tables; their changes are never
// forwarded (counted in Stats.ChangesInternal), except inserts into the DDL
// queue under DDLForward.
const internalSchema = "pgduet"

// txKind says what becomes of a committed transaction.
type txKind uint8

const (
	txDeliver  txKind = iota + 1 // has changes after filtering: handed to Next
	txEcho                       // committed under a pgduet origin of this pair: dropped
	txFiltered                   // every change was dropped (filter or pgduet's own tables)
)

// committed is a transaction the decoder finished at its Commit message.
type committed struct {
	kind     txKind
	tx       *change.Tx // Changes is empty unless kind == txDeliver
	origin   string     // the Origin message's name, "" when local
	filtered int        // changes the Filter dropped
	internal int        // changes to tables in schema pgduet
	// ddlIgnored counts queue rows dropped under DDLIgnore; ddlSeen holds the
	// commands already logged, so each is logged once.
	ddlIgnored int
	ddlSeen    map[string]bool
	// rowFilters are the changes of tables with a row filter, with their
	// full rows, to be decided before delivery (applyRowFilters).
	rowFilters []rowFilter
	// memBytes is the Size of tx.Changes[:counted]: what the transaction
	// holds in memory, checked against the spill threshold (spill).
	memBytes int
	counted  int
}

// rowFilter is one change waiting for its table's row filter: the change's
// index in the transaction and its rows with every column (the filter may
// read columns that are not sent).
type rowFilter struct {
	idx      int
	op       change.Op
	src      change.TableRef  // this node's name of the table
	rel      *change.Relation // the relation version the rows were decoded with, every column
	filter   *tableFilter
	new, old []change.Value
}

// tableFilter is a table's row filter as capture evaluates it.
type tableFilter struct {
	expr string
	// err, when set, is why this relation version cannot be filtered
	// correctly (the filter reads a column whose old value PostgreSQL does
	// not send): delivery stops with it.
	err error
}

// decoder turns pgoutput protocol-1 messages into whole transactions. It holds
// the relation cache and the transaction being assembled. Run's goroutine owns
// it; it does no I/O.
type decoder struct {
	echoOrigin string
	filter     Filter
	log        *slog.Logger
	mapper     Mapper
	columns    Columns
	where      func(t change.TableRef) (expr string, cols []string)
	ddl        DDLMode
	rels       map[uint32]*change.Relation // as the peer names them (mapped), with the columns sent
	full       map[uint32]*change.Relation // every column, for decoding tuples (rels' own when nothing is left out)
	proj       map[uint32][]int            // the tuple columns sent, in order; nil: all
	filters    map[uint32]*tableFilter     // row filters (this node's column names)
	src        map[uint32]change.TableRef  // this node's names
	cur        *committed                  // between Begin and Commit; nil outside a transaction
	cols       []tupleCol                  // parseRow's scratch, reused for every row message
}

func newDecoder(echoOrigin string, filter Filter, log *slog.Logger) *decoder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &decoder{echoOrigin: echoOrigin, filter: filter, log: log, rels: map[uint32]*change.Relation{},
		full: map[uint32]*change.Relation{}, proj: map[uint32][]int{}, filters: map[uint32]*tableFilter{}, src: map[uint32]change.TableRef{}}
}

// inTx reports whether a Begin has been decoded without its Commit.
func (d *decoder) inTx() bool { return d.cur != nil }

// decode handles one pgoutput message (XLogData.WALData). It returns the
// transaction when the message is its Commit, else nil.
//
// Nothing it returns refers to data (pgconn reuses its receive buffer): row
// messages are read by parseRow, whose values are copied out (rowData), the
// other messages by pglogrepl, which copies names (string conversions); the
// one message type that would alias the buffer (LogicalDecodingMessage.Content)
// is refused. A test overwrites the buffer after decoding to keep that true.
//
// The cases, in the order pgoutput sends them for a transaction:
//
//	Begin     start a transaction (error if one is open)
//	Origin    the transaction was committed under a replication origin; a pgduet
//	          origin of this pair marks it an echo: everything in it is dropped
//	Relation  (anywhere) a new *change.Relation replaces the cached one
//	Type      (anywhere) ignored: values travel as text, types by name on the peer
//	Insert, Update, Delete, Truncate
//	          a change: dropped when it is an echo, a pgduet table or rejected by
//	          the filter (counted), else appended
//	Commit    end the transaction; must match the Begin's LSN
//
// Anything else (Message, streaming, two-phase, unknown types) is an error: none of
// it is enabled, so it means the stream is not what capture asked for.
func (d *decoder) decode(data []byte) (*committed, error) {
	if len(data) == 0 {
		return nil, errors.New("empty pgoutput message")
	}
	typ := pglogrepl.MessageType(data[0])
	switch typ {
	case pglogrepl.MessageTypeBegin, pglogrepl.MessageTypeCommit, pglogrepl.MessageTypeOrigin,
		pglogrepl.MessageTypeRelation, pglogrepl.MessageTypeType:
	case pglogrepl.MessageTypeInsert, pglogrepl.MessageTypeUpdate, pglogrepl.MessageTypeDelete, pglogrepl.MessageTypeTruncate:
		if d.cur == nil {
			return nil, fmt.Errorf("pgoutput %s message outside a transaction", typ)
		}
		if d.cur.kind == txEcho {
			return nil, nil // not even decoded: the whole transaction is dropped
		}
	case pglogrepl.MessageTypeMessage:
		return nil, errors.New("unexpected pgoutput Message ('M'): capture does not enable messages")
	case pglogrepl.MessageTypeStreamStart, pglogrepl.MessageTypeStreamStop,
		pglogrepl.MessageTypeStreamCommit, pglogrepl.MessageTypeStreamAbort:
		return nil, fmt.Errorf("unexpected pgoutput %s message (%q): capture does not enable streaming", typ, rune(typ))
	default:
		return nil, fmt.Errorf("unexpected pgoutput message type %q (0x%02x)", rune(typ), byte(typ))
	}

	if typ == pglogrepl.MessageTypeInsert || typ == pglogrepl.MessageTypeUpdate || typ == pglogrepl.MessageTypeDelete {
		return nil, d.decodeRow(typ, data)
	}

	msg, err := parse(data)
	if err != nil {
		return nil, err
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		if d.cur != nil {
			return nil, fmt.Errorf("pgoutput Begin (xid %d) inside transaction xid %d", m.Xid, d.cur.tx.Xid)
		}
		d.cur = &committed{kind: txDeliver, tx: &change.Tx{Xid: m.Xid, CommitLSN: m.FinalLSN, CommitTime: m.CommitTime}}

	case *pglogrepl.OriginMessage:
		if d.cur == nil {
			return nil, fmt.Errorf("pgoutput Origin %q outside a transaction", m.Name)
		}
		d.cur.origin = m.Name
		if isEcho(m.Name, d.echoOrigin) {
			d.cur.kind = txEcho
			d.cur.tx.Changes = nil
		}

	case *pglogrepl.RelationMessage:
		rel := newRelation(m)
		d.src[m.RelationID] = rel.Table
		if d.mapper != nil && rel.Table.Schema != internalSchema {
			rel.Table = d.mapper(rel.Table)
		}
		d.full[m.RelationID] = rel
		d.proj[m.RelationID] = nil
		delete(d.filters, m.RelationID)
		if d.where != nil && rel.Table.Schema != internalSchema {
			if expr, cols := d.where(d.src[m.RelationID]); expr != "" {
				d.filters[m.RelationID] = newTableFilter(d.src[m.RelationID], rel, expr, cols)
			}
		}
		if d.columns != nil && rel.Table.Schema != internalSchema {
			var proj []int
			rel, proj = projectRelation(rel, d.columns(d.src[m.RelationID]))
			d.proj[m.RelationID] = proj
		}
		d.rels[m.RelationID] = rel
		d.log.Debug("relation", "table", rel.Table.String(), "columns", len(rel.Columns), "identity", string(rune(rel.Identity)))

	case *pglogrepl.TypeMessage:

	case *pglogrepl.TruncateMessage:
		c := change.Change{
			Op:              change.Truncate,
			Cascade:         m.Option&pglogrepl.TruncateOptionCascade != 0,
			RestartIdentity: m.Option&pglogrepl.TruncateOptionRestartIdentity != 0,
		}
		for _, id := range m.RelationIDs {
			rel, keep, err := d.relation(id, change.Truncate)
			if err != nil {
				return nil, err
			}
			if keep {
				c.Rels = append(c.Rels, rel)
			}
		}
		if len(c.Rels) > 0 {
			d.cur.tx.Changes = append(d.cur.tx.Changes, c)
		}

	case *pglogrepl.CommitMessage:
		cur := d.cur
		if cur == nil {
			return nil, fmt.Errorf("pgoutput Commit %s outside a transaction", m.CommitLSN)
		}
		if m.CommitLSN != cur.tx.CommitLSN {
			return nil, fmt.Errorf("pgoutput Commit LSN %s does not match its Begin's %s (xid %d)", m.CommitLSN, cur.tx.CommitLSN, cur.tx.Xid)
		}
		d.cur = nil
		cur.tx.EndLSN = m.TransactionEndLSN // never XLogData.WALStart: it is 0/0 for some messages
		cur.tx.CommitTime = m.CommitTime
		if cur.kind == txDeliver && cur.tx.Len() == 0 {
			cur.kind = txFiltered
		}
		return cur, nil

	default:
		return nil, fmt.Errorf("unexpected pgoutput message %T", msg)
	}
	return nil, nil
}

// parse wraps pglogrepl.Parse, turning its panics on truncated input (it indexes
// without bounds checks) into errors.
func parse(data []byte) (msg pglogrepl.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("malformed pgoutput %s message (%d bytes): %v", pglogrepl.MessageType(data[0]), len(data), r)
		}
	}()
	msg, err = pglogrepl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("decode pgoutput %s message: %w", pglogrepl.MessageType(data[0]), err)
	}
	return msg, nil
}

// relation looks up the relation of a change and decides whether the change is
// kept: changes to pgduet's own tables and changes the filter rejects are
// dropped and counted.
func (d *decoder) relation(id uint32, op change.Op) (*change.Relation, bool, error) {
	rel, ok := d.rels[id]
	if !ok {
		return nil, false, fmt.Errorf("pgoutput %s for relation %d that no Relation message described", op, id)
	}
	src := d.src[id]
	switch {
	case src == change.DDLQueue && op == change.Insert && d.ddl != DDLOff:
		return rel, true, nil
	case src.Schema == internalSchema:
		d.cur.internal++
		return rel, false, nil
	case d.filter != nil && !d.filter(src, op):
		d.cur.filtered++
		return rel, false, nil
	}
	return rel, true, nil
}

// ignoreDDL drops a queue row on a node that is not the DDL source, logging
// each command (query and command number) once.
func (d *decoder) ignoreDDL(rel *change.Relation, row []change.Value) {
	d.cur.ddlIgnored++
	col := func(name string) string {
		for i, c := range rel.Columns {
			if c.Name == name && i < len(row) {
				return string(row[i].Data)
			}
		}
		return ""
	}
	key := col("stmt_time") + "/" + col("command") + "/" + col("query")
	if d.cur.ddlSeen[key] {
		return
	}
	if d.cur.ddlSeen == nil {
		d.cur.ddlSeen = map[string]bool{}
	}
	d.cur.ddlSeen[key] = true
	d.log.Warn("DDL on this node is not replicated: DDL flows from the DDL source only (ddl.reverse = \"ignore\")",
		"tag", col("tag"), "object", col("identity"), "query", col("query"), "xid", d.cur.tx.Xid)
}

// newRelation makes a new Relation from a Relation message. It never updates one
// already handed out: a pointer stands for one version of the table's shape.
func newRelation(m *pglogrepl.RelationMessage) *change.Relation {
	rel := &change.Relation{
		ID:       m.RelationID,
		Table:    change.TableRef{Schema: m.Namespace, Name: m.RelationName},
		Identity: m.ReplicaIdentity,
		Columns:  make([]change.Column, len(m.Columns)),
	}
	for i, col := range m.Columns {
		rel.Columns[i] = change.Column{
			Name:    col.Name,
			TypeOID: col.DataType,
			TypeMod: col.TypeModifier,
			Key:     col.Flags&1 != 0,
		}
	}
	return rel
}

// decodeRow handles an Insert, Update or Delete of the open transaction: the
// change is appended unless the relation's table is dropped (relation).
// Its values are copied out of data (see rowData).
func (d *decoder) decodeRow(typ pglogrepl.MessageType, data []byte) error {
	m, err := d.parseRow(typ, data)
	if err != nil {
		return err
	}
	op, _ := rowOp(typ)
	rel, keep, err := d.relation(m.rel, op)
	if err != nil || !keep {
		return err
	}
	rd := d.newRowData(&m, data[1:])
	r := &rd
	c := change.Change{Op: op, Rel: rel}
	var newAll, oldAll []change.Value
	switch op {
	case change.Insert:
		if c.New, newAll, err = d.values(m.rel, m.new, r); err != nil {
			return fmt.Errorf("insert into %s: %w", rel.Table, err)
		}
		if rel.Table == change.DDLQueue && d.ddl == DDLIgnore {
			d.ignoreDDL(rel, c.New)
			return nil
		}
	case change.Update:
		if c.New, newAll, err = d.values(m.rel, m.new, r); err != nil {
			return fmt.Errorf("update of %s: new row: %w", rel.Table, err)
		}
		if c.Old, oldAll, c.OldIsKey, err = d.oldValues(m.rel, m.oldKind, m.old, r); err != nil {
			return fmt.Errorf("update of %s: old row: %w", rel.Table, err)
		}
	case change.Delete:
		if c.Old, oldAll, c.OldIsKey, err = d.oldValues(m.rel, m.oldKind, m.old, r); err != nil {
			return fmt.Errorf("delete from %s: %w", rel.Table, err)
		}
		if c.Old == nil {
			return fmt.Errorf("delete from %s: no old row", rel.Table)
		}
	}
	d.filterLater(m.rel, op, newAll, oldAll)
	d.cur.tx.Changes = append(d.cur.tx.Changes, c)
	return nil
}

// tupleCol is one column of a tuple as a row message holds it: its kind ('n'
// NULL, 'u' unchanged TOAST, 't' text, 'b' binary, or whatever the stream
// says) and, for 't' and 'b', where its bytes are.
type tupleCol struct {
	kind     byte
	off, end int // in the message after its type byte
}

// rowMsg is an Insert, Update or Delete as parseRow reads it, before anything
// is copied: its tuples are views of the decoder's scratch (valid until the
// next parseRow) pointing into the message.
type rowMsg struct {
	rel      uint32
	oldKind  byte       // 0 (an Update without old tuple), 'K' or 'O'
	old, new []tupleCol // nil when absent
	size     int        // bytes of all 't' and 'b' values
}

// rowOp is the change a row message type makes, and the shortest such
// message (after the type byte) that pglogrepl, which capture used to parse
// them with, accepts: kept so that the same messages are refused (pglogrepl
// refuses an Insert of no column, though it takes an Update or a Delete of
// none).
func rowOp(typ pglogrepl.MessageType) (op change.Op, minLen int) {
	switch typ {
	case pglogrepl.MessageTypeInsert:
		return change.Insert, 8
	case pglogrepl.MessageTypeUpdate:
		return change.Update, 6
	default:
		return change.Delete, 5
	}
}

// parseRow reads an Insert ('I' relid 'N' tuple), Update ('U' relid ['K'|'O'
// tuple] 'N' tuple) or Delete ('D' relid 'K'|'O' tuple) without copying or
// allocating anything: the decoder's scratch holds the columns. Truncated
// input is an error, never a panic.
func (d *decoder) parseRow(typ pglogrepl.MessageType, data []byte) (m rowMsg, err error) {
	src := data[1:]
	malformed := func(why string) error {
		return fmt.Errorf("malformed pgoutput %s message (%d bytes): %s", typ, len(data), why)
	}
	if _, minLen := rowOp(typ); len(src) < minLen {
		return m, malformed("too short")
	}
	m.rel = binary.BigEndian.Uint32(src)
	kind, pos := src[4], 5
	d.cols = d.cols[:0]
	nOld := -1 // columns of the old tuple, -1: none
	switch {
	case kind == 'N' && typ != pglogrepl.MessageTypeDelete:
	case (kind == 'K' || kind == 'O') && typ != pglogrepl.MessageTypeInsert:
		m.oldKind = kind
		if pos, err = d.parseTuple(src, pos, &m.size); err != nil {
			return m, malformed(err.Error())
		}
		nOld = len(d.cols)
		if typ == pglogrepl.MessageTypeUpdate {
			if pos >= len(src) || src[pos] != 'N' {
				return m, malformed("no new tuple after the old one")
			}
			pos++
		}
	default:
		return m, fmt.Errorf("decode pgoutput %s message: unexpected tuple type %q", typ, rune(kind))
	}
	if typ != pglogrepl.MessageTypeDelete {
		if _, err = d.parseTuple(src, pos, &m.size); err != nil {
			return m, malformed(err.Error())
		}
		m.new = d.cols[max(nOld, 0):]
	}
	if nOld >= 0 {
		m.old = d.cols[:nOld:nOld]
	}
	return m, nil
}

var errTruncatedTuple = errors.New("tuple data cut short")

// parseTuple reads the TupleData at src[pos:] (Int16 column count, then per
// column a kind byte, and for 't' and 'b' an Int32 length and the bytes) into
// d.cols, adds its values' length to size, and returns where it ends.
func (d *decoder) parseTuple(src []byte, pos int, size *int) (int, error) {
	if len(src)-pos < 2 {
		return 0, errTruncatedTuple
	}
	n := int(binary.BigEndian.Uint16(src[pos:]))
	pos += 2
	for range n {
		if pos >= len(src) {
			return 0, errTruncatedTuple
		}
		col := tupleCol{kind: src[pos]}
		pos++
		switch col.kind {
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			if len(src)-pos < 4 {
				return 0, errTruncatedTuple
			}
			l := binary.BigEndian.Uint32(src[pos:])
			pos += 4
			if uint64(l) > uint64(len(src)-pos) {
				return 0, errTruncatedTuple
			}
			col.off, col.end = pos, pos+int(l)
			pos = col.end
			*size += int(l)
		}
		d.cols = append(d.cols, col)
	}
	return pos, nil
}

// rowData is where the values of one row message go: one allocation holds
// the values of all its tuples (and of their projections), another the bytes
// of all its text values, carved up value by value. Every piece is capped at
// its own length, so appending to one never reaches the next; nothing refers
// to the message, and nothing is reused for another message.
type rowData struct {
	src  []byte // the message after its type byte, which tupleCol offsets index
	vals []change.Value
	buf  []byte
}

func (d *decoder) newRowData(m *rowMsg, src []byte) rowData {
	n := len(m.old) + len(m.new)
	if proj := d.proj[m.rel]; proj != nil {
		if m.old != nil {
			n += len(proj)
		}
		if m.new != nil {
			n += len(proj)
		}
	}
	return rowData{src: src, vals: make([]change.Value, n), buf: make([]byte, m.size)}
}

// take returns the next n values.
func (r *rowData) take(n int) []change.Value {
	if n > len(r.vals) { // cannot happen: newRowData counts them all
		r.vals = make([]change.Value, n)
	}
	v := r.vals[:n:n]
	r.vals = r.vals[n:]
	return v
}

// text copies a value's bytes out of the message.
func (r *rowData) text(col tupleCol) []byte {
	n := copy(r.buf, r.src[col.off:col.end])
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

// tupleValues converts a tuple: 'n' NULL, 'u' unchanged TOAST (not sent), 't'
// text.
func tupleValues(rel *change.Relation, cols []tupleCol, r *rowData) ([]change.Value, error) {
	if len(cols) != len(rel.Columns) {
		return nil, fmt.Errorf("tuple has %d columns, its Relation message %d", len(cols), len(rel.Columns))
	}
	out := r.take(len(cols))
	for i, col := range cols {
		switch col.kind {
		case pglogrepl.TupleDataTypeNull:
			out[i] = change.Value{Kind: change.Null}
		case pglogrepl.TupleDataTypeToast:
			out[i] = change.Value{Kind: change.Unchanged}
		case pglogrepl.TupleDataTypeText:
			out[i] = change.Value{Kind: change.Text, Data: r.text(col)}
		default:
			return nil, fmt.Errorf("column %s: unexpected tuple data kind %q (binary is not enabled)", rel.Columns[i].Name, rune(col.kind))
		}
	}
	return out, nil
}

// oldValues converts the old tuple of an Update or Delete: 'K' is the replica
// identity key (other columns NULL), 'O' the whole old row (REPLICA IDENTITY
// FULL), none (Update only) nil; like values, sent and all columns.
func (d *decoder) oldValues(id uint32, kind uint8, cols []tupleCol, r *rowData) (sent, all []change.Value, isKey bool, err error) {
	switch kind {
	case 0:
		return nil, nil, false, nil
	case pglogrepl.UpdateMessageTupleTypeKey:
		sent, all, err = d.values(id, cols, r)
		return sent, all, true, err
	case pglogrepl.UpdateMessageTupleTypeOld:
		sent, all, err = d.values(id, cols, r)
		return sent, all, false, err
	}
	return nil, nil, false, fmt.Errorf("unexpected old tuple kind %q", rune(kind))
}

// filterLater records the change about to be appended for its table's row
// filter, with its rows' every column (the filter may read columns that are
// not sent).
func (d *decoder) filterLater(id uint32, op change.Op, newAll, oldAll []change.Value) {
	if tf := d.filters[id]; tf != nil {
		d.cur.rowFilters = append(d.cur.rowFilters, rowFilter{idx: len(d.cur.tx.Changes), op: op, src: d.src[id], rel: d.full[id], filter: tf, new: newAll, old: oldAll})
	}
}

// values converts a tuple of relation id: the columns sent, and every
// column (the same slice when nothing is left out).
func (d *decoder) values(id uint32, cols []tupleCol, r *rowData) (sent, all []change.Value, err error) {
	all, err = tupleValues(d.full[id], cols, r)
	proj := d.proj[id]
	if err != nil || proj == nil {
		return all, all, err
	}
	sent = r.take(len(proj))
	for k, i := range proj {
		sent[k] = all[i]
	}
	return sent, all, nil
}

// projectRelation applies a table's column selection to its relation: the
// columns sent, renamed for the peer, and the tuple columns they come from
// (nil when every column is sent, renamed or not). A key column is always
// sent: the peer finds rows by it (the agent refuses a column list without
// the key before it starts).
func projectRelation(rel *change.Relation, peerName func(string) (string, bool)) (*change.Relation, []int) {
	if peerName == nil {
		return rel, nil
	}
	out := &change.Relation{ID: rel.ID, Table: rel.Table, Identity: rel.Identity}
	var proj []int
	for i, c := range rel.Columns {
		name, ok := peerName(c.Name)
		switch {
		case ok:
		case c.Key:
			name = c.Name
		default:
			continue
		}
		c.Name = name
		out.Columns = append(out.Columns, c)
		proj = append(proj, i)
	}
	if len(proj) == len(rel.Columns) {
		proj = nil // same columns, maybe renamed
	}
	return out, proj
}
