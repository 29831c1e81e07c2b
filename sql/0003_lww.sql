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
    key        text        NOT NULL,  -- pgduet.lww_key of the deleted row's key
    deleted_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),  -- for people; the version is the commit timestamp of xmin
    PRIMARY KEY (relid, key)
);

COMMENT ON TABLE pgduet.tombstones IS 'pgduet: keys deleted locally from last_write_wins tables, so that an older change from the peer does not bring them back; pruned by the agent';

-- lww_key prints a row's key the same way whoever asks: the trigger from the
-- deleted row (cols: the key columns' names), the applier from the remote
-- row's typed values (ROW($1::int, ...), cols NULL: every field in order).
-- Values are printed as JSON under fixed settings, so a session's TimeZone,
-- DateStyle or float settings never change the key.
CREATE OR REPLACE FUNCTION pgduet.lww_key(r record, cols text[])
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC' SET "DateStyle" = 'ISO, YMD' SET "IntervalStyle" = 'postgres'
SET extra_float_digits = '3' SET bytea_output = 'hex'
AS $$
DECLARE
    j json := to_json(r);
BEGIN
    IF cols IS NULL THEN
        RETURN (SELECT jsonb_agg(e.value::jsonb ORDER BY e.n) FROM json_each(j) WITH ORDINALITY AS e(k, value, n))::text;
    END IF;
    RETURN (SELECT jsonb_agg((j -> c.name)::jsonb ORDER BY c.n) FROM unnest(cols) WITH ORDINALITY AS c(name, n))::text;
END $$;

-- lww_remote_wins says whether a remote change committed at remote_ts is
-- newer than the local row version written by local_xmin. No commit
-- timestamp (a row written earlier in this very transaction, or before
-- track_commit_timestamp was on) is older than anything. On equal
-- timestamps a row the applier wrote (its origin is not 0) came from the
-- same peer earlier, so the remote change wins; against a local write the
-- node names decide: remote_wins_tie is true when the peer's name sorts
-- after this node's, the same rule on both nodes.
CREATE OR REPLACE FUNCTION pgduet.lww_remote_wins(local_xmin xid, remote_ts timestamptz, remote_wins_tie boolean)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN o.timestamp IS NULL OR o.timestamp < remote_ts THEN true
                WHEN o.timestamp > remote_ts THEN false
                ELSE o.roident <> 0 OR remote_wins_tie END
      FROM pg_xact_commit_timestamp_origin(local_xmin) AS o
$$;

-- lww_check_insert runs in the RETURNING clause of the applier's INSERT (and
-- of an UPDATE that moves a row to a new key) into a last_write_wins table,
-- once the row is in: it raises PD001 when key k (the row's key, typed) was
-- deleted here after the remote change committed. It is VOLATILE, so it
-- reads the tombstones with a snapshot taken after the insert: a local
-- DELETE of the same key that the insert had to wait for is seen.
CREATE OR REPLACE FUNCTION pgduet.lww_check_insert(rel regclass, k record, remote_ts timestamptz, remote_wins_tie boolean)
RETURNS boolean LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pgduet.tombstones d
                WHERE d.relid = coalesce(pg_partition_root(rel), rel) AND d.key = pgduet.lww_key(k, NULL)
                  AND NOT pgduet.lww_remote_wins(d.xmin, remote_ts, remote_wins_tie)) THEN
        RAISE EXCEPTION 'pgduet: key % of table % was deleted here after the remote change committed', pgduet.lww_key(k, NULL), rel
            USING ERRCODE = 'PD001';
    END IF;
    RETURN true;
END $$;

-- The row trigger of last_write_wins tables. Arguments: the table's oid, then
-- its key columns.
CREATE OR REPLACE FUNCTION pgduet.lww_tombstone()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO pgduet.tombstones AS d (relid, key)
    VALUES (TG_ARGV[0]::oid, pgduet.lww_key(OLD, TG_ARGV[1:TG_NARGS - 1]))
    ON CONFLICT (relid, key) DO UPDATE SET deleted_at = clock_timestamp();
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

-- lww_key_columns: the columns that identify a row of rel, as the applier
-- chooses them: the replica identity index, else the primary key; NULL
-- without either.
CREATE OR REPLACE FUNCTION pgduet.lww_key_columns(rel oid)
RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT array_agg(a.attname::text ORDER BY k.n)
              FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.n <= i.indnkeyatts)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     WHERE i.indrelid = rel AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))
     ORDER BY (i.indisreplident AND c.relreplident = 'i') DESC
     LIMIT 1
