package apply

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/pgduet/pgduet/agent/change"
)

// Runs of same-shape changes go in set-based statements, with every value
// exactly as one statement per row would write it; anything short of one
// row per change is applied again row by row, which names the conflict.
func TestSetBasedStatements(t *testing.T) {
	e := newEnv(t)
	e.exec(`CREATE TABLE public.s (id int PRIMARY KEY, name varchar(8), note text, doc jsonb, tags text[])`)
	a := e.open()
	r := rel("public.s", change.IdentityDefault, "id*", "name", "note", "doc", "tags")
	notes := []string{`a"b`, `back\slash`, `NULL`, ``, `{x,y}`, `comma, "quoted"`, `NULL`, `tab	here`, `ünï`, `'single'`}
	var ins10, upd10 []change.Change
	var want []string
	for i, n := range notes {
		id := strconv.Itoa(i + 1)
		ins10 = append(ins10, ins(r, vs(id, "n"+id, n, `{"k": "v\"q"}`, `{"x,y","z"}`)...))
		upd10 = append(upd10, upd(r, vs(id, "m"+id, n+"!", `[1, 2]`, `{}`)...))
		want = append(want, id+"|m"+id+"|"+n+"!|[1, 2]|{}") // "NULL!" is text, not NULL
	}
	e.mustApply(a, e.tx(ins10...))
	for i, n := range notes {
		id := strconv.Itoa(i + 1)
		got := e.rows(`SELECT name, coalesce(note, '<null>'), doc::text, tags::text FROM public.s WHERE id = $1`, i+1)
		if n == "NULL" {
			n = "<null>"
		}
		if w := "n" + id + "|" + n + `|{"k": "v\"q"}|{"x,y",z}`; len(got) != 1 || got[0] != w {
			t.Errorf("row %s after the set-based insert: %q, want %q", id, got, w)
		}
	}
	if st := a.Stats(); st.RowsBatched != 10 || st.RowsApplied.Insert != 10 {
		t.Fatalf("after 10 inserts: %+v", st)
	}
	e.mustApply(a, e.tx(upd10...))
	wantRows(t, e.rows(`SELECT id::text, name, note, doc::text, tags::text FROM public.s ORDER BY s.id`), want...)
	if st := a.Stats(); st.RowsBatched != 20 {
		t.Fatalf("the updates were not set-based: %+v", st)
	}

	t.Run("update_missing in a run", func(t *testing.T) {
		before := a.Progress()
		changes := []change.Change{upd(r, vs("1", "x", "x", "1", "{}")...), upd(r, vs("2", "x", "x", "1", "{}")...),
			upd(r, vs("999", "x", "x", "1", "{}")...), upd(r, vs("3", "x", "x", "1", "{}")...), upd(r, vs("4", "x", "x", "1", "{}")...)}
		tx := e.tx(changes...)
		err := a.Apply(t.Context(), tx)
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Kind != KindUpdateMissing || ce.Key != "(id)=(999)" || ce.EndLSN != tx.EndLSN {
			t.Fatalf("Apply: %v, want the update_missing of id 999", err)
		}
		if a.Progress() != before || e.count("public.s WHERE name = 'x'") != 0 {
			t.Fatal("a change of the failed transaction was committed")
		}
	})
	t.Run("delete_missing in a run", func(t *testing.T) {
		var dels []change.Change
		for _, id := range []string{"1", "2", "77", "3", "4"} {
			dels = append(dels, del(r, vs(id, "NULL", "NULL", "NULL", "NULL"), true))
		}
		missing := a.Stats().DeleteMissing
		e.mustApply(a, e.tx(dels...))
		if e.count("public.s") != 6 || a.Stats().DeleteMissing != missing+1 {
			t.Fatalf("rows %d, stats %+v", e.count("public.s"), a.Stats())
		}
	})
	t.Run("deletes", func(t *testing.T) {
		batched := a.Stats().RowsBatched
		var dels []change.Change
		for _, id := range []string{"5", "6", "7", "8"} {
			dels = append(dels, del(r, vs(id, "NULL", "NULL", "NULL", "NULL"), true))
		}
		e.mustApply(a, e.tx(dels...))
		if e.count("public.s") != 2 || a.Stats().RowsBatched != batched+4 {
			t.Fatalf("rows %d, stats %+v", e.count("public.s"), a.Stats())
		}
	})
	t.Run("a value too long is an error, not truncated", func(t *testing.T) {
		var rows []change.Change
		for i := 20; i < 26; i++ {
			name := "ok"
			if i == 23 {
				name = "far too long"
			}
			rows = append(rows, ins(r, vs(strconv.Itoa(i), name, "NULL", "NULL", "NULL")...))
		}
		err := a.Apply(t.Context(), e.tx(rows...))
		if err == nil || !strings.Contains(err.Error(), "value too long for type character varying(8)") {
			t.Fatalf("Apply: %v, want value too long", err)
		}
		if !strings.Contains(e.logs.String(), "transaction applied again one statement per change") {
			t.Fatal("the set-based attempt was not redone row by row")
		}
		if e.count("public.s WHERE id >= 20") != 0 {
			t.Fatal("rows of the failed transaction were committed")
		}
	})
	t.Run("key changes and repeated keys apply in order", func(t *testing.T) {
		e.exec(`INSERT INTO public.s (id, name) SELECT g, 'k' FROM generate_series(30, 35) g`)
		e.mustApply(a, e.tx(
			upd(r, vs("30", "a", "NULL", "NULL", "NULL")...),
			upd(r, vs("30", "b", "NULL", "NULL", "NULL")...),
			upd(r, vs("31", "c", "NULL", "NULL", "NULL")...),
			updOld(r, vs("32", "NULL", "NULL", "NULL", "NULL"), true, vs("40", "moved", "NULL", "NULL", "NULL")...),
			upd(r, vs("40", "moved2", "NULL", "NULL", "NULL")...),
			upd(r, vs("33", "d", "NULL", "NULL", "NULL")...),
			upd(r, vs("34", "e", "NULL", "NULL", "NULL")...),
		))
		wantRows(t, e.rows(`SELECT id::text, name FROM public.s WHERE id >= 30 ORDER BY s.id`),
			"30|b", "31|c", "33|d", "34|e", "35|k", "40|moved2")
	})
}

