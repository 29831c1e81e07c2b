package change

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Spill holds the changes of a transaction too big to keep in memory, in a
// temporary file that is unlinked as soon as it is created: nothing is left
// on disk when the process ends, however it ends, and the space is freed when
// Close (or the garbage collector) closes the file.
//
// Changes are appended in order and read back in windows of bounded size, as
// often as needed (an apply that is retried reads them again). Relations are
// kept in memory, by pointer: a window's changes point to the same *Relation
// values that were appended, so shape identity survives the round trip.
//
// A Spill is used by one goroutine at a time.
type Spill struct {
	f       *os.File
	w       *bufio.Writer
	written int64 // bytes appended (flushed or not)
	n       int
	size    int64 // the changes' Size, summed
	rels    []*Relation
	relIdx  map[*Relation]uint32
	ddl     bool
	err     error
	scratch []byte
}

// DefaultSpillBytes is how much of one transaction's changes (by
// Change.Size) the sending and the receiving agent hold in memory before
// they spill the rest.
const DefaultSpillBytes = 16 << 20

// SpillWindowBytes bounds the bytes of values one window holds; a window
// also holds at most SpillWindowChanges changes. A single change larger than
// that is a window of its own.
const (
	SpillWindowBytes   = 4 << 20
	SpillWindowChanges = 10000
)

// NewSpill creates an empty spill file in dir (os.TempDir() when empty).
func NewSpill(dir string) (*Spill, error) {
	f, err := os.CreateTemp(dir, "pgduet-spill-*")
	if err != nil {
		return nil, fmt.Errorf("create spill file (set the temporary directory with TMPDIR): %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("unlink spill file %s: %w", f.Name(), err)
	}
	return &Spill{f: f, w: bufio.NewWriterSize(f, 256<<10), relIdx: map[*Relation]uint32{}}, nil
}

// Len is the number of changes appended.
func (s *Spill) Len() int { return s.n }

// Size is the sum of the appended changes' Size.
func (s *Spill) Size() int64 { return s.size }

// Relations lists every relation the appended changes name (Rel and Rels).
func (s *Spill) Relations() []*Relation { return s.rels }

// HasDDL reports whether a row of the DDL queue was appended.
func (s *Spill) HasDDL() bool { return s.ddl }

// Append writes cs to the end of the spill. The changes may be reused by the
// caller afterwards: their values are copied.
func (s *Spill) Append(cs []Change) error {
	if s.err != nil {
		return s.err
	}
	for i := range cs {
		b := s.encode(s.scratch[:0], &cs[i])
		s.scratch = b
		if _, err := s.w.Write(b); err != nil {
			s.err = fmt.Errorf("write spill file: %w", err)
			return s.err
		}
		s.written += int64(len(b))
		s.n++
		s.size += int64(cs[i].Size())
		if cs[i].Rel != nil && cs[i].Rel.Table == DDLQueue {
			s.ddl = true
		}
	}
	if cap(s.scratch) > 1<<20 {
		s.scratch = nil // one huge value: do not keep its buffer
	}
	return nil
}

// Change encoding: op, flags, relation (index+1, 0 for none), then the new
// tuple, the old tuple (each: present flag in flags, count, values), then
// the truncated relations. A value is its kind, then for Text its length and
// bytes. Integers are unsigned varints.
const (
	flagNew byte = 1 << iota
	flagOld
	flagOldIsKey
	flagCascade
	flagRestartIdentity
)

func (s *Spill) rel(r *Relation) uint64 {
	if r == nil {
		return 0
	}
	i, ok := s.relIdx[r]
	if !ok {
		s.rels = append(s.rels, r)
		i = uint32(len(s.rels))
		s.relIdx[r] = i
	}
	return uint64(i)
}

func (s *Spill) encode(b []byte, c *Change) []byte {
	var flags byte
	if c.New != nil {
		flags |= flagNew
	}
	if c.Old != nil {
		flags |= flagOld
	}
	if c.OldIsKey {
		flags |= flagOldIsKey
	}
	if c.Cascade {
		flags |= flagCascade
	}
	if c.RestartIdentity {
		flags |= flagRestartIdentity
	}
	b = append(b, byte(c.Op), flags)
	b = binary.AppendUvarint(b, s.rel(c.Rel))
	for _, t := range [2][]Value{c.New, c.Old} {
		if t == nil {
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(t)))
		for _, v := range t {
			b = append(b, byte(v.Kind))
			if v.Kind == Text {
				b = binary.AppendUvarint(b, uint64(len(v.Data)))
				b = append(b, v.Data...)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(c.Rels)))
	for _, r := range c.Rels {
		b = binary.AppendUvarint(b, s.rel(r))
	}
	return b
}

// Each reads the changes back in order, in windows, and calls fn with each
// window and the index of its first change. A window's changes and their
// values are valid only until fn returns. It stops at fn's first error and
// returns it.
func (s *Spill) Each(fn func(base int, cs []Change) error) error {
	if s.err != nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("write spill file: %w", err)
		return s.err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.written), 256<<10)
	var (
		window []Change
		vals   []Value
		data   []byte
	)
	base := 0
	for i := 0; i < s.n; {
		window, vals, data = window[:0], vals[:0], data[:0]
		for i < s.n && len(window) < SpillWindowChanges && (len(window) == 0 || len(data) < SpillWindowBytes) {
			var c Change
			var err error
			c, vals, data, err = s.decode(r, vals, data)
			if err != nil {
				return fmt.Errorf("read spill file at change %d: %w", i, err)
			}
			window = append(window, c)
			i++
		}
		if err := fn(base, window); err != nil {
			return err
		}
		base += len(window)
		if cap(data) > 4*SpillWindowBytes {
			data = nil // one huge value: do not keep its buffer for the rest
		}
	}
	return nil
}

