// Package localpg starts throwaway local PostgreSQL servers (initdb + pg_ctl in a
// temporary directory, loopback and a unix socket only), for the test harness
// (agent/pgtest) and for `pgduet demo`.
//
// Servers are configured for logical replication (wal_level=logical,
// track_commit_timestamp=on) and for speed (fsync=off: throwaway data only).
// initdb refuses to run as root, so when the caller is root the server runs as
// the unprivileged "postgres" OS user, which owns the directory. Binaries come
// from $PG_BIN, PATH, or /usr/lib/postgresql/<newest>/bin.
//
// TCP connections use scram-sha-256 with the superuser password Password; the
// unix socket trusts local connections.
package localpg
