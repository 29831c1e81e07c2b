// Package transport carries one direction of a pair between two agents: the
// sending agent's captured transactions to the receiving agent's apply, and the
// receiving agent's acks back (DESIGN.md §1):
//
//	capture ─► filter/map ─► Stream.Send ══ gRPC (mutual TLS) ══► Server ─► Session.Apply ─► one local tx
//	   ▲                                                                                   │
//	   └─────────── Stream.Acks (end LSN committed on the peer) ◄──── Ack ◄────────────────┘
//
// East→west is east's Stream (a client, Dial) talking to west's Server. The
// same two processes run west→east the other way round, on a second connection.
//
// # Invariants owned here
//
// Acknowledge only what the peer committed (§2.1): the Server sends Ack{end LSN}
// for a transaction only after Session.Apply returned nil for it, and Apply
// returns nil only once the transaction and its origin progress are committed on
// the receiving database. Nothing else is durable when an Ack is sent: frames
// received but not applied are in memory only and are lost with the stream;
// the sender resends them from the resume position of the next stream.
//
// Resume by handshake (§2.2): HelloReply carries the receiver's origin progress
// (what Receiver.Open returned); the sender starts its slot there.
//
// Transactions stay whole and ordered (§2.3): frames of one transaction never
// interleave with another's, the Server hands Apply only whole transactions, in
// stream order, one at a time (a GroupSession gets the ones that have already
// arrived together, up to maxGroupTxs), and acks them in that order, each
// only once committed; the client checks each Ack against the oldest unacked
// transaction.
//
// Bounded memory (§4): a Stream has at most MaxInFlightTx transactions and
// MaxInFlightBytes bytes (change.Tx.Size) unacked, so a slow peer blocks Send and
// back-pressures capture. Large transactions travel in chunks of about 1 MiB.
// A transaction whose changes pass ServerConfig.SpillBytes is assembled in a
// spill file (change.Spill) instead of memory, and a spilled transaction is
// sent window by window from its file.
//
// # Frames
//
// One bidirectional gRPC stream, Peer.Replicate (proto/pgduet.proto):
//
//	sender → receiver                         receiver → sender
//	Hello{pair, from, to, version, digest}
//	                                          HelloReply{resume LSN}   (or the stream ends: refused)
//	Relation{id 1, ...}                       (before the first change that uses it)
//	TxChunk{begin, changes…, commit}          (a small transaction: one chunk)
//	TxChunk{begin, changes…}                  (a big one: begin with the first batch,
//	Relation{id 2, ...}                        more batches, relations as needed,
//	TxChunk{changes…}                          commit on the last chunk)
//	TxChunk{changes…, commit}
//	                                          Ack{end LSN}             (one per transaction, in order)
//	…                                         …
//
// Relations: the sender defines each *change.Relation it uses with a Relation
// frame carrying a per-stream id, before the first change that refers to it; a
// new Relation value (the table changed shape) gets a new id. The receiver
// builds one *change.Relation per Relation frame, so changes that shared a
// pointer on the sending side share one on the receiving side. A change that
// refers to an id not defined yet is a protocol error.
//
// Values travel as kind (null, unchanged TOAST, text) plus bytes; the three
// kinds stay distinct, and text keeps its exact bytes (an empty string is text,
// not NULL). Commit times arrive in UTC.
//
// # Initial sync calls
//
// Besides Replicate, the DDL source's server answers the initial sync's calls
// (initial.go) from the other agent, each with a Hello checked like
// Replicate's: Snapshot (a server stream that holds an exported snapshot
// until the caller ends it), Schema and Copy (server streams of 256 KiB
// DataChunks: pg_dump output, COPY text of one table) and Sequences. A
// ServerConfig without a Source refuses them.
//
// # Errors
//
// The receiver refuses a stream whose Hello does not match its configuration
// (protocol version, pair, nodes, config digest; the message names both sides'
// values), or when Open fails. Apply errors, protocol errors and shutdown end
// the stream with a gRPC status; the Stream reports those as *RemoteError, with
// Permanent set for configuration mismatches, protocol errors and errors the
// receiver marked with Permanent. Every other error of a Stream is a failure of
// the connection (dial, TLS, lost peer) and is retryable. Keepalives end a
// stream whose peer stopped answering within about 20 s.
//
// One stream per direction: when the peer dials again while an older stream is
// still open (it has not noticed the old one died), the Server ends the old
// stream and closes its Session before it calls Open for the new one.
package transport
