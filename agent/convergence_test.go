package agent_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent"
	"github.com/pgduet/pgduet/agent/change"
)

const convergenceSchema = `
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric NOT NULL DEFAULT 0, updated_at timestamptz);
CREATE TABLE items (sku text, site int, qty int NOT NULL, note text, PRIMARY KEY (sku, site));
CREATE TABLE ledger (id bigint PRIMARY KEY, node text NOT NULL, amount numeric NOT NULL, payload jsonb);
CREATE TABLE t_trunc (id bigint PRIMARY KEY, v text);
`

// killSwitch makes an in-process agent die between the local commit of an
// applied transaction and its ack, as a crash at that moment would.
type killSwitch struct {
	p     *pair
	name  string
	armed atomic.Bool
	fired chan struct{}
}

func newKillSwitch(p *pair, name string) *killSwitch {
	return &killSwitch{p: p, name: name, fired: make(chan struct{}, 1)}
}

func (k *killSwitch) knobs() agent.Knobs { return agent.Knobs{AfterApplyCommit: k.afterCommit} }

func (k *killSwitch) afterCommit(tx *change.Tx) error {
	if !k.armed.CompareAndSwap(true, false) {
		return nil
	}
	k.p.mu.Lock()
	r := k.p.running[k.name]
	k.p.mu.Unlock()
	if r != nil {
		r.cancel()
	}
	k.fired <- struct{}{}
	return errors.New("test: agent killed after commit, before ack")
}

// writer writes count transactions on one node, each touching several tables,
// keyed in the node's own range so the two nodes never write the same key.
type writer struct {
	node     string
	conn     *pgx.Conn
	base     int64
	count    int
	progress atomic.Int64
	// pause asks the writer to stop between two transactions: it answers on the
	// given channel's first receive and waits for the second.
	pause chan chan struct{}
	done  chan struct{} // closed when run returns
}

