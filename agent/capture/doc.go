// Package capture is the first stage of the sending side: it reads the node's own
// changes from its logical replication slot and hands them on as whole committed
// transactions (change.Tx), and it reports back to the slot how far the peer has
// durably applied them.
//
//	DML ─► WAL ─► slot pgduet_<pair>_<node> ─► capture ─► filter/map ─► transport ══► peer apply
//	                        ▲                    │  ▲                                     │
//	                        └── flush position ──┘  └────────── Ack(end LSN) ◄────────────┘
//
// Setup creates the publication pgduet_<pair> and the slot (pgoutput) once per
// start; Run streams the slot with pgoutput protocol version 1 and no optional
// features (no messages, no streaming, no binary, no two-phase), so anything else
// arriving in the stream is an error, never skipped.
//
// # What capture drops (DESIGN.md §2 invariants 5 and 6)
//
// Every drop is counted in Stats:
//
//   - echo: a transaction whose pgoutput Origin message names an origin starting
//     with pgduet_<pair>_ was applied here by pgduet on behalf of the peer
//     (PostgreSQL 15's pgoutput has no origin filter); the whole transaction is
//     dropped (TxEcho);
//   - changes to tables in schema pgduet, pgduet's own bookkeeping
//     (ChangesInternal), except the inserts into pgduet.ddl_queue that carry
//     captured DDL: under DDLForward (this node is the DDL source) they are
//     delivered in place, under DDLIgnore they are dropped, each command
//     logged once (DDLIgnored);
//   - changes the Filter rejects (ChangesFiltered);
//   - changes a table's row filter (Config.Where) leaves out, decided by
//     this node's database before delivery, UPDATEs leaving or entering
//     the filter becoming DELETEs or INSERTs (rowfilter.go; counted in
//     ChangesFiltered);
//   - a transaction left with no change is not delivered (TxFiltered).
//
// Config.Map renames the tables of delivered changes to the peer's names
// (SPEC §4 target) and Config.Columns keeps and renames their columns (a
// table block's columns and column blocks; key columns are always sent);
// the Filter and the row filters see this node's names and every column.
//
// # Positions (invariants 1, 7 and 8)
//
// A transaction's position is its Commit message's TransactionEndLSN
// (change.Tx.EndLSN), never XLogData.WALStart (0/0 for some messages). Capture
// keeps an ordered queue of positions received (flushQueue): delivered
// transactions wait for Ack; echo and filtered transactions, and keepalive
// positions received between transactions, need no ack. The flush position
// reported to the slot is the end of the longest acked-or-free prefix, so it never
// passes a transaction the peer has not committed, while an idle or fully
// filtered database still advances (a heartbeat writes a little WAL every
// HeartbeatInterval so that there is a position to advance to). Write, flush and
// apply positions are always set explicitly in the status update; write is 0
// while nothing is confirmable, because pglogrepl would otherwise copy it into
// flush.
//
// Status updates go out every StatusInterval (capped at a third of the server's
// wal_sender_timeout), at once when the server asks, and shortly after the
// confirmable position moves. Only Run's goroutine touches the connection; it
// interleaves receives (with a deadline) and status updates. When Next is not
// called, at most a few decoded transactions wait in memory and Run stops reading
// the socket, but keeps sending status updates, so a slow peer back-pressures the
// server instead of growing memory or timing out the connection. A
// transaction whose changes pass Config.SpillBytes moves them to a spill file
// (change.Spill) as it is decoded, its row filters decided on the way, so a
// transaction of any size holds at most that much memory.
//
// # What is durable when
//
//   - Next returns a transaction that is committed on this node and complete.
//     Nothing about it is confirmed to the slot yet: until Ack covers it, a new
//     session delivers it again.
//   - Ack(lsn) returns at once; Run reports the new flush position shortly after.
//     The slot's confirmed_flush_lsn moves only with that report (the server
//     writes it to disk later, at a checkpoint). The receiving node's replication
//     origin progress remains the resume point (DESIGN.md §2 invariant 2), so a
//     report lost in a crash costs nothing but a later WAL recycle.
//   - Setup returns nil once the publication and slot are committed.
package capture
