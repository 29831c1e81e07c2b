package initial

import (
	"testing"

	"github.com/pgduet/pgduet/agent/transport"
)

// TestParts checks the block ranges a table is split in: they start at 0,
// follow each other without gap or overlap, and the last one is open.
func TestParts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bytes     int64
		blocks    int64
		split     int64
		wantParts int
	}{
		{"small", 10 << 20, 1280, 256 << 20, 1},
		{"exactly the split size", 256 << 20, 32768, 256 << 20, 1},
		{"just above", 256<<20 + 1, 32769, 256 << 20, 2},
		{"large", 10 << 30, 1 << 20, 256 << 20, 40},
		{"huge: capped", 1 << 40, 1 << 27, 256 << 20, maxParts},
		{"fewer blocks than parts", 100 << 20, 3, 1 << 20, 3},
		{"partitioned (no blocks)", 10 << 30, 0, 256 << 20, 1},
		{"one block", 10 << 30, 1, 1 << 20, 1},
		{"splitting off", 10 << 30, 1 << 20, -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := transport.SyncTable{Schema: "s", Name: "t", EstBytes: tc.bytes, Blocks: tc.blocks}
			ps := parts(tb, tc.split)
			if len(ps) != tc.wantParts {
				t.Fatalf("%d parts, want %d", len(ps), tc.wantParts)
			}
			if len(ps) == 1 {
				if !ps[0].blocks.Whole() || ps[0].n != 0 || ps[0].of != 1 {
					t.Fatalf("one part: %+v, want the whole table", ps[0])
				}
				return
			}
			if ps[0].blocks.From != 0 || ps[len(ps)-1].blocks.To != 0 {
				t.Errorf("first part %+v, last part %+v: want the first from block 0 and the last open", ps[0].blocks, ps[len(ps)-1].blocks)
			}
			for i, p := range ps {
				if p.n != i || p.of != len(ps) {
					t.Errorf("part %d is numbered %d of %d", i, p.n, p.of)
				}
				if i > 0 && p.blocks.From != ps[i-1].blocks.To {
					t.Errorf("part %d starts at block %d, part %d ends at %d", i, p.blocks.From, i-1, ps[i-1].blocks.To)
				}
				if i < len(ps)-1 && p.blocks.To <= p.blocks.From {
					t.Errorf("part %d is empty: %+v", i, p.blocks)
				}
			}
		})
	}
}

func TestCopyQuery(t *testing.T) {
	cols := []string{`"id"`, `"v"`}
	for _, tc := range []struct {
		partitioned bool
		where       string
		blocks      transport.Blocks
		want        string
	}{
		{false, "", transport.Blocks{}, `COPY (SELECT "id", "v" FROM ONLY "s"."t") TO STDOUT`},
		{true, "", transport.Blocks{}, `COPY (SELECT "id", "v" FROM "s"."t") TO STDOUT`},
		{false, "v <> 'x'", transport.Blocks{}, `COPY (SELECT "id", "v" FROM ONLY "s"."t" WHERE (v <> 'x')) TO STDOUT`},
		{false, "", transport.Blocks{To: 100}, `COPY (SELECT "id", "v" FROM ONLY "s"."t" WHERE ctid < '(100,0)'::tid) TO STDOUT`},
		{false, "v <> 'x'", transport.Blocks{From: 100, To: 200},
			`COPY (SELECT "id", "v" FROM ONLY "s"."t" WHERE (v <> 'x') AND ctid >= '(100,0)'::tid AND ctid < '(200,0)'::tid) TO STDOUT`},
		{false, "", transport.Blocks{From: 200}, `COPY (SELECT "id", "v" FROM ONLY "s"."t" WHERE ctid >= '(200,0)'::tid) TO STDOUT`},
	} {
		if got := copyQuery(`"s"."t"`, tc.partitioned, cols, tc.where, tc.blocks); got != tc.want {
			t.Errorf("copyQuery(partitioned=%v, where=%q, %+v) =\n  %s\nwant\n  %s", tc.partitioned, tc.where, tc.blocks, got, tc.want)
		}
	}
}
