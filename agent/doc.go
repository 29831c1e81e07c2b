// Package agent is one pgduet agent: the sidecar next to one node's database. It
// wires the stages of the data path and supervises them (DESIGN.md §1):
//
//	local DB ─► capture ─► transport.Stream ══► peer's transport.Server ─► apply ─► peer DB
//	                ▲                                                        │
//	                └─────────── ack (end LSN committed on the peer) ◄───────┘
//
// Each agent runs two directions. The outbound one (this node → peer) captures
// the local database's changes and ships them; the inbound one (peer → this node)
// receives the peer's changes and applies them locally under the replication
// origin pgduet_<pair>_<peer>.
//
// Positions and what is durable:
//   - The inbound side acknowledges a transaction only after apply committed it
//     together with its origin progress (one local transaction). The outbound side
//     reports to its slot only end LSNs the peer acknowledged, plus positions of
//     transactions that produced nothing to ship (echoes, filtered), so no WAL is
//     pinned and nothing unapplied is ever confirmed.
//   - On every (re)connect the receiver answers the handshake with its origin
//     progress and the sender restarts its slot there: restart is idempotent by
//     construction, whatever was killed and when.
//
// Initial sync (initsync.go, package initial): the agent of the node that is
// not the DDL source runs it once, before it accepts the DDL source's stream;
// the DDL source's agent serves it through its transport server. The
// inbound session then drops the changes the copy already holds
// (initial.Skips).
//
// Supervision (supervise.go): each direction runs whole sessions; a session that
// ends with an error is classified (permanent, connection, other) and retried with
// capped exponential back-off within the config's retry windows (retry.connection,
// retry.other), after which the direction is "failed" with its last error. A
// conflict under the fail policy fails the inbound direction at once: the change
// is neither applied nor acknowledged, and a restart of the agent after the DBA
// fixed the data resumes exactly there.
package agent
