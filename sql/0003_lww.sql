-- 0003_lww.sql: what the last_write_wins policy needs (SPEC §7).
--
-- Under last_write_wins the newer of two versions of a row wins on both
-- nodes. A version is (commit timestamp, node): the commit timestamp of the
-- transaction that wrote the row (track_commit_timestamp; for rows the
-- applier wrote it is the source's commit time), ties broken by node name.
--
-- A deleted row has no version left to compare, so a local DELETE (and an
-- UPDATE that changes the key) leaves a tombstone: the table and the key,
-- whose own commit timestamp is the delete's. Without it, an older UPDATE
-- from the peer that arrives after the delete would find no row and insert it
-- back, and the two nodes would differ for good. The tombstones are written
-- by row triggers on the tables whose policy is last_write_wins; pgduet's
-- apply sessions run in replica mode, where the triggers do not fire, so only
-- local deletes leave one (a remote delete needs none: nothing older can
-- follow it from the same node).

-- Which tables use last_write_wins, per pair (the agent writes it at start,
-- in this node's names): {"schemas": [s, ...], "tables": [[s, t], ...],
-- "except": [[s, t], ...]}. A table is a last_write_wins table when a pair
-- lists it in tables, or lists its schema and not the table in except.
ALTER TABLE pgduet.pair_settings ADD COLUMN IF NOT EXISTS lww jsonb NOT NULL DEFAULT '{}';

CREATE TABLE IF NOT EXISTS pgduet.tombstones (
    relid      oid         NOT NULL,  -- the table (its root, for a partitioned table)
    key_hash   bytea       NOT NULL,  -- pgduet.lww_hash(key): a key of any size fits the index
    key        text        NOT NULL,  -- pgduet.lww_key of the deleted row's key
    deleted_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),  -- for people; the version is the commit timestamp of xmin
    PRIMARY KEY (relid, key_hash)
);

COMMENT ON TABLE pgduet.tombstones IS 'pgduet: keys deleted locally from last_write_wins tables, so that an older change from the peer does not bring them back; pruned by the agent';

