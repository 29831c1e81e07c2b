package sql

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestLastWriteWinsTriggers: the tombstone triggers follow the pairs'
// settings through DDL (a new table, a new key, a table moved out of the
// set), local deletes and key moves leave tombstones whose keys the
// applier's form of lww_key reproduces whatever the session's settings, and
// none of pgduet's own trigger DDL reaches the DDL queue.
func TestLastWriteWinsTriggers(t *testing.T) {
	_, _, conn := installed(t)
	ctx := context.Background()
	rows := func(q string) []string {
		t.Helper()
		rs, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		var out []string
		for rs.Next() {
			vals, err := rs.Values()
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, v := range vals {
				parts = append(parts, fmt.Sprint(v))
			}
			out = append(out, strings.Join(parts, "|"))
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(q string, w ...string) {
		t.Helper()
		if got := rows(q); strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Fatalf("%s:\n got %q\nwant %q", q, got, w)
		}
	}
	triggers := `SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE t.tgname LIKE 'pgduet_lww_%' AND t.tgparentid = 0 ORDER BY 1, 2`

	exec(t, conn, `CREATE SCHEMA app; CREATE TABLE app.kept (id int PRIMARY KEY)`)
	exec(t, conn, `INSERT INTO pgduet.pair_settings (pair, node, ddl_source, replicate, reverse, lww)
		VALUES ('p', 'east', 'east', true, 'ignore', '{"schemas": ["app"], "except": [["app", "plain"]]}')`)
	want(`SELECT count(*) FROM pgduet.lww_sync_all()`, "0")
	want(triggers, "kept|pgduet_lww_delete", "kept|pgduet_lww_rekey")

	// Local DDL: the event trigger puts them on a new table, leaves the
	// excepted one alone, and none of it is captured.
	exec(t, conn, `DELETE FROM pgduet.ddl_queue`)
	exec(t, conn, `CREATE TABLE app.t (a int, b timestamptz, v text, PRIMARY KEY (a, b)); CREATE TABLE app.plain (id int PRIMARY KEY)`)
	want(triggers, "kept|pgduet_lww_delete", "kept|pgduet_lww_rekey", "t|pgduet_lww_delete", "t|pgduet_lww_rekey")
	want(`SELECT DISTINCT tag FROM pgduet.ddl_queue ORDER BY 1`, "CREATE TABLE")

	// Deletes and key moves leave tombstones; an update of another column does not.
	exec(t, conn, `SET TimeZone = 'Pacific/Auckland'; SET DateStyle = 'SQL, DMY';
		INSERT INTO app.t VALUES (1, '2024-03-04 05:06:07.5+00', 'x'), (2, '2024-03-04 05:06:07+00', 'y'), (3, '2024-03-04 05:06:07+00', 'z');
		DELETE FROM app.t WHERE a = 1;
		UPDATE app.t SET a = 20 WHERE a = 2;
		UPDATE app.t SET v = 'zz' WHERE a = 3;
		RESET TimeZone; RESET DateStyle`)
	want(`SELECT key FROM pgduet.tombstones ORDER BY key`,
		`(1,"2024-03-04 05:06:07.5+00")`, `(2,"2024-03-04 05:06:07+00")`)
	// The applier's form, from typed values, in a session with other settings.
	exec(t, conn, `SET TimeZone = 'America/New_York'; SET extra_float_digits = 0`)
	want(`SELECT count(*) FROM pgduet.tombstones d
		WHERE d.key_hash = pgduet.lww_hash(pgduet.lww_key(ROW('1'::integer, '2024-03-04 06:06:07.5+01'::timestamptz), NULL))
		AND d.relid = 'app.t'::regclass`, "1")
	exec(t, conn, `RESET TimeZone; RESET extra_float_digits`)

	// A new primary key rebuilds the triggers with the new key columns; a
	// table without a key loses them (and the sync reports it).
	exec(t, conn, `ALTER TABLE app.t DROP CONSTRAINT t_pkey, ADD PRIMARY KEY (a)`)
	want(`SELECT encode(tgargs, 'escape') FROM pg_trigger WHERE tgname = 'pgduet_lww_delete' AND tgrelid = 'app.t'::regclass`,
		strings.Join([]string{rows(`SELECT 'app.t'::regclass::oid::text`)[0], "a", ""}, `\000`))
	exec(t, conn, `ALTER TABLE app.kept DROP CONSTRAINT kept_pkey`)
	want(`SELECT * FROM pgduet.lww_sync_all()`, "app.kept")
	want(triggers, "t|pgduet_lww_delete", "t|pgduet_lww_rekey")

	// A dropped or disabled trigger is put back at once.
	exec(t, conn, `DROP TRIGGER pgduet_lww_delete ON app.t`)
	want(triggers, "t|pgduet_lww_delete", "t|pgduet_lww_rekey")
	exec(t, conn, `ALTER TABLE app.t DISABLE TRIGGER USER`)
	want(`SELECT string_agg(tgenabled::text, '') FROM pg_trigger WHERE tgrelid = 'app.t'::regclass`, "OO")

	// Keys of any size and type: a 3,000-byte bytea key (its text form
	// would not fit a btree entry) and an enum key are deleted fine. A cast
	// the type's owner added (to json, to text) is never called: it would
	// run as the superuser that owns the trigger function.
	exec(t, conn, `CREATE TYPE app.mood AS ENUM ('sad', 'ok');
		CREATE FUNCTION app.evil(app.mood) RETURNS json LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'user cast called'; END $$;
		CREATE CAST (app.mood AS json) WITH FUNCTION app.evil(app.mood);
		CREATE FUNCTION app.evil_text(app.mood) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'user cast called'; END $$;
		CREATE CAST (app.mood AS text) WITH FUNCTION app.evil_text(app.mood);
		CREATE TABLE app.moods (m app.mood PRIMARY KEY);
		CREATE TABLE app.blobs (b bytea PRIMARY KEY);
		INSERT INTO app.moods VALUES ('ok');
		INSERT INTO app.blobs SELECT decode(repeat('ab', 1500), 'hex');
		DELETE FROM app.moods; DELETE FROM app.blobs`)
	want(`SELECT c.relname, length(d.key)::text FROM pgduet.tombstones d JOIN pg_class c ON c.oid = d.relid
		WHERE c.relname IN ('moods', 'blobs') ORDER BY 1`, "blobs|3007", "moods|4")

	// A trigger of someone else's with a reserved name is an error naming it.
	exec(t, conn, `CREATE SCHEMA other; CREATE TABLE other.clash (id int PRIMARY KEY);
		CREATE FUNCTION other.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
		CREATE TRIGGER pgduet_lww_rekey AFTER UPDATE ON other.clash FOR EACH ROW EXECUTE FUNCTION other.noop();
		UPDATE pgduet.pair_settings SET lww = lww || '{"tables": [["other", "clash"]]}'`)
	if _, err := conn.Exec(ctx, `SELECT * FROM pgduet.lww_sync_all()`); err == nil ||
		!strings.Contains(err.Error(), "table other.clash has a trigger named pgduet_lww_delete or pgduet_lww_rekey that is not pgduet's") {
		t.Fatalf("lww_sync_all with a foreign trigger of a reserved name: %v", err)
	}
	exec(t, conn, `UPDATE pgduet.pair_settings SET lww = lww - 'tables'; DROP SCHEMA other CASCADE; DROP TABLE app.moods, app.blobs`)

	// Out of the set: the triggers go.
	exec(t, conn, `UPDATE pgduet.pair_settings SET lww = '{}'`)
	want(`SELECT count(*) FROM pgduet.lww_sync_all()`, "0")
	want(triggers)
	if q := readQueue(t, conn); len(q) == 0 {
		t.Fatal("the queue lost the user's DDL")
	} else {
		for _, r := range q {
			if strings.Contains(r.identity, "pgduet_lww_") {
				t.Fatalf("pgduet's own trigger DDL was captured: %+v", r)
			}
		}
	}
}

// TestLastWriteWinsVersions: lww_remote_wins against a row committed
// locally: an older remote change loses, a newer one wins, an equal
// timestamp goes by the tie rule, and a row written earlier in the same
// transaction (no commit timestamp yet) always loses.
func TestLastWriteWinsVersions(t *testing.T) {
	_, _, conn := installed(t)
	exec(t, conn, `CREATE TABLE v (id int PRIMARY KEY); INSERT INTO v VALUES (1)`)
	var older, newer, tieLose, tieWin, sameTx bool
	err := conn.QueryRow(context.Background(), `SELECT
		pgduet.lww_remote_wins(xmin, pg_xact_commit_timestamp(xmin) - interval '1 microsecond', true),
		pgduet.lww_remote_wins(xmin, pg_xact_commit_timestamp(xmin) + interval '1 microsecond', false),
		pgduet.lww_remote_wins(xmin, pg_xact_commit_timestamp(xmin), false),
		pgduet.lww_remote_wins(xmin, pg_xact_commit_timestamp(xmin), true),
		true FROM v`).Scan(&older, &newer, &tieLose, &tieWin, &sameTx)
	if err != nil {
		t.Fatal(err)
	}
	if older || !newer || tieLose || !tieWin {
		t.Fatalf("older %v (want false), newer %v (want true), tie without the rule %v (want false), tie with it %v (want true)", older, newer, tieLose, tieWin)
	}
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if err := tx.QueryRow(context.Background(), `WITH u AS (UPDATE v SET id = id RETURNING xmin) SELECT pgduet.lww_remote_wins(xmin, '-infinity', false) FROM u`).Scan(&sameTx); err != nil {
		t.Fatal(err)
	}
	if !sameTx {
		t.Fatal("a row written earlier in the same transaction should lose to any remote change")
	}
}
