-- 0005_copy_parts.sql: the initial sync copies a large table in parts (block
-- ranges of its heap, read in parallel under one snapshot). Each part is
-- recorded by the transaction that copied it; a table is copied when all its
-- parts are. A part's xid is that transaction's: its rows carry it as xmin
-- until they change, so the parts of a table left unfinished by an earlier
-- attempt (under another snapshot) can be taken out again before the table
-- is copied anew.

ALTER TABLE pgduet.initial_sync_tables
    ADD COLUMN IF NOT EXISTS part  int  NOT NULL DEFAULT 0,  -- 0 .. parts-1
    ADD COLUMN IF NOT EXISTS parts int  NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS xid   xid8;

ALTER TABLE pgduet.initial_sync_tables DROP CONSTRAINT IF EXISTS initial_sync_tables_pkey;
ALTER TABLE pgduet.initial_sync_tables ADD PRIMARY KEY (pair, schema, name, part);