$$;

-- lww_sync puts the tombstone triggers on rel, or takes them off, as the
-- pairs' settings want, and rebuilds them when the key changed. It returns
-- false for a last_write_wins table without a key (no tombstone can name its
-- rows), true otherwise. Trigger names starting with pgduet_lww_ are
-- pgduet's: the event triggers do not capture them.
CREATE OR REPLACE FUNCTION pgduet.lww_sync(rel oid)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted boolean := pgduet.lww_wanted(rel);
    cols   text[];
    args   text;
    have   text;
    rename text;
    qual   text;
BEGIN
    -- A partition has its parent's triggers (cloned, naming the parent).
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel AND NOT relispartition) THEN
        RETURN true;
    END IF;
    qual := rel::regclass::text;
    IF wanted THEN
        cols := pgduet.lww_key_columns(rel);
    END IF;
    IF wanted AND cols IS NOT NULL THEN
        args := (SELECT string_agg(quote_literal(a), ', ') FROM unnest(rel::text || cols) AS a);
        rename := (SELECT string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ') FROM unnest(cols) AS c);
    END IF;
    -- What the delete trigger says now: its arguments, NULL without one.
    SELECT encode(t.tgargs, 'escape') INTO have FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'pgduet_lww_delete';
    IF args IS NOT NULL AND have IS NOT NULL
       AND have = (SELECT string_agg(a, E'\\000') || E'\\000' FROM unnest(rel::text || cols) AS a)
       AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'pgduet_lww_rekey') THEN
        RETURN true;
    END IF;
    FOR have IN SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname IN ('pgduet_lww_delete', 'pgduet_lww_rekey') LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', have, qual);
    END LOOP;
    IF args IS NULL THEN
        RETURN NOT wanted;
    END IF;
    EXECUTE format('CREATE TRIGGER pgduet_lww_delete AFTER DELETE ON %s FOR EACH ROW EXECUTE FUNCTION pgduet.lww_tombstone(%s)', qual, args);
    EXECUTE format('CREATE TRIGGER pgduet_lww_rekey AFTER UPDATE OF %s ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION pgduet.lww_tombstone(%s)',
                   (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) AS c), qual, rename, args);
    RETURN true;
END $$;

-- lww_sync_all syncs every table a pair's settings name or that has the
-- triggers, and returns the last_write_wins tables without a key.
CREATE OR REPLACE FUNCTION pgduet.lww_sync_all()
RETURNS SETOF regclass LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid;
BEGIN
    FOR rel IN
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND NOT c.relispartition
           AND EXISTS (SELECT 1 FROM pgduet.pair_settings s
                        WHERE coalesce(s.lww -> 'schemas', '[]') ? n.nspname
                           OR coalesce(s.lww -> 'tables', '[]') @> jsonb_build_array(jsonb_build_array(n.nspname, c.relname)))
        UNION
        SELECT t.tgrelid FROM pg_trigger t WHERE t.tgname = 'pgduet_lww_delete' AND t.tgparentid = 0
        ORDER BY 1
    LOOP
        IF NOT pgduet.lww_sync(rel) THEN
            RETURN NEXT rel::regclass;
        END IF;
    END LOOP;
END $$;

-- lww_after_ddl runs at the end of every DDL command (from on_ddl_event): the
-- tables it created or altered get, keep or lose their triggers. It never
-- fails the command; a failure is a warning, and the agent syncs every table
-- again when it starts.
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
    FOR rel IN
        SELECT DISTINCT CASE WHEN c.object_type = 'index' THEN (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.objid) ELSE c.objid END
          FROM pg_event_trigger_ddl_commands() AS c
         WHERE c.object_type IN ('table', 'index') AND NOT c.in_extension
    LOOP
        IF rel IS NOT NULL AND NOT pgduet.lww_sync(rel) THEN
            RAISE WARNING 'pgduet: table % uses last_write_wins but has no primary key or replica identity index, so deletes cannot leave tombstones', rel::regclass
                USING HINT = 'Add a primary key, or give the table another conflict policy.';
        END IF;
    END LOOP;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgduet: could not update the last_write_wins triggers: %', SQLERRM
        USING HINT = 'Restart the pgduet agent: it puts the triggers on every last_write_wins table when it starts.';
END $$;

REVOKE ALL ON FUNCTION pgduet.lww_sync(oid), pgduet.lww_sync_all(), pgduet.lww_after_ddl(), pgduet.lww_tombstone() FROM PUBLIC;
