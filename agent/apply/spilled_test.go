package apply

import (
	"errors"
	"strconv"
	"testing"

	"github.com/pgduet/pgduet/agent/change"
)

// spilled makes the next source transaction with its changes in a spill file.
func (e *env) spilled(changes ...change.Change) *change.Tx {
	e.t.Helper()
	tx := e.tx()
	s, err := change.NewSpill(e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	if err := s.Append(changes); err != nil {
		e.t.Fatal(err)
	}
	tx.Spill = s
	return tx
}

// TestApplySpilled applies transactions of more changes than a spill
// window holds from their spill files: rows, set-based statements, a
// conflict that stops with its index in the whole transaction, and
// conflicts that a policy survives, recorded with theirs.
func TestApplySpilled(t *testing.T) {
	e := newEnv(t)
	e.exec(`CREATE TABLE public.big (id int PRIMARY KEY, v text);
		CREATE TABLE public.soft (id int PRIMARY KEY, v text)`)
	e.cfg.Policy = func(t change.TableRef) string {
		if t.Name == "soft" {
			return string(policyIgnore)
		}
		return string(policyFail)
	}
	a := e.open()
	big := rel("public.big", change.IdentityDefault, "id*", "v")
	const n = 2*change.SpillWindowChanges + 500 // three windows
	var rows []change.Change
	for i := 1; i <= n; i++ {
		rows = append(rows, ins(big, vs(strconv.Itoa(i), "v"+strconv.Itoa(i))...))
	}
	e.mustApply(a, e.spilled(rows...))
	if c := e.count("public.big"); c != n {
		t.Fatalf("%d rows after the spilled insert, want %d", c, n)
	}
	if st := a.Stats(); st.TxSpilled != 1 || st.RowsApplied.Insert != n || st.RowsBatched != n {
		t.Fatalf("stats after the spilled insert: %+v", st)
	}
	if p := e.originProgress(); p != a.Progress() || p == 0 {
		t.Fatalf("origin progress %s, applier %s", p, a.Progress())
	}

	t.Run("conflict stops with its index", func(t *testing.T) {
		// An update of a missing row in the third window.
		const at = 2*change.SpillWindowChanges + 17
		var upds []change.Change
		for i := 1; i <= n; i++ {
			id := strconv.Itoa(i)
			if i == at+1 {
				id = "999999"
			}
			upds = append(upds, upd(big, vs(id, "u")...))
		}
		before := a.Progress()
		tx := e.spilled(upds...)
		err := a.Apply(t.Context(), tx)
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Kind != KindUpdateMissing || ce.Key != "(id)=(999999)" {
			t.Fatalf("Apply: %v, want the update_missing of id 999999", err)
		}
		if a.Progress() != before || e.count("public.big WHERE v = 'u'") != 0 {
			t.Fatal("a change of the failed spilled transaction was committed")
		}
		wantRows(t, e.rows(`SELECT source_seq::text, kind, resolution, table_name FROM pgduet.conflicts WHERE source_lsn = $1::pg_lsn`, tx.EndLSN.String()),
			strconv.Itoa(at)+"|update_missing|stopped|public.big")
	})

	t.Run("ignored conflicts are recorded with their index", func(t *testing.T) {
		soft := rel("public.soft", change.IdentityDefault, "id*", "v")
		e.exec(`INSERT INTO public.soft VALUES (15000, 'local')`)
		var cs []change.Change
		for i := 1; i <= n; i++ {
			cs = append(cs, ins(soft, vs(strconv.Itoa(i), "remote")...))
		}
		// A delete of a missing row of the fail table, in the second window.
		cs = append(cs[:12000], append([]change.Change{del(big, vs("888888", "NULL"), true)}, cs[12000:]...)...)
		tx := e.spilled(cs...)
		missing := a.Stats().DeleteMissing
		e.mustApply(a, tx)
		if c := e.count("public.soft WHERE v = 'remote'"); c != n-1 {
			t.Fatalf("%d remote rows, want %d", c, n-1)
		}
		wantRows(t, e.rows(`SELECT v FROM public.soft WHERE id = 15000`), "local")
		wantRows(t, e.rows(`SELECT source_seq::text, kind, resolution, coalesce(local_row::text, '') FROM pgduet.conflicts WHERE source_lsn = $1::pg_lsn ORDER BY source_seq`, tx.EndLSN.String()),
			`12000|delete_missing|skipped|`,
			`15000|insert_exists|skipped|{"v": "local", "id": 15000}`)
		if st := a.Stats(); st.DeleteMissing != missing+1 || st.TxSpilled != 2 || st.Outcomes["insert_exists/skipped"] != 1 {
			t.Fatalf("stats: %+v", st)
		}
	})
}
