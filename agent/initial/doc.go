// Package initial is the initial sync (SPEC §8): the selected schema and rows
// of the DDL source, copied once to the other node, meeting the incremental
// stream with no gap and no overlap.
//
// The receiving node drives it (Run) and keeps its state in its own database
// (pgduet.initial_sync, pgduet.initial_sync_tables), in the same transactions
// as what the state records. The DDL source's agent serves it (Source) over
// the agents' connection (transport.SourceClient):
//
//	Snapshot   a temporary slot with an exported snapshot gives the LSN L the
//	           snapshot corresponds to; the snapshot is re-exported by a
//	           transaction held open while the copy runs
//	Schema     pg_dump --schema-only --snapshot, pre-data then post-data
//	Copy       COPY (SELECT replicated columns FROM table WHERE filter) TO STDOUT
//	           under the snapshot, one table or one part of a table (a
//	           range of its heap blocks) per call, parallel calls
//	Sequences  the selected sequences' values
//
// On the receiving node:
//
//  1. The schema step runs the pre-data statements and the keys (primary
//     keys, unique constraints and indexes, replica identities) from the
//     post-data section in one transaction, mapped by ddlparse, in replica
//     mode (no event trigger fires), and records L as the schema LSN and
//     the rest of post-data for later.
//  2. Each table is copied by COPY FROM in one transaction that also
//     records the table as copied at L; a table larger than SplitBytes in
//     parts (block ranges, read with a TID range scan), each in one such
//     transaction, which the workers copy in parallel. A killed copy leaves
//     the table, or the part, as it was; a restart copies what is not
//     recorded yet under a new snapshot L2 (and records L2 for it). The
//     parts of a table copied only in part came from the old snapshot: their
//     rows (found by the copying transaction's xid as xmin) and records are
//     deleted before the new snapshot is taken, and the new snapshot waits
//     until this node's changes so far are applied on the source (so a
//     copied row deleted here is not copied back). Foreign keys between
//     tables of different snapshots are added NOT VALID, and validated when
//     they hold. Rows are written under
//     origins of their own (pgduet_<pair>_<source>-copy-<n>, one per worker:
//     PostgreSQL 15 lets one session at a time use an origin), so the
//     receiving node's own capture does not send them back.
//  3. Sequences are set, the rest of post-data (secondary indexes, foreign
//     keys, triggers ...) runs, and the state becomes done.
//
// The DDL source's stream starts at its slot, which is older than every
// snapshot: the receiving agent drops a table's changes from transactions
// that committed before the LSN its rows were copied at, and DDL committed
// before the schema LSN (Skips). Until the state is done it refuses the
// stream, so nothing is applied to a table before its rows are there.
//
// Writes on the receiving node during the copy are captured by its slot
// (created before the copy) and reach the DDL source as usual. A key that
// both nodes write during the copy is a conflict: with existing_tables =
// "ignore" the receiving node's row is kept (the copy goes through a staging
// table and INSERT ... ON CONFLICT DO NOTHING); with "error" the table's COPY
// fails on the duplicate key and the sync stops, naming the table.
package initial