-- lww_key prints a row's key the same way whoever asks: the trigger from the
-- deleted row (cols: the key columns' names), the applier from the remote
-- row's typed values (ROW($1::int, ...), cols NULL: every field in order).
-- It is the record's text form under fixed settings, so a session's
-- TimeZone, DateStyle or float settings never change it. Values go through
-- their types' output functions only (which only a superuser can write),
-- never through a cast to json or text, which a table's owner could add for
-- a type of their own and which would then run here as pgduet's role.
CREATE OR REPLACE FUNCTION pgduet.lww_key(r record, cols text[])
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC' SET "DateStyle" = 'ISO, YMD' SET "IntervalStyle" = 'postgres'
SET extra_float_digits = '3' SET bytea_output = 'hex'
AS $$
DECLARE
    k text;
BEGIN
    IF cols IS NULL THEN
        RETURN record_out(r)::text;
    END IF;
    EXECUTE 'SELECT pg_catalog.record_out(ROW(' ||
            (SELECT string_agg('($1).' || quote_ident(c.name), ', ' ORDER BY c.n) FROM unnest(cols) WITH ORDINALITY AS c(name, n)) ||
            '))::text' INTO k USING r;
    RETURN k;
END $$;

-- lww_hash is what tombstones are looked up by.
CREATE OR REPLACE FUNCTION pgduet.lww_hash(key text)
RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8')) $$;

-- lww_remote_wins says whether a remote change committed at remote_ts is
-- newer than the local row version written by local_xmin. No commit
-- timestamp (a row written earlier in this very transaction, or before
-- track_commit_timestamp was on) is older than anything. On equal
-- timestamps a row the applier wrote (its origin is not 0) came from the
-- same peer earlier, so the remote change wins; against a local write the
-- node names decide: remote_wins_tie is true when the peer's name sorts
-- after this node's, the same rule on both nodes.
CREATE OR REPLACE FUNCTION pgduet.lww_remote_wins(local_xmin xid, remote_ts timestamptz, remote_wins_tie boolean)
RETURNS boolean LANGUAGE sql VOLATILE
-- No SET clause, no FROM, and as volatile as the commit timestamp functions:
-- the planner inlines it into the applier's UPDATE and DELETE, which
-- evaluate it for every row they change. Every name is qualified, so the
-- caller's search_path cannot redirect it.
AS $$
    SELECT coalesce(pg_catalog.pg_xact_commit_timestamp(local_xmin) OPERATOR(pg_catalog.<) remote_ts, true)
        OR (pg_catalog.pg_xact_commit_timestamp(local_xmin) OPERATOR(pg_catalog.=) remote_ts
            AND (remote_wins_tie OR (pg_catalog.pg_xact_commit_timestamp_origin(local_xmin)).roident OPERATOR(pg_catalog.<>) 0))
$$;

-- lww_check_insert runs in the RETURNING clause of the applier's INSERT (and
-- of an UPDATE that moves a row to a new key) into a last_write_wins table,
-- once the row is in: it raises PD001 when key k (the row's key, typed) was
-- deleted here after the remote change committed. It is VOLATILE, so it
-- reads the tombstones with a snapshot taken after the insert: a local
-- DELETE of the same key that the insert had to wait for is seen.
CREATE OR REPLACE FUNCTION pgduet.lww_check_insert(rel regclass, k record, remote_ts timestamptz, remote_wins_tie boolean)
RETURNS boolean LANGUAGE plpgsql VOLATILE
-- No SET clause (it runs for every row the applier inserts, and a SET
-- clause costs a settings save and restore per call): every name is
-- qualified instead.
AS $$
DECLARE
    root oid := coalesce(pg_catalog.pg_partition_root(rel), rel);
BEGIN
    -- Most of the time the table has no recent delete: no key to print.
    IF NOT EXISTS (SELECT 1 FROM pgduet.tombstones d WHERE d.relid OPERATOR(pg_catalog.=) root) THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM pgduet.tombstones d
                WHERE d.relid OPERATOR(pg_catalog.=) root
                  AND d.key_hash OPERATOR(pg_catalog.=) pgduet.lww_hash(pgduet.lww_key(k, NULL))
                  AND NOT pgduet.lww_remote_wins(d.xmin, remote_ts, remote_wins_tie)) THEN
        RAISE EXCEPTION 'pgduet: key % of table % was deleted here after the remote change committed', pgduet.lww_key(k, NULL), rel
            USING ERRCODE = 'PD001';
    END IF;
    RETURN true;
END $$;

-- The row trigger of last_write_wins tables. Arguments: the table's oid, then
-- its key columns. SECURITY DEFINER so that whoever deletes can write the
-- tombstone; lww_key runs no code a table owner could have written.
CREATE OR REPLACE FUNCTION pgduet.lww_tombstone()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text := pgduet.lww_key(OLD, TG_ARGV[1:TG_NARGS - 1]);
BEGIN
    INSERT INTO pgduet.tombstones AS d (relid, key_hash, key)
    VALUES (TG_ARGV[0]::oid, pgduet.lww_hash(k), k)
    ON CONFLICT (relid, key_hash) DO UPDATE SET deleted_at = clock_timestamp();
    RETURN NULL;
END $$;

-- lww_wanted: does a pair use last_write_wins for table rel?
CREATE OR REPLACE FUNCTION pgduet.lww_wanted(rel oid)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pgduet.pair_settings s, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = rel AND c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND NOT c.relispartition
           AND (coalesce(s.lww -> 'tables', '[]') @> jsonb_build_array(jsonb_build_array(n.nspname, c.relname))
                OR (coalesce(s.lww -> 'schemas', '[]') ? n.nspname
                    AND NOT coalesce(s.lww -> 'except', '[]') @> jsonb_build_array(jsonb_build_array(n.nspname, c.relname)))))
$$;

-- lww_key_index: the index whose columns identify a row of rel, as the
-- applier chooses them: the replica identity index, else the primary key;
-- NULL without either.
CREATE OR REPLACE FUNCTION pgduet.lww_key_index(rel oid)
RETURNS oid LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.indexrelid
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     WHERE i.indrelid = rel AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))
     ORDER BY (i.indisreplident AND c.relreplident = 'i') DESC
     LIMIT 1
$$;

