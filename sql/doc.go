// Package sql holds the SQL that pgduet installs in each database (schema pgduet
// and the objects in it), embedded in the binary.
//
// Files are named NNNN_name.sql and applied in order, in one transaction, under an
// advisory lock so two agents or two `run`s never install concurrently. Each file
// is idempotent (IF NOT EXISTS, CREATE OR REPLACE) and its version is recorded in
// pgduet.schema_version; installing twice is harmless. A DBA who prefers an
// extension can build one from these same files.
//
//   - 0001_schema.sql: schema pgduet and pgduet.schema_version.
//   - 0002_ddl.sql: DDL capture (SPEC §5, §6.4): the event triggers on
//     ddl_command_end and sql_drop, which write pgduet.ddl_queue in the DDL's
//     own transaction (SECURITY DEFINER, never failing the user's DDL except
//     to reject it on purpose); pgduet.pair_settings, where each agent says
//     whether this node is its pair's DDL source and what ddl.reverse is;
//     pgduet.conflicts and pgduet.skip(id).
//   - 0003_lww.sql: what the last_write_wins policy needs (SPEC §7): the
//     version comparison (pgduet.lww_remote_wins), pgduet.tombstones and the
//     row triggers that write it for local deletes and key moves, and the
//     functions that keep those triggers on the tables the pairs' settings
//     name (pgduet.lww_sync_all, and lww_after_ddl from the DDL event
//     trigger).
//   - 0004_initial.sql: the initial sync's state on the receiving node
//     (SPEC §8): pgduet.initial_sync (per pair: state, schema LSN, the
//     post-data statements still to run) and pgduet.initial_sync_tables
//     (each copied table with the snapshot LSN its rows come from).
//
// Sessions that change pgduet's own objects run InternalSQL first, so the
// event triggers neither capture nor reject them; apply sessions run in
// replica mode, where the triggers do not fire at all.
package sql
