package apply

import (
	"strings"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent/change"
)

// TestLastWriteWins applies every conflict kind under last_write_wins, once
// with a remote change older than the local data (written now, in this
// session) and once with a newer one, each between a change before and one
// after it, and checks the table and pgduet.conflicts.
func TestLastWriteWins(t *testing.T) {
	e := newEnv(t)
	e.cfg.Policy = func(change.TableRef) string { return string(policyLWW) }
	e.exec(`CREATE TABLE public.c (id int PRIMARY KEY, email text UNIQUE, v text);
		INSERT INTO pgduet.pair_settings (pair, node, ddl_source, replicate, reverse, lww)
		VALUES ('p', 'west', 'east', false, 'ignore', '{"schemas": ["public"]}');
		SELECT pgduet.lww_sync('public.c'::regclass)`)
	a := e.open()
	r := rel("public.c", change.IdentityDefault, "id*", "email", "v")
	const seed = `TRUNCATE public.c, pgduet.conflicts, pgduet.tombstones;
		INSERT INTO public.c VALUES (1, 'a@x', 'local'), (2, 'b@x', 'local'), (3, 'gone@x', 'local');
		DELETE FROM public.c WHERE id = 3` // a local delete: a tombstone for key 3
	older := time.Now().Add(-time.Hour)
	newer := time.Now().Add(time.Hour)

	type want struct {
		rows  []string // public.c afterwards, ids below 100
		event string   // kind|resolution|local v|remote v ("" for none)
	}
	cases := []struct {
		name   string
		change change.Change
		older  want // the remote change committed before the local data
		newer  want // after it
	}{
		{"insert_exists primary key", ins(r, vs("1", "new@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "insert_exists|kept_local|local|remote"},
			want{[]string{"1|new@x|remote", "2|b@x|local"}, "insert_exists|overwritten|local|remote"}},
		{"insert_exists on two unique keys", ins(r, vs("1", "b@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "insert_exists|kept_local|local|remote"},
			want{[]string{"1|b@x|remote"}, "insert_exists|overwritten|local|remote"}},
		{"insert of a key deleted here", ins(r, vs("3", "again@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "insert_exists|kept_delete||remote"},
			want{[]string{"1|a@x|local", "2|b@x|local", "3|again@x|remote"}, ""}},
		{"update", upd(r, vs("1", "a@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "update_older|kept_local|local|remote"},
			want{[]string{"1|a@x|remote", "2|b@x|local"}, ""}},
		{"update_missing", upd(r, vs("42", "z@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local", "42|z@x|remote"}, "update_missing|inserted||remote"},
			want{[]string{"1|a@x|local", "2|b@x|local", "42|z@x|remote"}, "update_missing|inserted||remote"}},
		{"update of a row deleted here", upd(r, vs("3", "gone@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "update_missing|kept_delete||remote"},
			want{[]string{"1|a@x|local", "2|b@x|local", "3|gone@x|remote"}, "update_missing|inserted||remote"}},
		// Older than the row it updates: that decides first.
		{"update_exists", updOld(r, vs("1", "NULL", "NULL"), true, vs("1", "b@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "update_older|kept_local|local|remote"},
			want{[]string{"1|b@x|remote"}, "update_exists|overwritten|local|remote"}},
		// The key moves from 1 to 7: a delete of 1 and an insert of 7. An
		// older one keeps the newer row 1 here and still inserts 7.
		{"update of the key", updOld(r, vs("1", "NULL", "NULL"), true, vs("7", "seven@x", "remote")...),
			want{[]string{"1|a@x|local", "2|b@x|local", "7|seven@x|remote"}, "update_older|kept_local|local|remote"},
			want{[]string{"2|b@x|local", "7|seven@x|remote"}, ""}},
		{"delete", del(r, vs("1", "NULL", "NULL"), true),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "delete_older|kept_local|local|"},
			want{[]string{"2|b@x|local"}, ""}},
		{"delete_missing", del(r, vs("99", "NULL", "NULL"), true),
			want{[]string{"1|a@x|local", "2|b@x|local"}, "delete_missing|skipped||"},
			want{[]string{"1|a@x|local", "2|b@x|local"}, "delete_missing|skipped||"}},
	}
	for _, c := range cases {
		for _, when := range []string{"older", "newer"} {
			t.Run(c.name+"/"+when, func(t *testing.T) {
				w, at := c.older, older
				if when == "newer" {
					w, at = c.newer, newer
				}
				e.exec(seed)
				tx := e.tx(ins(r, vs("100", "first@x", "before")...), c.change, ins(r, vs("101", "last@x", "after")...))
				tx.CommitTime = at
				e.mustApply(a, tx)
				wantRows(t, e.rows(`SELECT id::text, email, v FROM public.c WHERE id < 100 ORDER BY id`), w.rows...)
				wantRows(t, e.rows(`SELECT id::text, v FROM public.c WHERE id >= 100 ORDER BY id`), "100|before", "101|after")
				ev := e.rows(`SELECT kind || '|' || resolution || '|' || coalesce(local_row->>'v', local_row->0->>'v', '') || '|' || coalesce(remote_row->>'v', '')
					FROM pgduet.conflicts`)
				if w.event == "" && len(ev) != 0 || w.event != "" && (len(ev) != 1 || ev[0] != w.event) {
					t.Fatalf("pgduet.conflicts: %v, want %q", ev, w.event)
				}
			})
		}
	}

	// The same row changed twice in one remote transaction: the second
	// change meets the row the first one wrote (no commit timestamp yet) and
	// wins over it.
	t.Run("same row twice in one transaction", func(t *testing.T) {
		e.exec(seed)
		tx := e.tx(upd(r, vs("1", "a@x", "first")...), upd(r, vs("1", "a@x", "second")...), del(r, vs("2", "NULL", "NULL"), true),
			ins(r, vs("2", "b2@x", "again")...))
		tx.CommitTime = newer
		e.mustApply(a, tx)
		wantRows(t, e.rows(`SELECT id::text, email, v FROM public.c ORDER BY id`), "1|a@x|second", "2|b2@x|again")
		if n := e.count("pgduet.conflicts"); n != 0 {
			t.Fatalf("%d conflicts recorded", n)
		}
	})

	// Newer than the row it updates, older than the row its new values
	// collide with: left out.
	t.Run("update_exists with a newer colliding row", func(t *testing.T) {
		e.exec(seed)
		first := e.tx(ins(r, vs("5", "five@x", "remote")...))
		first.CommitTime = older.Add(-time.Hour)
		e.mustApply(a, first)
		tx := e.tx(updOld(r, vs("5", "NULL", "NULL"), true, vs("5", "b@x", "remote2")...))
		tx.CommitTime = older
		e.mustApply(a, tx)
		wantRows(t, e.rows(`SELECT id::text, email, v FROM public.c ORDER BY id`), "1|a@x|local", "2|b@x|local", "5|five@x|remote")
		wantRows(t, e.rows(`SELECT kind || '|' || resolution || '|' || (local_row->0->>'v') FROM pgduet.conflicts`), "update_exists|kept_local|local")
	})

	// A move of a row (older here) to a key deleted here after the move
	// committed: the old key's row goes, the new key stays deleted.
	t.Run("move to a key deleted here later", func(t *testing.T) {
		e.exec(seed)
		first := e.tx(ins(r, vs("5", "five@x", "remote")...))
		first.CommitTime = older.Add(-time.Hour)
		e.mustApply(a, first)
		e.exec(`INSERT INTO public.c VALUES (7, 'seven@x', 'local'); DELETE FROM public.c WHERE id = 7`)
		tx := e.tx(updOld(r, vs("5", "NULL", "NULL"), true, vs("7", "five@x", "moved")...))
		tx.CommitTime = older
		e.mustApply(a, tx)
		wantRows(t, e.rows(`SELECT id::text, email, v FROM public.c ORDER BY id`), "1|a@x|local", "2|b@x|local")
		wantRows(t, e.rows(`SELECT kind || '|' || resolution FROM pgduet.conflicts`), "insert_exists|kept_delete")
	})

	// Tombstones go once a change from the peer committed well after them.
	t.Run("prune tombstones", func(t *testing.T) {
		for _, c := range []struct {
			at   time.Time
			left int
		}{{older, 1}, {newer, 0}} {
			e.exec(seed)
			a.pruned = time.Time{}
			tx := e.tx(ins(r, vs("100", "first@x", "before")...))
			tx.CommitTime = c.at
			e.mustApply(a, tx)
			if n := e.count("pgduet.tombstones"); n != c.left {
				t.Fatalf("after a change committed at %s: %d tombstones, want %d", c.at, n, c.left)
			}
		}
	})

	// A table without a key cannot use last_write_wins: a clear error, nothing applied.
	t.Run("no key", func(t *testing.T) {
		e.exec(`CREATE TABLE public.nokey (id int, v text); ALTER TABLE public.nokey REPLICA IDENTITY FULL`)
		nr := rel("public.nokey", change.IdentityFull, "id", "v")
		err := a.Apply(t.Context(), e.tx(ins(nr, vs("1", "x")...)))
		if err == nil || !strings.Contains(err.Error(), "last_write_wins needs a primary key") {
			t.Fatalf("Apply: %v, want the missing key named", err)
		}
	})
}
