-- 0002_ddl.sql: DDL capture (SPEC §5, §6.4) and the conflict log (SPEC §7).
--
-- Event triggers on ddl_command_end and sql_drop write one row per object a
-- command touched into pgduet.ddl_queue, inside the command's own transaction.
-- The queue table is in the pair's publication, so each row reaches the peer in
-- the WAL stream at its exact position among the transaction's row changes.
-- The receiving agent parses the captured query string (ddlparse), replays only
-- the DDL statements that fired the rows, and never inserts the rows themselves.
--
-- Nothing here fires in pgduet's own apply sessions: they run with
-- session_replication_role = replica, and these event triggers are enabled
-- ORIGIN (the default), which PostgreSQL skips in replica mode. pgduet's own
-- install and setup sessions set pgduet.internal = on, which the triggers
-- honour too.

-- What the agent of each pair told this node (written at every agent start).
-- The triggers read it: capture when any pair replicates DDL, refuse DDL when
-- a pair says this node is not its DDL source and ddl.reverse = "reject".
CREATE TABLE IF NOT EXISTS pgduet.pair_settings (
    pair        text        PRIMARY KEY,
    node        text        NOT NULL,
    ddl_source  text        NOT NULL,
    replicate   boolean     NOT NULL,
    reverse     text        NOT NULL CHECK (reverse IN ('ignore', 'reject')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per row of pg_event_trigger_ddl_commands() (event ddl_command_end,
-- extension members left out) or pg_event_trigger_dropped_objects() (event
-- sql_drop), or one capture_error row when capturing failed. Rows of one
-- client query message share (txid, backend_pid, stmt_time, query); command
-- numbers the firing DDL command within that message, from 1.
CREATE TABLE IF NOT EXISTS pgduet.ddl_queue (
    id          bigserial   PRIMARY KEY,
    captured_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    event       text        NOT NULL,  -- ddl_command_end | sql_drop | table_rewrite | capture_error
    tag         text        NOT NULL,  -- TG_TAG
    object_type text,
    schema_name text,
    identity    text,
    command     integer     NOT NULL,
    query       text,                  -- current_query(): the whole client string
    search_path text        NOT NULL,
    role_name   text        NOT NULL,  -- the role that ran the command
    backend_pid integer     NOT NULL,
    txid        bigint      NOT NULL,
    stmt_time   timestamptz NOT NULL,  -- statement_timestamp()
    detail      text                   -- capture_error: what went wrong
);

COMMENT ON TABLE pgduet.ddl_queue IS 'pgduet: DDL captured by event triggers, shipped to the peer through the publication; old rows are pruned by the agent';

-- Conflicts and DDL that was not replayed as is, on the receiving node.
-- resolution: what pgduet did: skipped; stopped (the direction stopped on
-- it); applied_on_retry (a stopped statement applied later, its cause fixed);
-- skip_requested and skipped_by_dba (a DBA who handled a stopped event by hand
-- ran SELECT pgduet.skip(id) and restarted the agent).
CREATE TABLE IF NOT EXISTS pgduet.conflicts (
    id          bigserial   PRIMARY KEY,
    logged_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    pair        text        NOT NULL,
    origin_node text        NOT NULL,  -- the node the change came from
    kind        text        NOT NULL,  -- insert_exists, ..., ddl_failed, ddl_unsupported, ddl_denied, ddl_unselected
    policy      text        NOT NULL,
    resolution  text        NOT NULL,
    table_name  text,
    statement   text,
    detail      text,
    local_row   jsonb,
    remote_row  jsonb,
    source_lsn  pg_lsn      NOT NULL,  -- end of the source transaction
    source_xid  bigint,
    source_seq  integer     NOT NULL,  -- position of the event in its source transaction
    resolved_at timestamptz,
    note        text
);

CREATE INDEX IF NOT EXISTS conflicts_pending
    ON pgduet.conflicts (pair, origin_node, source_lsn, source_seq)
    WHERE resolution IN ('stopped', 'skip_requested');

COMMENT ON TABLE pgduet.conflicts IS 'pgduet: conflicts and DDL not replayed as is, with what pgduet did about them';

-- skip marks a stopped event to be skipped when the agent applies it next
-- (after a restart): for DDL the DBA has replayed by hand, or decided to drop.
CREATE OR REPLACE FUNCTION pgduet.skip(event_id bigint, why text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pgduet.conflicts;
BEGIN
    SELECT * INTO r FROM pgduet.conflicts WHERE id = event_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgduet: no pgduet.conflicts row with id %', event_id
            USING HINT = 'SELECT id, kind, statement FROM pgduet.conflicts WHERE resolution = ''stopped'' lists the events waiting for a decision.';
    END IF;
    IF r.resolution NOT IN ('stopped', 'skip_requested') THEN
        RAISE EXCEPTION 'pgduet: pgduet.conflicts row % is %, not stopped: nothing to skip', event_id, r.resolution;
    END IF;
    UPDATE pgduet.conflicts SET resolution = 'skip_requested', note = why WHERE id = event_id;
    RETURN format('event %s (%s, source LSN %s) will be skipped when the agent of pair %s applies it next: restart the agent',
                  event_id, r.kind, r.source_lsn, r.pair);
END $$;

-- own_trigger: is the object one of the row triggers pgduet puts on
-- last_write_wins tables (0003_lww.sql)? Their names start with pgduet_lww_.
CREATE OR REPLACE FUNCTION pgduet.own_trigger(object_type text, identity text)
RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT object_type = 'trigger' AND identity LIKE 'pgduet\_lww\_% on %'
$$;

-- internal_session: is this pgduet's own install or setup work
-- (pgduet.internal = on)? Only a superuser login (pgduet's agent) can mark
-- its session internal: anyone can set a custom setting.
CREATE OR REPLACE FUNCTION pgduet.internal_session()
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(current_setting('pgduet.internal', true), '') = 'on'
           AND coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false)
$$;

-- capture_mode: 'capture', 'reject' or 'off' for this node, from every
-- pair's settings. Internal sessions are 'off'.
CREATE OR REPLACE FUNCTION pgduet.capture_mode()
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN pgduet.internal_session() THEN 'off'
        WHEN bool_or(replicate AND node <> ddl_source AND reverse = 'reject') THEN 'reject'
        WHEN bool_or(replicate) THEN 'capture'
        ELSE 'off' END
      FROM pgduet.pair_settings
$$;

-- command_number numbers the DDL commands of one client query message: a
-- session setting keyed by statement_timestamp() (which changes with every
-- query message) holds the count. ddl_command_end takes the next number;
-- sql_drop rows take the number of the command they precede.
CREATE OR REPLACE FUNCTION pgduet.command_number(is_end boolean)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- The epoch is numeric: its text does not depend on TimeZone or
    -- DateStyle, which the query string itself may change between commands.
    k text := extract(epoch FROM statement_timestamp())::text || '/' || pg_backend_pid();
    n integer;
BEGIN
    IF current_setting('pgduet.command_key', true) IS DISTINCT FROM k THEN
        PERFORM set_config('pgduet.command_key', k, false);
        PERFORM set_config('pgduet.command_n', '0', false);
    END IF;
    n := current_setting('pgduet.command_n')::integer + 1;
    IF is_end THEN
        PERFORM set_config('pgduet.command_n', n::text, false);
    END IF;
    RETURN n;
END $$;

-- The role that ran the command: the event-trigger functions are SECURITY
-- DEFINER, so current_user is their owner; the session's SET ROLE (or its
-- login role) is who ran it.
CREATE OR REPLACE FUNCTION pgduet.command_role()
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN current_setting('role') IN ('none', '') THEN session_user::text
                ELSE current_setting('role') END
$$;

-- enqueue writes one queue row with what every row carries: the client's
-- query string, the caller's search_path and role, the backend, transaction
-- and statement time.
CREATE OR REPLACE FUNCTION pgduet.enqueue(event text, tg_tag text, object_type text, schema_name text, identity text,
                                          command integer, caller_search_path text, detail text DEFAULT NULL)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO pgduet.ddl_queue (event, tag, object_type, schema_name, identity, command, query,
                                  search_path, role_name, backend_pid, txid, stmt_time, detail)
    VALUES (event, tg_tag, object_type, schema_name, identity, command, current_query(),
            caller_search_path, pgduet.command_role(), pg_backend_pid(),
            pg_current_xact_id()::text::bigint, statement_timestamp(), detail)
$$;

-- capture_failed records that capturing one command failed, so the peer stops
-- on it (ddl_unsupported) instead of silently missing DDL; if even that fails,
-- a WARNING is all that is left, since capture never fails the user's DDL.
CREATE OR REPLACE FUNCTION pgduet.capture_failed(tg_tag text, err text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        PERFORM pgduet.enqueue('capture_error', tg_tag, NULL, NULL, NULL, 0, current_setting('search_path'), err);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pgduet: could not capture % for replication: % (and recording the failure failed: %)', tg_tag, err, SQLERRM;
    END;
END $$;

-- reject_ddl fails a DDL command on a node that is not the DDL source of a
-- pair configured with ddl.reverse = "reject".
CREATE OR REPLACE FUNCTION pgduet.reject_ddl(tg_tag text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pgduet.pair_settings;
BEGIN
    SELECT * INTO s FROM pgduet.pair_settings
     WHERE replicate AND reverse = 'reject' AND node <> ddl_source ORDER BY pair LIMIT 1;
    RAISE EXCEPTION 'pgduet: % is not allowed on node "%" of pair "%": DDL flows from node "%" only', tg_tag, s.node, s.pair, s.ddl_source
        USING ERRCODE = '42501',
              DETAIL = 'pgduet replicates DDL in one direction, and this pair is configured with ddl.reverse = "reject".',
              HINT = format('Run the statement on node "%s"; pgduet replays it here.', s.ddl_source);
END $$;

-- capture_end does the work of the ddl_command_end trigger. It runs as the
-- trigger function's owner (see on_ddl_event), never raises except to
-- reject, and records a capture_error row when capturing fails.
CREATE OR REPLACE FUNCTION pgduet.capture_end(tg_tag text, caller_search_path text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    mode text;
    cmd  integer;
    r    record;
BEGIN
    -- The last_write_wins triggers pgduet puts on a table at the end of a
    -- command (lww_after_ddl) are each node's own business, and no command
    -- of the client's string.
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands())
       AND NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c WHERE NOT pgduet.own_trigger(c.object_type, c.object_identity)) THEN
        RETURN;
    END IF;
    mode := pgduet.capture_mode();
    IF mode = 'off' THEN
        RETURN;
    END IF;
    IF mode = 'reject' THEN
        -- Temporary objects and pgduet's own are the session's business. A
        -- DROP fires no rows here; its sql_drop trigger decided.
        IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
                    WHERE NOT c.in_extension
                      AND coalesce(c.schema_name, '') NOT IN ('pg_temp', 'pgduet')) THEN
            PERFORM pgduet.reject_ddl(tg_tag);
        END IF;
        RETURN;
    END IF;
    BEGIN
        -- Commands an extension script runs fire too; they are not commands
        -- of the client's string (the CREATE EXTENSION itself is).
        IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands())
           AND NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE NOT in_extension) THEN
            RETURN;
        END IF;
        cmd := pgduet.command_number(true);
        FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE NOT in_extension LOOP
            IF r.schema_name = 'pgduet' OR pgduet.own_trigger(r.object_type, r.object_identity) THEN
                CONTINUE;
            END IF;
            PERFORM pgduet.enqueue('ddl_command_end', tg_tag, r.object_type, r.schema_name, r.object_identity, cmd, caller_search_path);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pgduet.capture_failed(tg_tag, SQLERRM);
    END;
