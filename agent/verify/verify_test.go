package verify

import (
	"context"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestCompare(t *testing.T) {
	c := pgtest.Shared(t, "verify")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := c.Connect(t, c.NewDB(t)), c.Connect(t, c.NewDB(t))
	schema := `CREATE TABLE k(id int PRIMARY KEY, v text); CREATE TABLE nokey(v text); CREATE TABLE onlya(id int);`
	if _, err := a.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, `CREATE TABLE k(id int PRIMARY KEY, v text); CREATE TABLE nokey(v text);`); err != nil {
		t.Fatal(err)
	}
	// Same rows, inserted in different physical orders.
	if _, err := a.Exec(ctx, `INSERT INTO k SELECT g, 'v'||g FROM generate_series(1, 120000) g;
		INSERT INTO nokey VALUES ('x'), ('y'), ('x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, `INSERT INTO k SELECT g, 'v'||g FROM generate_series(120000, 1, -1) g;
		INSERT INTO nokey VALUES ('y'), ('x'), ('x')`); err != nil {
		t.Fatal(err)
	}
	tables, err := ListTables(ctx, a, func(s, t string) bool { return s == "public" })
	if err != nil || len(tables) != 3 {
		t.Fatalf("ListTables = %v, %v; want 3 tables", tables, err)
	}
	res, err := Compare(ctx, a, b, tables)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"public.k": true, "public.nokey": true, "public.onlya": false}
	for _, r := range res {
		if r.Equal != want[r.Table] {
			t.Errorf("%s: equal=%v, want %v (%+v)", r.Table, r.Equal, want[r.Table], r)
		}
	}
	if res[0].A.Rows != 120000 {
		t.Errorf("rows of k = %d, want 120000 (paging)", res[0].A.Rows)
	}
	// One changed value makes the table differ.
	if _, err := b.Exec(ctx, `UPDATE k SET v = 'changed' WHERE id = 77777`); err != nil {
		t.Fatal(err)
	}
	res, err = Compare(ctx, a, b, []string{"public.k"})
	if err != nil || res[0].Equal {
		t.Fatalf("after a change on b: %+v, %v; want differ", res, err)
	}
}