-- lww_sync puts the tombstone triggers on rel, or takes them off, as the
-- pairs' settings want, and rebuilds them when the key changed or they were
-- disabled. It returns false for a last_write_wins table without a key (no
-- tombstone can name its rows), true otherwise. pgduet's triggers are the
-- ones that call pgduet.lww_tombstone; their names (pgduet_lww_delete,
-- pgduet_lww_rekey) are reserved, and the event triggers neither capture nor
-- reject them. While it works, pgduet.lww_syncing is on, so the sql_drop
-- trigger does not take its own drops for someone else's.
CREATE OR REPLACE FUNCTION pgduet.lww_sync(rel oid)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted boolean := pgduet.lww_wanted(rel);
    idx    oid;
    cols   text[];
    args   bytea;
    quals  text;
    moved  text;
    name   text;
    qual   text;
BEGIN
    -- A partition has its parent's triggers (cloned, naming the parent).
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND NOT relispartition) THEN
        RETURN true;
    END IF;
    qual := rel::regclass::text;
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname IN ('pgduet_lww_delete', 'pgduet_lww_rekey')
                  AND t.tgfoid <> 'pgduet.lww_tombstone()'::regprocedure) THEN
        RAISE EXCEPTION 'table % has a trigger named pgduet_lww_delete or pgduet_lww_rekey that is not pgduet''s', qual
            USING HINT = 'Rename it: pgduet keeps triggers of these names on last_write_wins tables.';
    END IF;
    IF wanted THEN
        idx := pgduet.lww_key_index(rel);
    END IF;
    IF idx IS NOT NULL THEN
        -- The key columns, and for each the equality of its index's operator
        -- class, named with its schema: the WHEN clause is resolved now,
        -- under this function's search_path, and must find an extension
        -- type's operator without trusting anyone's search_path.
        SELECT array_agg(a.attname::text ORDER BY k.n),
               string_agg(format('NOT (OLD.%1$I OPERATOR(%2$I.%3$s) NEW.%1$I)', a.attname, opn.nspname, op.oprname), ' OR ' ORDER BY k.n)
          INTO cols, moved
          FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[]) WITH ORDINALITY AS k(attnum, opclass, n)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          JOIN pg_opclass oc ON oc.oid = k.opclass
          JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype
                         AND ao.amopstrategy = 3 AND ao.amopmethod = oc.opcmethod
          JOIN pg_operator op ON op.oid = ao.amopopr
          JOIN pg_namespace opn ON opn.oid = op.oprnamespace
         WHERE i.indexrelid = idx AND k.n <= i.indnkeyatts;
        quals := (SELECT string_agg(quote_literal(a), ', ') FROM unnest(rel::text || cols) AS a);
        args := (SELECT string_agg(convert_to(a, getdatabaseencoding()) || '\x00'::bytea, ''::bytea ORDER BY n)
                   FROM unnest(rel::text || cols) WITH ORDINALITY AS u(a, n));
    END IF;
    -- Both triggers there, enabled, with these arguments: nothing to do.
    IF args IS NOT NULL AND (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname IN ('pgduet_lww_delete', 'pgduet_lww_rekey')
                                AND t.tgargs = args AND t.tgenabled = 'O') = 2 THEN
        RETURN true;
    END IF;
    PERFORM set_config('pgduet.lww_syncing', 'on', true);
    FOR name IN SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname IN ('pgduet_lww_delete', 'pgduet_lww_rekey') LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', name, qual);
    END LOOP;
    IF args IS NOT NULL THEN
        EXECUTE format('CREATE TRIGGER pgduet_lww_delete AFTER DELETE ON %s FOR EACH ROW EXECUTE FUNCTION pgduet.lww_tombstone(%s)', qual, quals);
        EXECUTE format('CREATE TRIGGER pgduet_lww_rekey AFTER UPDATE OF %s ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION pgduet.lww_tombstone(%s)',
                       (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) AS c), qual, moved, quals);
    END IF;
    PERFORM set_config('pgduet.lww_syncing', '', true);
    RETURN args IS NOT NULL OR NOT wanted;
END $$;

