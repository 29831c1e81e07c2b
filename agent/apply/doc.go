// Package apply is the last stage of a direction on the receiving node: it turns
// each source transaction (a change.Tx handed over by transport.Receiver) into
// one local transaction, and it owns the receiving half of DESIGN.md §2:
// invariants 1 (acknowledge only what was committed), 2 (resume from the origin's
// progress), 3 (source transactions stay whole and ordered) and 6 (no echo).
//
//	transport.Receiver ─► Applier.Apply(tx) ─► BEGIN; origin xact setup; rows; COMMIT ─► ack(tx.EndLSN)
//
// # Positions and what is durable
//
// The replication origin pgduet_<pair>_<peer> on the local database records the
// end LSN of the last source transaction applied here. Open binds the apply
// session to it and returns that progress: the position the peer resumes from.
// Apply commits the transaction's rows and pg_replication_origin_xact_setup(
// EndLSN, CommitTime) in the same local transaction, and the server writes the
// origin's new progress into that transaction's commit record. So when Apply
// returns nil, the rows and the progress are committed together (durable with
// the server's synchronous_commit, on by default) and tx.EndLSN may be
// acknowledged to the peer; when it returns an error, neither happened. Nothing
// can be applied twice: a transaction at or below the progress is a no-op, and
// after a crash the progress read by Open is exactly what the committed data
// reflects. If the connection breaks during COMMIT the outcome is unknown until
// the next Open, which reads it back.
//
// # Why one source transaction is one local transaction
//
// A local transaction carries one origin LSN, so the progress moves atomically
// with whole source transactions: a crash can never leave half of a source
// transaction applied, or applied without its progress (which would apply it
// again), or the progress without the rows (which would lose it). Splitting a
// source transaction is never allowed. Grouping several whole ones into one
// local transaction is (invariant 3), with the last one's LSN and time:
// ApplyGroup does it for runs of transactions that have already arrived
// (a backlog), unless one of them carries DDL, a change a DBA asked to
// skip, an earlier stop, or a last_write_wins table (which compares each
// transaction's own commit time). A merged group that meets any conflict,
// missing row or failing statement is rolled back and applied one
// transaction at a time, so everything recorded per source transaction
// (pgduet.conflicts rows, stops, their LSN and change index) is exactly as
// without grouping.
//
// # How a transaction is applied
//
// Two round trips, whatever its size. A pipeline (pgconn.Pipeline) sends BEGIN,
// the origin xact setup, and one prepared statement per change, then a single
// Sync; every result is read and every row count checked. Then COMMIT, or
// ROLLBACK if anything failed. A catalog read (one query for all tables) comes
// first when a table is new to the applier, or its source shape changed.
//
// Under the fail policy, a run of at least 4 consecutive changes with the
// same statement (inserts; updates and deletes by key, with distinct keys,
// the update keeping its key) is one set-based statement over text[]
// parameters, unnested and cast by each column's type without its modifier
// (batch.go). It must write one row per change; otherwise the transaction is
// rolled back and applied again one statement per change, which finds and
// reports the conflict exactly.
//
// A transaction whose changes are in a spill file (change.Tx.Spill: too big
// to hold in memory) is applied window by window (spilled.go): BEGIN with
// the first window's pipeline, each window planned and sent in turn inside
// the same transaction, one COMMIT. Conflict indexes stay those of the
// whole transaction, a set-based statement that meets anything makes the
// whole transaction go again one statement per change (read from the file
// again), and what is reported after COMMIT (warnings, kept local rows) is
// bounded. A spilled transaction with DDL or a DBA skip is read back into
// memory, as both are planned over the whole transaction.
//
// Statements are prepared once per table and shape (operation, columns written,
// columns matched) and reused. Values are the source's text output, sent as text
// parameters of unknown type: the server reads each with the target column's
// type input function, so user-defined types never depend on OIDs. Identifiers
// are quoted with pgx.Identifier; nothing from the data is ever put into SQL.
//
//   - INSERT writes every column sent, with OVERRIDING SYSTEM VALUE so identity
//     columns keep the source's values.
//   - UPDATE sets the columns sent, except an unchanged TOAST value (left exactly
//     as it is, never written) and identity or generated columns, and finds the
//     row by its old key.
//   - UPDATE and DELETE find the row by the target's key (replica identity
//     index, else primary key) when the old values include it; without one they
//     match every old column NULL-safely as text and touch exactly one row, even
//     among duplicates.
//   - TRUNCATE truncates all the source's tables in one statement, with RESTART
//     IDENTITY and CASCADE when the source used them.
//
// The session runs like PostgreSQL's own apply worker: session_replication_role
// = replica (user and foreign-key triggers do not fire) and an empty search_path.
// Every row it writes carries the origin (pg_xact_commit_timestamp_origin), and
// the local capture drops transactions from pgduet origins: that is the no-echo
// basis.
//
// # Conflicts
//
// Conflicts are detected per change from the statement's own outcome, never by
// reading the row first: a unique violation (23505) on INSERT is insert_exists
// and on UPDATE update_exists, an UPDATE that matched no row is update_missing,
// a DELETE that matched none is delete_missing. detect names the kind and
// resolve decides, per kind and table policy (Config.Policy), what happens:
//
//   - fail: the local transaction is rolled back, the progress does not move,
//     and Apply returns a *ConflictError naming the kind, table and key; the
//     event is recorded in pgduet.conflicts (both rows) on a connection of its
//     own. pgduet.skip(id) and a new Open leave exactly that change out.
//   - ignore: the change has no effect (INSERT ... ON CONFLICT DO NOTHING
//     reports a collision as 0 rows), the transaction goes on.
//   - overwrite: the change is resolved at its position by statements of its
//     own (delete the colliding rows, then insert or update); see resolve.go
//     for how a pass is rolled back to its savepoint and replayed up to the
//     conflict, which costs round trips only when a conflict happens.
//   - last_write_wins: UPDATE and DELETE apply only when the remote change
//     is newer than the row (pgduet.lww_remote_wins in their WHERE clause), an
//     INSERT fails its RETURNING check (PD001) on a key a newer local delete
//     left a tombstone for; a row count of 0, or that error, is decided at its
//     position like overwrite (lww.go: kept_local, kept_delete, overwritten,
//     inserted; kinds update_older and delete_older). Replayed DDL is followed
//     by pgduet.lww_sync_all, which keeps the tombstone triggers on the
//     tables (DDLRules.SyncLWW).
//   - delete_missing is skipped under every policy.
//
// Conflicts the transaction survives are written to pgduet.conflicts inside
// it, so they are recorded exactly once.
//
// # DDL from the peer (SPEC §6.4)
//
// DDL arrives as inserts into pgduet.ddl_queue (change.DDLQueue), in place
// among the transaction's row changes; they are never applied as rows. Apply
// groups them per client query message (txid, backend pid, statement time,
// query), and ddlparse splits the query, matches the rows to the statements
// that fired them and rewrites each for Config.DDL's mapping. Each statement is
// then replayed, denied (ddl.allow/deny: skipped, recorded), left out
// (ddl_unselected: it touches nothing the config selects) or, when it cannot
// be replayed faithfully, a ddl_unsupported event. A transaction with DDL runs
// as segments inside one local transaction: BEGIN and the origin setup, then
// in order each statement (simple protocol, with the source's search_path
// mapped and the source's role when it exists here; then both are reset) and
// each run of row changes between queue rows (one pipeline, its tables read
// from the catalog again after DDL). CREATE TABLE AS and SELECT INTO are moved
// before their rows, which PostgreSQL logs before the DDL's queue rows.
//
// Under the fail policy a ddl_unsupported event, or a replayed statement that
// fails (*DDLError, ddl_failed; retried by the supervisor within
// retry.other), rolls the transaction back and is recorded in
// pgduet.conflicts as stopped, on a connection of its own (the apply
// session carries the origin). A DBA who handled it runs pgduet.skip(id); the
// next Open reads the request, and the event is skipped, in the applied
// transaction, as skipped_by_dba. Replayed DDL is not captured on this node:
// the event triggers do not fire in replica mode.
package apply