END $$;

-- capture_drop does the work of the sql_drop trigger, like capture_end.
CREATE OR REPLACE FUNCTION pgduet.capture_drop(tg_tag text, caller_search_path text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    mode text;
    cmd  integer;
    r    record;
BEGIN
    mode := pgduet.capture_mode();
    -- ALTER TABLE ... DROP COLUMN and the like fire sql_drop too; the
    -- ddl_command_end rows of the same command describe them. pgduet drops
    -- its own last_write_wins triggers (lww_sync).
    IF mode = 'off' OR tg_tag NOT LIKE 'DROP %'
       OR NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d WHERE NOT pgduet.own_trigger(d.object_type, d.object_identity)) THEN
        RETURN;
    END IF;
    IF mode = 'reject' THEN
        IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
                    WHERE d.original AND NOT d.is_temporary AND coalesce(d.schema_name, '') <> 'pgduet') THEN
            PERFORM pgduet.reject_ddl(tg_tag);
        END IF;
        RETURN;
    END IF;
    BEGIN
        cmd := pgduet.command_number(false);
        FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
            IF r.schema_name = 'pgduet' OR pgduet.own_trigger(r.object_type, r.object_identity) THEN
                CONTINUE;
            END IF;
            PERFORM pgduet.enqueue('sql_drop', tg_tag, r.object_type, r.schema_name, r.object_identity, cmd, caller_search_path);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pgduet.capture_failed(tg_tag, SQLERRM);
    END;
