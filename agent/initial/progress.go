package initial

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/transport"
)

// States of the initial sync, as status shows them.
const (
	StateWaiting = "waiting" // not started (or retrying the start)
	StateSchema  = "schema"
	StateCopying = "copying"
	StateIndexes = "indexes" // post-data: secondary indexes, foreign keys, triggers
	StateDone    = "done"
)

// Progress is the initial sync's progress, safe for concurrent use: Run
// updates it, status reads it (Report).
type Progress struct {
	mu     sync.Mutex
	state  string
	tables map[string]*TableProgress
	order  []string
}

// TableProgress is one table's copy progress.
type TableProgress struct {
	name     string
	estRows  float64
	estBytes int64
	rows     atomic.Int64
	bytes    atomic.Int64
	started  atomic.Int64 // unix nanos of the first byte
	done     atomic.Bool
	parts    int          // how many parts it is copied in (1: whole)
	left     atomic.Int64 // parts not copied yet
}

func (p *Progress) set(state string) {
	p.mu.Lock()
	p.state = state
	p.mu.Unlock()
}

// State is the current state ("" before Run started).
func (p *Progress) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// entry returns the table's entry, made when missing (p.mu held).
func (p *Progress) entry(name string) *TableProgress {
	if p.tables == nil {
		p.tables = map[string]*TableProgress{}
	}
	tp := p.tables[name]
	if tp == nil {
		tp = &TableProgress{name: name}
		p.tables[name] = tp
		p.order = append(p.order, name)
	}
	return tp
}

// addTable starts (or restarts) a table that is still to copy, in parts.
func (p *Progress) addTable(t transport.SyncTable, parts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tp := p.entry(pgx.Identifier{t.TargetSchema, t.TargetName}.Sanitize())
	tp.estRows, tp.estBytes = t.EstRows, t.EstBytes
	tp.parts = parts
	tp.left.Store(int64(parts))
	tp.rows.Store(0)
	tp.bytes.Store(0)
	tp.started.Store(0)
	tp.done.Store(false)
}

// loadCopied shows the tables recorded as copied (all their parts), with
// their counts.
func (p *Progress) loadCopied(ctx context.Context, conn *pgx.Conn, pair string) error {
	rows, err := conn.Query(ctx, `SELECT schema::text, name::text, sum(rows)::bigint, sum(bytes)::bigint, max(parts)
		FROM pgduet.initial_sync_tables WHERE pair = $1
		GROUP BY schema, name HAVING `+completeSQL+` ORDER BY 1, 2`, pair)
	if err != nil {
		return fmt.Errorf("initial sync: read copied tables: %w", err)
	}
	defer rows.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for rows.Next() {
		var schema, name string
		var n, b int64
		var parts int
		if err := rows.Scan(&schema, &name, &n, &b, &parts); err != nil {
			return err
		}
		tp := p.entry(pgx.Identifier{schema, name}.Sanitize())
		tp.parts = parts
		tp.rows.Store(n)
		tp.bytes.Store(b)
		tp.done.Store(true)
	}
	return rows.Err()
}

func (p *Progress) table(schema, name string) *TableProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tables[pgx.Identifier{schema, name}.Sanitize()]
}

// finish counts one part of the table copied; the last one finishes it.
func (p *Progress) finish(schema, name string) {
	if tp := p.table(schema, name); tp != nil && tp.left.Add(-1) <= 0 {
		tp.done.Store(true)
	}
}

func (tp *TableProgress) add(rows, bytes int64) {
	if tp == nil {
		return
	}
	tp.started.CompareAndSwap(0, time.Now().UnixNano())
	tp.rows.Add(rows)
	tp.bytes.Add(bytes)
}

// TableReport is one table in Report.
type TableReport struct {
	Table   string  `json:"table"`
	State   string  `json:"state"` // "waiting", "copying", "done"
	Rows    int64   `json:"rows"`
	Bytes   int64   `json:"bytes"`
	Percent float64 `json:"percent"` // of the source's row estimate (0 when it has none)
	// Parts is how many parts (block ranges copied in parallel, each in a
	// transaction of its own) the table is copied in; PartsDone, how many
	// are copied.
	Parts     int `json:"parts"`
	PartsDone int `json:"parts_done"`
	// ETASeconds is the estimated time left at the table's rate so far (0
	// when unknown or done).
	ETASeconds float64 `json:"eta_seconds"`
}

// Report is the initial sync's progress for status.
type Report struct {
	State  string        `json:"state"`
	Tables []TableReport `json:"tables,omitempty"`
}

// Report returns the progress now.
func (p *Progress) Report() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Report{State: p.state}
	now := time.Now()
	for _, name := range p.order {
		tp := p.tables[name]
		tr := TableReport{Table: name, Rows: tp.rows.Load(), Bytes: tp.bytes.Load(), State: "waiting",
			Parts: tp.parts, PartsDone: tp.parts - int(tp.left.Load())}
		switch {
		case tp.done.Load():
			tr.State, tr.Percent, tr.PartsDone = "done", 100, tp.parts
		case tp.started.Load() != 0:
			tr.State = "copying"
			if tp.estRows > 0 {
				tr.Percent = min(99.9, 100*float64(tr.Rows)/tp.estRows)
				elapsed := now.Sub(time.Unix(0, tp.started.Load())).Seconds()
				if tr.Rows > 0 && elapsed > 0 {
					left := tp.estRows - float64(tr.Rows)
					tr.ETASeconds = max(0, left/(float64(tr.Rows)/elapsed))
				}
			}
		}
		r.Tables = append(r.Tables, tr)
	}
	sort.SliceStable(r.Tables, func(i, j int) bool { return r.Tables[i].Table < r.Tables[j].Table })
	return r
}

// log writes one line per table being copied.
func (p *Progress) log(log *slog.Logger) {
	for _, t := range p.Report().Tables {
		if t.State == "copying" {
			log.Info("initial sync: progress", "table", t.Table, "rows", t.Rows, "bytes", t.Bytes,
				"percent", int(t.Percent), "eta_seconds", int(t.ETASeconds))
		}
	}
}
