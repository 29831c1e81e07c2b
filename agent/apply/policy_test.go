package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/pgduet/pgduet/agent/change"
)

// TestPolicyMatrix applies every conflict kind under every policy this
// version has, each in a transaction that also carries a change before and
// after it, and checks the table and pgduet.conflicts afterwards.
func TestPolicyMatrix(t *testing.T) {
	const seed = `TRUNCATE public.c, pgduet.conflicts;
		INSERT INTO public.c VALUES (1, 'a@x', 'local'), (2, 'b@x', 'local')`
	r := rel("public.c", change.IdentityDefault, "id*", "email", "v")
	type want struct {
		rows     []string // public.c afterwards (when the transaction commits)
		event    string   // kind|resolution|local v|remote v in pgduet.conflicts, "" for none
		conflict string   // the kind of a *ConflictError (fail)
	}
	cases := []struct {
		name   string
		change change.Change
		want   map[policy]want
	}{
		{"insert_exists primary key", ins(r, vs("1", "new@x", "remote")...), map[policy]want{
			policyFail:      {conflict: KindInsertExists},
			policyIgnore:    {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "insert_exists|skipped|local|remote"},
			policyOverwrite: {rows: []string{"1|new@x|remote", "2|b@x|local"}, event: "insert_exists|overwritten|local|remote"},
		}},
		{"insert_exists on two unique keys at once", ins(r, vs("1", "b@x", "remote")...), map[policy]want{
			policyFail:      {conflict: KindInsertExists},
			policyIgnore:    {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "insert_exists|skipped|local|remote"},
			policyOverwrite: {rows: []string{"1|b@x|remote"}, event: "insert_exists|overwritten|local|remote"},
		}},
		{"update_missing", upd(r, vs("42", "z@x", "remote")...), map[policy]want{
			policyFail:      {conflict: KindUpdateMissing},
			policyIgnore:    {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "update_missing|skipped||remote"},
			policyOverwrite: {rows: []string{"1|a@x|local", "2|b@x|local", "42|z@x|remote"}, event: "update_missing|inserted||remote"},
		}},
		{"update_exists", updOld(r, vs("1", "NULL", "NULL"), true, vs("1", "b@x", "remote")...), map[policy]want{
			policyFail:      {conflict: KindUpdateExists},
			policyIgnore:    {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "update_exists|skipped||remote"},
			policyOverwrite: {rows: []string{"1|b@x|remote"}, event: "update_exists|overwritten|local|remote"},
		}},
		{"delete_missing", del(r, vs("99", "NULL", "NULL"), true), map[policy]want{
			policyFail:      {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "delete_missing|skipped||"},
			policyIgnore:    {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "delete_missing|skipped||"},
			policyOverwrite: {rows: []string{"1|a@x|local", "2|b@x|local"}, event: "delete_missing|skipped||"},
		}},
	}
	for _, pol := range []policy{policyFail, policyIgnore, policyOverwrite} {
		t.Run(string(pol), func(t *testing.T) {
			e := newEnv(t)
			e.cfg.Policy = func(change.TableRef) string { return string(pol) }
			e.exec(`CREATE TABLE public.c (id int PRIMARY KEY, email text UNIQUE, v text)`)
			a := e.open()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					w := c.want[pol]
					e.exec(seed)
					before := a.Progress()
					// A change before and one after the conflicting one, on other keys.
					tx := e.tx(ins(r, vs("100", "first@x", "before")...), c.change, ins(r, vs("101", "last@x", "after")...))
					err := a.Apply(t.Context(), tx)
					if w.conflict != "" {
						var ce *ConflictError
						if !errors.As(err, &ce) || ce.Kind != w.conflict {
							t.Fatalf("Apply: %v, want a %s conflict", err, w.conflict)
						}
						if a.Progress() != before || e.count("public.c WHERE id >= 100") != 0 {
							t.Fatal("a failed transaction left something behind")
						}
						return
					}
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					got := e.rows(`SELECT id::text, email, v FROM public.c WHERE id < 100 ORDER BY id`)
					wantRows(t, got, w.rows...)
					wantRows(t, e.rows(`SELECT id::text, v FROM public.c WHERE id >= 100 ORDER BY id`), "100|before", "101|after")
					ev := e.rows(`SELECT kind || '|' || resolution || '|' || coalesce(local_row->>'v', local_row->0->>'v', '') || '|' || coalesce(remote_row->>'v', '')
						FROM pgduet.conflicts`)
					if w.event == "" && len(ev) != 0 || w.event != "" && (len(ev) != 1 || ev[0] != w.event) {
						t.Fatalf("pgduet.conflicts: %v, want %q", ev, w.event)
					}
					if a.Progress() != tx.EndLSN {
						t.Fatal("progress did not move")
					}
				})
			}
		})
	}
}