END $$;

-- capture_rewrite records that a command rewrites a table because of a
-- volatile default (reason bit 2, AT_REWRITE_DEFAULT_VAL: ADD COLUMN with a
-- default such as nextval() or random()): the rewritten rows are not decoded,
-- so each node would compute its own values. The peer stops on it
-- (ddl_unsupported) instead of diverging silently.
CREATE OR REPLACE FUNCTION pgduet.capture_rewrite(tg_tag text, caller_search_path text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pgduet.capture_mode() <> 'capture' OR pg_event_trigger_table_rewrite_reason() & 2 = 0 THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM pgduet.enqueue('table_rewrite', tg_tag, 'table', n.nspname, format('%I.%I', n.nspname, c.relname),
                               pgduet.command_number(false), caller_search_path,
                               'reason ' || pg_event_trigger_table_rewrite_reason())
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = pg_event_trigger_table_rewrite_oid() AND n.nspname NOT IN ('pgduet', 'pg_temp')
           AND c.relpersistence <> 't';
    EXCEPTION WHEN OTHERS THEN
        PERFORM pgduet.capture_failed(tg_tag, SQLERRM);
    END;
END $$;

-- The trigger function of all three event triggers. It is SECURITY DEFINER
-- (the capture writes pgduet's table whoever runs the DDL) but cannot pin
-- search_path with a SET clause, because the search_path the command ran with
-- is part of what is captured. So the first statement reads it, the second
-- pins a safe one for the rest of the call, and the caller's is put back at
-- the end. Until the pin, the caller's search_path is in force (with pg_temp
-- first for types): every name used before it, the variable's type included,
-- is schema-qualified, and no operator is used before it.
CREATE OR REPLACE FUNCTION pgduet.on_ddl_event()
RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    caller_path pg_catalog.text;
BEGIN
    caller_path := pg_catalog.current_setting('search_path');
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    CASE TG_EVENT
        WHEN 'ddl_command_end' THEN
            PERFORM pgduet.capture_end(TG_TAG, caller_path);
            -- Not in pgduet's own sessions: the install creates these
            -- functions, and the agent syncs the triggers itself.
            IF NOT pgduet.internal_session() THEN
                PERFORM pgduet.lww_after_ddl(); -- 0003_lww.sql
            END IF;
        WHEN 'sql_drop' THEN
            PERFORM pgduet.capture_drop(TG_TAG, caller_path);
            IF NOT pgduet.internal_session() THEN
                PERFORM pgduet.lww_after_drop(); -- 0003_lww.sql
            END IF;
        WHEN 'table_rewrite' THEN PERFORM pgduet.capture_rewrite(TG_TAG, caller_path);
        ELSE NULL;
    END CASE;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
END $$;

REVOKE ALL ON FUNCTION pgduet.enqueue(text, text, text, text, text, integer, text, text), pgduet.capture_end(text, text), pgduet.capture_drop(text, text), pgduet.capture_rewrite(text, text),
    pgduet.capture_failed(text, text), pgduet.reject_ddl(text), pgduet.skip(bigint, text) FROM PUBLIC;

DROP EVENT TRIGGER IF EXISTS pgduet_ddl_command_end;
CREATE EVENT TRIGGER pgduet_ddl_command_end ON ddl_command_end EXECUTE FUNCTION pgduet.on_ddl_event();
DROP EVENT TRIGGER IF EXISTS pgduet_sql_drop;
CREATE EVENT TRIGGER pgduet_sql_drop ON sql_drop EXECUTE FUNCTION pgduet.on_ddl_event();
DROP EVENT TRIGGER IF EXISTS pgduet_table_rewrite;
CREATE EVENT TRIGGER pgduet_table_rewrite ON table_rewrite EXECUTE FUNCTION pgduet.on_ddl_event();
