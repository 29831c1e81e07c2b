// Package change is the vocabulary every stage of the data path shares: a source
// transaction (Tx), the changes in it (Change), the table they touch (Relation) and
// the column values (Value). It imports nothing of pgduet's, and its only I/O is
// the spill file of a transaction too big to hold in memory (Spill).
//
// Positions are pglogrepl.LSN values. A Tx carries the source commit's end LSN
// (EndLSN): that is the position the receiving node records as its replication
// origin progress and the position the sending node reports as flushed to its slot
// once the peer has committed it (DESIGN.md §2, invariants 1 and 7).
//
// Values travel in PostgreSQL's text format exactly as pgoutput produced them, so
// the apply side can hand them to the server as untyped text parameters and let
// the target column's type input function parse them. User-defined types therefore
// never depend on OIDs, which differ between the two databases.
package change
