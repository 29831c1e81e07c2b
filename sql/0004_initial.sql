-- 0004_initial.sql: the initial sync's state (SPEC §8), kept on the node that
-- receives it (the one that is not the DDL source), in the same transactions
-- as what it records: a table is marked copied by the transaction that
-- copied its rows, so a killed copy leaves nothing half done behind.

CREATE TABLE IF NOT EXISTS pgduet.initial_sync (
    pair       text        PRIMARY KEY,
    source     text        NOT NULL,  -- the DDL source node the schema and rows come from
    state      text        NOT NULL CHECK (state IN ('copying', 'done')),
    -- Snapshot LSN of the schema step: DDL the source committed before it is
    -- part of the copied schema and is not replayed again.
    schema_lsn pg_lsn      NOT NULL,
    -- The post-data statements (secondary indexes, foreign keys, triggers ...),
    -- as they will run here, applied once every table is copied.
    post_data  text        NOT NULL DEFAULT '',
    started    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished   timestamptz
);

CREATE TABLE IF NOT EXISTS pgduet.initial_sync_tables (
    pair      text        NOT NULL REFERENCES pgduet.initial_sync ON DELETE CASCADE,
    schema    name        NOT NULL,  -- this node's names
    name      name        NOT NULL,
    -- Snapshot LSN the rows were copied at: the source's changes to this table
    -- committed before it are in the copy and are not applied again.
    lsn       pg_lsn      NOT NULL,
    rows      bigint      NOT NULL,
    bytes     bigint      NOT NULL,
    seconds   float8      NOT NULL,  -- how long the copy took
    copied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (pair, schema, name)
);