// ApplyGroup commits runs of small transactions together, moving the
// progress to the last one's end; a conflict inside a group is met one
// transaction at a time, so the ones before it commit and it fails as it
// would alone.
func TestApplyGroup(t *testing.T) {
	e := newEnv(t)
	e.exec(`CREATE TABLE public.g (id int PRIMARY KEY, v text)`)
	a := e.open()
	r := rel("public.g", change.IdentityDefault, "id*", "v")
	var txs []*change.Tx
	for i := 0; i < 5; i++ {
		txs = append(txs, e.tx(ins(r, vs(strconv.Itoa(3*i+1), "a")...), ins(r, vs(strconv.Itoa(3*i+2), "b")...), ins(r, vs(strconv.Itoa(3*i+3), "c")...)))
	}
	n, err := a.ApplyGroup(t.Context(), txs)
	if err != nil || n != 5 {
		t.Fatalf("ApplyGroup: %d, %v", n, err)
	}
	st := a.Stats()
	if st.TxApplied != 5 || st.TxGroups != 1 || st.RowsApplied.Insert != 15 || a.Progress() != txs[4].EndLSN || e.originProgress() != txs[4].EndLSN {
		t.Fatalf("stats %+v, progress %s, origin %s, want %s", st, a.Progress(), e.originProgress(), txs[4].EndLSN)
	}
	// Again: all applied already, nothing happens.
	if n, err := a.ApplyGroup(t.Context(), txs); err != nil || n != 5 || a.Stats().TxSkipped != 5 {
		t.Fatalf("again: %d, %v, %+v", n, err, a.Stats())
	}

	t.Run("conflict in a group", func(t *testing.T) {
		group := []*change.Tx{
			e.tx(ins(r, vs("100", "x")...)),
			e.tx(ins(r, vs("101", "x")...)),
			e.tx(ins(r, vs("1", "clash")...)), // insert_exists
			e.tx(ins(r, vs("102", "x")...)),
		}
		n, err := a.ApplyGroup(t.Context(), group)
		var ce *ConflictError
		if n != 2 || !errors.As(err, &ce) || ce.Kind != KindInsertExists || ce.EndLSN != group[2].EndLSN {
			t.Fatalf("ApplyGroup: %d, %v; want 2 and the insert_exists of the third", n, err)
		}
		wantRows(t, e.rows(`SELECT id::text FROM public.g WHERE id >= 100 ORDER BY g.id`), "100", "101")
		if a.Progress() != group[1].EndLSN {
			t.Fatalf("progress %s, want %s", a.Progress(), group[1].EndLSN)
		}
	})
	t.Run("delete_missing in a group", func(t *testing.T) {
		groups := a.Stats().TxGroups
		group := []*change.Tx{
			e.tx(ins(r, vs("200", "x")...)),
			e.tx(del(r, vs("555", "NULL"), true)),
			e.tx(ins(r, vs("201", "x")...)),
		}
		if n, err := a.ApplyGroup(t.Context(), group); n != 3 || err != nil {
			t.Fatalf("ApplyGroup: %d, %v", n, err)
		}
		st := a.Stats()
		if st.DeleteMissing != 1 || st.TxGroups != groups || a.Progress() != group[2].EndLSN {
			t.Fatalf("stats %+v (want the group applied one by one, one delete_missing)", st)
		}
	})
}

// A table with a trigger that fires in the apply session gets one
// statement per change: the trigger sees each change as on the source. And
// array_nulls = off in the database does not turn a NULL into 'NULL'.
func TestSetBasedStatementsOff(t *testing.T) {
	e := newEnv(t)
	e.exec(`CREATE TABLE public.tr (id int PRIMARY KEY, v text);
		CREATE TABLE public.tr_log (n bigint);
		CREATE FUNCTION public.tr_count() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.tr_log SELECT count(*) FROM new_rows; RETURN NULL; END$$;
		CREATE TRIGGER tr_count AFTER INSERT ON public.tr REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.tr_count();
		ALTER TABLE public.tr ENABLE ALWAYS TRIGGER tr_count;
		CREATE TABLE public.an (id int PRIMARY KEY, v text)`)
	e.exec(`DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET array_nulls = off', current_database()); END$$`)
	a := e.open()
	tr := rel("public.tr", change.IdentityDefault, "id*", "v")
	an := rel("public.an", change.IdentityDefault, "id*", "v")
	var trRows, anRows []change.Change
	for i := 1; i <= 6; i++ {
		trRows = append(trRows, ins(tr, vs(strconv.Itoa(i), "x")...))
		anRows = append(anRows, ins(an, vs(strconv.Itoa(i), "NULL")...))
	}
	e.mustApply(a, e.tx(trRows...))
	wantRows(t, e.rows(`SELECT string_agg(n::text, ',') FROM public.tr_log`), "1,1,1,1,1,1")
	e.mustApply(a, e.tx(anRows...))
	if n := e.count("public.an WHERE v IS NULL"); n != 6 {
		t.Fatalf("%d of 6 NULLs arrived as NULL", n)
	}
	if st := a.Stats(); st.RowsBatched != 6 {
		t.Fatalf("want only public.an's rows set-based: %+v", st)
	}
}
