// Package pgtest starts real PostgreSQL servers for pgduet's tests: no mocks.
//
// A Cluster is one server (initdb + pg_ctl) in a temporary directory, listening on
// 127.0.0.1 and on a unix socket inside that directory, configured for logical
// replication (wal_level=logical, track_commit_timestamp=on) and for speed
// (fsync=off). initdb refuses to run as root, so when the tests run as root the
// server runs as the unprivileged "postgres" OS user, which owns the directory.
//
// Binaries are found in $PG_BIN, on PATH, or in /usr/lib/postgresql/<newest>/bin.
// When they are missing the test is skipped, unless PGDUET_REQUIRE_PG=1 (set by
// `make test` and CI), which turns the skip into a failure: a green run never means
// "skipped everything".
//
// Clusters are shared within a test package (Shared, stopped by Main) and each test
// takes a fresh database (NewDB). Tests wait on positions, never on time: Barrier
// reads the source's WAL insert position, commits a marker, and polls the peer's
// replication-origin progress until it passes that position.
package pgtest
