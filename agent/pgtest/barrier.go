package pgtest

import "github.com/pgduet/pgduet/agent/localpg"

// The position helpers live in localpg (the demo uses them too); tests reach them here.
var (
	// WaitFor polls cond until it returns true, an error, or ctx ends.
	WaitFor = localpg.WaitFor
	// InsertLSN returns the source's current WAL insert position.
	InsertLSN = localpg.InsertLSN
	// OriginProgress returns a replication origin's progress (0 when it does not exist).
	OriginProgress = localpg.OriginProgress
	// Barrier waits until everything committed on src before the call is applied on dst.
	Barrier = localpg.Barrier
)
