-- 0001_schema.sql: pgduet's own schema and the record of which of these files
-- are installed. Everything pgduet creates in a database lives in schema pgduet,
-- except the publication, the replication slot and the replication origins,
-- which PostgreSQL keeps in its own catalogs (the agent creates those, because
-- their names depend on the pair and node names in the config).
CREATE SCHEMA IF NOT EXISTS pgduet;

COMMENT ON SCHEMA pgduet IS 'pgduet two-way sync: objects created by the pgduet agent; remove with `pgduet uninstall`';

CREATE TABLE IF NOT EXISTS pgduet.schema_version (
    version      integer     PRIMARY KEY,
    name         text        NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);