func (w *writer) run(ctx context.Context) error {
	defer close(w.done)
	for i := 0; i < w.count; i++ {
		select {
		case hold := <-w.pause:
			hold <- struct{}{} // paused
			select {
			case <-hold: // resumed
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
		}
		err := pgx.BeginFunc(ctx, w.conn, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue("INSERT INTO ledger VALUES ($1, $2, $3, $4)", w.base+int64(i), w.node, i%1000, fmt.Sprintf(`{"i": %d}`, i))
			b.Queue(`INSERT INTO accounts (id, owner, balance, updated_at) VALUES ($1, $2, 1, now())
				ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1, updated_at = now()`, w.base+int64(i%200), w.node)
			b.Queue(`INSERT INTO items VALUES ($1, $2, 1, $3) ON CONFLICT (sku, site) DO UPDATE SET qty = items.qty + 1`,
				fmt.Sprintf("%s-%d", w.node, i%300), i%3, fmt.Sprintf("note %d", i))
			if i%7 == 0 {
				b.Queue("DELETE FROM items WHERE sku = $1", fmt.Sprintf("%s-%d", w.node, (i+150)%300))
			}
			if i%11 == 0 {
				b.Queue("DELETE FROM accounts WHERE id = $1", w.base+int64((i+100)%200))
			}
			if w.node == "east" {
				if i == w.count/2 {
					b.Queue("TRUNCATE t_trunc")
				}
				b.Queue("INSERT INTO t_trunc VALUES ($1, $2)", int64(i), "row")
			}
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil {
			return fmt.Errorf("%s transaction %d: %w", w.node, i, err)
		}
		w.progress.Store(int64(i + 1))
	}
	return nil
}

// waitProgress waits until the writer has committed n transactions.
func waitProgress(ctx context.Context, w *writer, n int) error {
	n = min(n, w.count)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for w.progress.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to reach transaction %d: %w", w.node, n, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// TestConvergenceThroughKillsAndCrash is acceptance 1–3 of the two-way DML issue:
// both nodes write concurrently (10,000 transactions in total: inserts, updates,
// deletes, one TRUNCATE) while agents are killed six times at random points — twice
// between the peer's commit and its ack, twice by a clean stop, twice by SIGKILL of
// a real `pgduet run` process — and one database crashes (immediate stop). At the
// end every table is identical on both nodes, and the append-only ledger (unique
// key, fail policy: any duplicate apply would stop the direction) holds exactly
// the 10,000 rows written.
func TestConvergenceThroughKillsAndCrash(t *testing.T) {
	const perNode = 5000
	p := newPair(t, pairOpts{
		schema: convergenceSchema,
		selection: `schema "public" { tables = ["*"] }
table "public.t_trunc" { operations = ["insert", "update", "delete", "truncate"] }`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	pgduetBinary(t) // built now, not in the middle of the workload
	eastKill, westKill := newKillSwitch(p, "east"), newKillSwitch(p, "west")
	p.start("east", eastKill.knobs())
	p.start("west", westKill.knobs())

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 42))
	t.Logf("kill points seed %d", seed)
	// Six kill points plus the crash, at random, increasing positions of east's writer.
	points := make([]int, 7)
	for i := range points {
		lo := 300 + i*(perNode-600)/len(points)
		points[i] = lo + rng.IntN((perNode-600)/len(points)-50)
	}

	west := &writer{node: "west", conn: p.conn["west"], base: 2_000_000, count: perNode, pause: make(chan chan struct{}), done: make(chan struct{})}
	east := &writer{node: "east", conn: p.conn["east"], base: 1_000_000, count: perNode, pause: make(chan chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, w := range []*writer{east, west} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}

	step := func(i int, what string, do func()) {
		if err := waitProgress(ctx, east, points[i]); err != nil {
			t.Fatal(err)
		}
		t.Logf("east at tx %d: %s", east.progress.Load(), what)
		do()
	}
	knobKill := func(k *killSwitch) {
		k.armed.Store(true)
		select {
		case <-k.fired:
		case <-ctx.Done():
			t.Fatalf("kill switch of %s never fired", k.name)
		}
		p.stop(k.name)
		p.start(k.name, k.knobs())
	}
	step(0, "kill west between commit and ack", func() { knobKill(westKill) })
	step(1, "stop east, restart it", func() { p.stop("east"); p.start("east", eastKill.knobs()) })
	step(2, "move west into a `pgduet run` process, SIGKILL it", func() {
		p.stop("west")
		p.startProcess("west")
		if err := waitProgress(ctx, east, int(east.progress.Load())+100); err != nil { // let it work a little
			t.Fatal(err)
		}
		p.sigkill("west")
		p.startProcess("west")
	})
	step(3, "SIGKILL west's process again, back in-process", func() { p.sigkill("west"); p.start("west", westKill.knobs()) })
	step(4, "kill east between commit and ack", func() { knobKill(eastKill) })
	step(5, "crash west's database (pg_ctl stop -m immediate) and restart it", func() {
		hold := make(chan struct{})
		paused := true
		select {
		case west.pause <- hold: // west's writer waits while its database is down
			<-hold
		case <-west.done:
			paused = false
		case <-ctx.Done():
			t.Fatal("west writer never paused")
		}
		if err := p.cluster["west"].Crash(); err != nil {
			t.Fatal(err)
		}
		if err := p.cluster["west"].Start(); err != nil {
			t.Fatal(err)
		}
		// The writer's and the fixture's connections died with the server.
		p.conn["west"] = p.cluster["west"].Connect(t, p.db["west"])
		if paused {
			west.conn = p.cluster["west"].Connect(t, p.db["west"])
			hold <- struct{}{}
		}
	})
	step(6, "stop west cleanly, restart it", func() { p.stop("west"); p.start("west", westKill.knobs()) })

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p.converge(ctx)
	for _, n := range pairNames {
		var rows, nodes int64
		if err := p.conn[n].QueryRow(ctx, "SELECT count(*), count(DISTINCT node) FROM ledger").Scan(&rows, &nodes); err != nil {
			t.Fatal(err)
		}
		if rows != 2*perNode || nodes != 2 {
			t.Errorf("%s: ledger has %d rows from %d nodes, want %d from 2", n, rows, nodes, 2*perNode)
		}
		var trunc int64
		if err := p.conn[n].QueryRow(ctx, "SELECT count(*) FROM t_trunc").Scan(&trunc); err != nil {
			t.Fatal(err)
		}
		if want := int64(perNode - perNode/2); trunc != want {
			t.Errorf("%s: t_trunc has %d rows after the TRUNCATE, want %d", n, trunc, want)
		}
	}
	for _, n := range pairNames {
		for _, d := range p.agent(n).Status().Directions {
			if d.State != agent.StateRunning {
				t.Errorf("%s %s: state %s (%s), want running", n, d.Direction, d.State, d.LastError)
			}
		}
	}
}