// decode reads one change. Its tuples' values are appended to vals and their
// bytes to data, which are reused from window to window.
func (s *Spill) decode(r *bufio.Reader, vals []Value, data []byte) (Change, []Value, []byte, error) {
	var c Change
	op, err := r.ReadByte()
	if err != nil {
		return c, vals, data, err
	}
	flags, err := r.ReadByte()
	if err != nil {
		return c, vals, data, err
	}
	c.Op = Op(op)
	c.OldIsKey = flags&flagOldIsKey != 0
	c.Cascade = flags&flagCascade != 0
	c.RestartIdentity = flags&flagRestartIdentity != 0
	if c.Rel, err = s.readRel(r); err != nil {
		return c, vals, data, err
	}
	tuple := func(present bool) ([]Value, error) {
		if !present {
			return nil, nil
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		start := len(vals)
		for k := uint64(0); k < n; k++ {
			kind, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			v := Value{Kind: ValueKind(kind)}
			if v.Kind == Text {
				l, err := binary.ReadUvarint(r)
				if err != nil {
					return nil, err
				}
				off := len(data)
				data = append(data, make([]byte, l)...)
				if _, err := io.ReadFull(r, data[off:]); err != nil {
					return nil, err
				}
				// Earlier values keep pointing into the array they were
				// read into if data moves: it is never written again.
				v.Data = data[off:len(data):len(data)]
			}
			vals = append(vals, v)
		}
		return vals[start:len(vals):len(vals)], nil
	}
	if c.New, err = tuple(flags&flagNew != 0); err != nil {
		return c, vals, data, err
	}
	if c.Old, err = tuple(flags&flagOld != 0); err != nil {
		return c, vals, data, err
	}
	nr, err := binary.ReadUvarint(r)
	if err != nil {
		return c, vals, data, err
	}
	for k := uint64(0); k < nr; k++ {
		rel, err := s.readRel(r)
		if err != nil {
			return c, vals, data, err
		}
		c.Rels = append(c.Rels, rel)
	}
	return c, vals, data, nil
}

func (s *Spill) readRel(r *bufio.Reader) (*Relation, error) {
	i, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if i == 0 {
		return nil, nil
	}
	if i > uint64(len(s.rels)) {
		return nil, errors.New("corrupt spill file: unknown relation")
	}
	return s.rels[i-1], nil
}

// Close frees the file. The spill cannot be used afterwards.
func (s *Spill) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if s.err == nil {
		s.err = errors.New("spill file closed")
	}
	return err
}
