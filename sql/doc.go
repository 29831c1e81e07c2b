// Package sql holds the SQL that pgduet installs in each database (schema pgduet
// and the objects in it), embedded in the binary.
//
// Files are named NNNN_name.sql and applied in order, in one transaction, under an
// advisory lock so two agents or two `run`s never install concurrently. Each file
// is idempotent (IF NOT EXISTS, CREATE OR REPLACE) and its version is recorded in
// pgduet.schema_version; installing twice is harmless. A DBA who prefers an
// extension can build one from these same files.
package sql