// An UPDATE that finds no row and carries an unchanged TOAST value is a
// whole row only with the full old image (REPLICA IDENTITY FULL); without it
// pgduet inserts nothing rather than a NULL in place of the value not sent.
func TestUpdateMissingWithUnchangedToast(t *testing.T) {
	e := newEnv(t)
	e.cfg.Policy = func(change.TableRef) string { return string(policyOverwrite) }
	e.exec(`CREATE TABLE public.doc (id int PRIMARY KEY, body text, n int)`)
	a := e.open()
	keyRel := rel("public.doc", change.IdentityDefault, "id*", "body", "n")
	fullRel := rel("public.doc", change.IdentityFull, "id", "body", "n")
	big := strings.Repeat("x", 10000)
	unchanged := change.Value{Kind: change.Unchanged}

	e.mustApply(a, e.tx(upd(keyRel, v("1"), unchanged, v("2"))))
	if n := e.count("public.doc"); n != 0 {
		t.Fatalf("an incomplete row was inserted (%d rows)", n)
	}
	ev := e.rows(`SELECT kind || '|' || resolution || '|' || detail FROM pgduet.conflicts`)
	if len(ev) != 1 || !strings.HasPrefix(ev[0], "update_missing|skipped_incomplete|") || !strings.Contains(ev[0], `column "body"`) {
		t.Fatalf("pgduet.conflicts: %v", ev)
	}

	e.mustApply(a, e.tx(updOld(fullRel, vs("2", big, "1"), false, v("2"), unchanged, v("3"))))
	got := e.rows(`SELECT id::text, length(body)::text, n::text FROM public.doc`)
	wantRows(t, got, "2|10000|3")
}

// overwrite finds colliding rows by every unique key it can look up: a key
// with a NULL does not collide (unless NULLS NOT DISTINCT), INCLUDE columns
// are not part of a key; a collision on a partial or expression unique index
// it cannot look up stops the direction as a conflict, recorded.
func TestOverwriteUniqueKeys(t *testing.T) {
	e := newEnv(t)
	e.cfg.Policy = func(change.TableRef) string { return string(policyOverwrite) }
	e.exec(`CREATE TABLE public.u (id int PRIMARY KEY, a int, b int, email text, v text,
			UNIQUE (a, b), UNIQUE (email) INCLUDE (v), UNIQUE NULLS NOT DISTINCT (v));
		INSERT INTO public.u VALUES (1, 7, NULL, 'one@x', NULL), (2, 8, 1, 'two@x', 'two');
		CREATE TABLE public.p (id int PRIMARY KEY, email text);
		CREATE UNIQUE INDEX p_lower_email ON public.p (lower(email));
		INSERT INTO public.p VALUES (1, 'Ann@x')`)
	a := e.open()
	u := rel("public.u", change.IdentityDefault, "id*", "a", "b", "email", "v")

	// Collides with row 1 on the primary key only: (7, NULL) is no collision
	// on (a, b), and the NULL v of a NULLS NOT DISTINCT key is one.
	e.mustApply(a, e.tx(ins(u, v("1"), v("7"), null, v("new1@x"), null)))
	// Collides with row 2 on email, whatever v (an INCLUDE column) holds.
	e.mustApply(a, e.tx(ins(u, v("3"), v("9"), v("9"), v("two@x"), v("other"))))
	wantRows(t, e.rows(`SELECT id::text, coalesce(email, '-'), coalesce(v, '-') FROM public.u ORDER BY id`),
		"1|new1@x|-", "3|two@x|other")

	p := rel("public.p", change.IdentityDefault, "id*", "email")
	err := a.Apply(t.Context(), e.tx(ins(p, v("2"), v("ann@x"))))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Kind != KindInsertExists || !strings.Contains(ce.Detail, "p_lower_email") {
		t.Fatalf("Apply: %v, want an insert_exists conflict naming the expression index", err)
	}
	ev := e.rows(`SELECT kind || '|' || resolution FROM pgduet.conflicts WHERE table_name = 'public.p'`)
	wantRows(t, ev, "insert_exists|stopped")
}
