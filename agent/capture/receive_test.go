package capture

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgduet/pgduet/agent/change"
)

// receiving reports whether Run is blocked in (or about to enter) a receive.
func (c *Capture) receiving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recvConn != nil
}

// waitReceiving waits until Run is in a receive, failing the test after 10s.
func (s *session) waitReceiving() {
	s.f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.c.receiving(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			s.f.t.Fatal("Run is not receiving")
		}
	}
}

// An Ack wakes a receive blocked on an idle stream at once (the next status
// update is 20s away), the stream goes on afterwards with every change once
// and in order, and ending Run's context ends a blocked receive at once too.
func TestAckInterruptsBlockedReceive(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE t(id int PRIMARY KEY, v text)`)
	f.setup([]string{"public"})
	cfg := f.config()
	cfg.StatusInterval = time.Hour // capped to wal_sender_timeout/3 = 20s
	cfg.HeartbeatInterval = -1
	s := f.start(cfg, 0)

	const prompt = 3 * time.Second // well under the 20s status interval
	next := 1
	expect := func() *change.Tx {
		t.Helper()
		tx := s.next()
		checkRows(t, tx, fmt.Sprintf("insert public.t new[%d v%d]", next, next))
		next++
		return tx
	}
	for round := range 3 {
		// A few transactions, consumed, then nothing to read: Run blocks in
		// receive with a deadline far away.
		for k := range round + 1 {
			f.exec(`INSERT INTO t VALUES ($1::int, 'v' || $1::int)`, next+k)
		}
		var last *change.Tx
		for range round + 1 {
			last = expect()
		}
		s.waitReceiving()
		start := time.Now()
		s.c.Ack(last.EndLSN)
		for s.c.Stats().ConfirmedLSN < last.EndLSN {
			if time.Since(start) > prompt {
				t.Fatalf("round %d: Ack not reported within %s: the receive was not interrupted (stats %+v)", round, prompt, s.c.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("round %d: Ack reported after %s", round, time.Since(start))
		s.running()
	}
	f.waitConfirmed("the server to see the last Ack", func(l change.LSN) bool { return l >= s.c.Stats().ConfirmedLSN })

	// An Ack that confirms nothing new does not disturb anything, and the
	// stream goes on: every later change exactly once, in order.
	s.c.Ack(0)
	f.exec(`INSERT INTO t SELECT g, 'v' || g FROM generate_series($1::int, $1::int + 9) g`, next)
	tx := s.next()
	var want []string
	for i := next; i < next+10; i++ {
		want = append(want, fmt.Sprintf("insert public.t new[%d v%d]", i, i))
	}
	checkRows(t, tx, want...)
	next += 10
	f.exec(`INSERT INTO t VALUES ($1::int, 'v' || $1::int)`, next)
	expect()
	ctx, cancel := context.WithTimeout(f.ctx, 500*time.Millisecond)
	defer cancel()
	if extra, err := s.c.Next(ctx); err == nil {
		t.Fatalf("unexpected transaction %s %q", extra, rows(extra))
	}

	// Ending the context ends the blocked receive at once.
	s.waitReceiving()
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if d := time.Since(start); d > prompt {
		t.Fatalf("Run took %s to stop", d)
	}
}

// Receives interrupted at any point, often in the middle of a message
// (messages of 2 MB arrive in many reads), lose nothing: pgconn keeps the part
// already read and the next receive goes on from there. Receives end both ways:
// by interruption (as by Ack) and by short deadlines.
func TestInterruptedReceivesLoseNothing(t *testing.T) {
	f := newFixture(t, nil)
	f.exec(`CREATE TABLE big(id int PRIMARY KEY, v text)`)
	f.setup([]string{"public"})
	const txs, repeat = 10, 65536 // 2 MB values
	value := func(i int) string {
		sum := md5.Sum([]byte(strconv.Itoa(i)))
		return strings.Repeat(hex.EncodeToString(sum[:]), repeat)
	}
	for i := range txs {
		// One big row, then small ones: small messages between big ones.
		f.exec(fmt.Sprintf(`BEGIN; INSERT INTO big VALUES (%[1]d, repeat(md5('%[1]d'), %[2]d));
			INSERT INTO big SELECT %[1]d * 100 + 1000 + g, g::text FROM generate_series(1, 20) g; COMMIT`, i, repeat))
	}

	c := New(f.config())
	conn, _, err := c.startStream(f.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuietly(conn)
	// A small socket receive buffer: a big message arrives in many reads, with
	// the walsender blocked in between, so receives end half way through.
	if tc, ok := conn.Conn().(*net.TCPConn); ok {
		if err := tc.SetReadBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
	}

	// Interrupt receives as fast as possible while the backlog streams.
	var interrupts atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.mu.Lock()
			if c.recvConn != nil {
				interrupts.Add(1)
			}
			c.interruptLocked()
			c.mu.Unlock()
			time.Sleep(20 * time.Microsecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	d := newDecoder(c.echoOrigin, nil, nil)
	var got []*change.Tx
	var timeouts, midMessage int
	deadline := time.Now().Add(2 * time.Minute)
	for len(got) < txs {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions after 2 minutes", len(got), txs)
		}
		msg, err := c.receive(f.ctx, conn, time.Now().Add(time.Duration(rand.IntN(1000))*time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		if msg == nil {
			timeouts++
			if conn.Frontend().ReadBufferLen() > 0 {
				midMessage++ // part of a message is read, the rest is not
			}
			continue
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 {
			t.Fatalf("unexpected message %T", msg)
		}
		if cd.Data[0] != pglogrepl.XLogDataByteID {
			continue // keepalive
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.decode(xld.WALData)
		if err != nil {
			t.Fatalf("decode at %s: %v", xld.WALStart, err)
		}
		if res != nil && res.kind == txDeliver {
			got = append(got, res.tx)
		}
	}
	t.Logf("%d interruptions hit a receive, %d receives timed out, %d with part of a message read", interrupts.Load(), timeouts, midMessage)
	if midMessage == 0 {
		t.Fatal("no receive was interrupted in the middle of a message: the test proves nothing")
	}

	for i, tx := range got {
		if len(tx.Changes) != 21 {
			t.Fatalf("tx %d has %d changes, want 21", i, len(tx.Changes))
		}
		if c := tx.Changes[0]; c.New[0].String() != strconv.Itoa(i) || c.New[1].String() != value(i) {
			t.Fatalf("tx %d: big row %s, %d bytes: wrong", i, c.New[0], len(c.New[1].Data))
		}
		for g := 1; g <= 20; g++ {
			if c := tx.Changes[g]; c.New[0].String() != strconv.Itoa(i*100+1000+g) || c.New[1].String() != strconv.Itoa(g) {
				t.Fatalf("tx %d change %d = %v", i, g, c.New)
			}
		}
		if i > 0 && tx.EndLSN <= got[i-1].EndLSN {
			t.Fatalf("tx %d at %s after %s", i, tx.EndLSN, got[i-1].EndLSN)
		}
	}
}