-- lww_candidates: every table a pair's settings may cover, and every table
-- that has pgduet's triggers.
CREATE OR REPLACE FUNCTION pgduet.lww_candidates()
RETURNS SETOF oid LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND NOT c.relispartition
       AND EXISTS (SELECT 1 FROM pgduet.pair_settings s
                    WHERE coalesce(s.lww -> 'schemas', '[]') ? n.nspname
                       OR coalesce(s.lww -> 'tables', '[]') @> jsonb_build_array(jsonb_build_array(n.nspname, c.relname)))
    UNION
    SELECT t.tgrelid FROM pg_trigger t WHERE t.tgname IN ('pgduet_lww_delete', 'pgduet_lww_rekey') AND t.tgparentid = 0
    ORDER BY 1
$$;

-- lww_sync_all syncs every candidate table and returns the last_write_wins
-- tables without a key. An error (a foreign trigger with a reserved name)
-- fails it: the agent refuses to start with it.
CREATE OR REPLACE FUNCTION pgduet.lww_sync_all()
RETURNS SETOF regclass LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid;
BEGIN
    FOR rel IN SELECT * FROM pgduet.lww_candidates() LOOP
        IF NOT pgduet.lww_sync(rel) THEN
            RETURN NEXT rel::regclass;
        END IF;
    END LOOP;
END $$;

-- lww_after_ddl runs at the end of every DDL command (from on_ddl_event): the
-- tables it created or altered get, keep or lose their triggers; a schema
-- command, or one on a partitioned table (ATTACH, DETACH), looks at every
-- table. It never fails the command: a table it cannot sync is a warning
-- naming it (the agent syncs every table again when it starts).
CREATE OR REPLACE FUNCTION pgduet.lww_after_ddl()
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgduet.pair_settings WHERE lww <> '{}') THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() AS c
                WHERE NOT c.in_extension AND (c.object_type = 'schema'
                   OR c.object_type = 'table' AND EXISTS (SELECT 1 FROM pg_class WHERE oid = c.objid AND relkind = 'p'))) THEN
        PERFORM pgduet.lww_sync_checked(NULL);
        RETURN;
    END IF;
    FOR rel IN
        SELECT DISTINCT CASE WHEN c.object_type = 'index' THEN (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.objid) ELSE c.objid END
          FROM pg_event_trigger_ddl_commands() AS c
         WHERE c.object_type IN ('table', 'index') AND NOT c.in_extension
    LOOP
        PERFORM pgduet.lww_sync_checked(rel);
    END LOOP;
END $$;

-- lww_after_drop runs after every DROP (from on_ddl_event): dropping an
-- index or a constraint can change a table's key, and a dropped pgduet
-- trigger is put back.
CREATE OR REPLACE FUNCTION pgduet.lww_after_drop()
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(current_setting('pgduet.lww_syncing', true), '') = 'on'
       OR NOT EXISTS (SELECT 1 FROM pgduet.pair_settings WHERE lww <> '{}') THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() AS d
                WHERE d.object_type IN ('index', 'table constraint') OR pgduet.own_trigger(d.object_type, d.object_identity)) THEN
        PERFORM pgduet.lww_sync_checked(NULL);
    END IF;
END $$;

-- lww_sync_checked syncs rel (NULL: every table, as lww_sync_all), warning
-- about what it could not do instead of failing.
CREATE OR REPLACE FUNCTION pgduet.lww_sync_checked(rel oid)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r oid;
BEGIN
    FOR r IN SELECT rel WHERE rel IS NOT NULL UNION ALL SELECT * FROM pgduet.lww_candidates() WHERE rel IS NULL LOOP
        BEGIN
            IF NOT pgduet.lww_sync(r) THEN
                RAISE WARNING 'pgduet: table % uses last_write_wins but has no primary key or replica identity index, so its deletes leave no tombstones', r::regclass
                    USING HINT = 'Add a primary key, or give the table another conflict policy.';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pgduet: could not put the last_write_wins triggers on table %: %', r::regclass, SQLERRM;
        END;
    END LOOP;
END $$;

REVOKE ALL ON FUNCTION pgduet.lww_sync(oid), pgduet.lww_sync_all(), pgduet.lww_sync_checked(oid), pgduet.lww_after_ddl(),
    pgduet.lww_after_drop(), pgduet.lww_tombstone() FROM PUBLIC;
