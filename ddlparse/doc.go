// Package ddlparse is the pure, database-free core of DDL replication (SPEC
// §6.4): it decides which statements of a captured query string the peer
// replays, and with which names. It is the only package of pgduet that
// imports pg_query_go (PostgreSQL's own parser, built with cgo; a cold build
// takes about a minute), so that cost is paid once.
//
// # Place in the data path
//
// On the DDL source, event triggers (ddl_command_end and sql_drop) write one
// queue row per object a command touched into pgduet's queue table, in the
// command's own transaction. Each row carries TG_TAG, the object's type and
// identity, and current_query(): the whole query string the client sent.
// The rows reach the peer in WAL order, between the row changes of the same
// transaction. For each group of rows with the same (txid, pid, query) the
// apply stage calls
//
//	stmts, err := ddlparse.Split(query)          // parse, classify
//	plan, err := ddlparse.Match(stmts, events)   // which statements, where
//	for _, r := range plan {                     // at queue row r.At:
//	    if !policy allows r.Statement.Tag / r.Statement.Objects { skip, log, count }
//	    sql, err := ddlparse.Rewrite(r.Statement, mapping, ddlparse.Options{SearchPath: row.SearchPath})
//	    // SET search_path = mapping.SearchPath(row.SearchPath); SET ROLE row.Role; exec sql
//	}
//
// and treats every error that matches ErrUnsupported as a ddl_unsupported
// conflict (SPEC §7): nothing is dropped silently.
//
// # Why matching exists
//
// current_query() is the whole client string for every command in it, and
// for DDL run inside a DO block or a function it is the top-level DO or
// call. Replaying the query once per row, or even once per group, would run
// every statement of "CREATE TABLE t(...); INSERT INTO t ...; ALTER TABLE t
// ...; UPDATE t ..." again: the DDL twice and the DML, which already
// arrived as row changes, a second time. Match maps the rows back to the
// statements that fired them (by tag, in order, using the identities the
// rows carry) so that exactly the DDL statements that ran are replayed,
// exactly once, at the position of their first row; DML, queries and
// transaction control are never replayed. Rows that no statement of the
// string can have fired mean the DDL ran inside a routine body, which has no
// replayable text: Match reports that instead of guessing.
//
// # Capture contract
//
// Match expects the rows of one group in queue order, as PostgreSQL wrote
// them: for each command its sql_drop rows, then its ddl_command_end rows,
// one per row of pg_event_trigger_ddl_commands() (extension members may be
// left out) and of pg_event_trigger_dropped_objects(). Rows on temporary
// objects may be included; they are ignored. Two improvements make it exact
// where it otherwise relies on the identities the rows carry:
//
//   - Event.Command, a per-query-message number of the firing command;
//   - a group key that includes statement_timestamp(), so that one string
//     sent twice in one transaction forms two groups.
//
// Unqualified names in Statement.Objects are as written; the rows' schema
// names (or Rewrite's resolution) say where they live.
//
// # What the package knows
//
//   - Split uses pg_query.Parse and cuts each statement's original text by
//     the byte offsets PostgreSQL reports; it never falls back to a scanner
//     split (which silently drops statements that do not parse).
//     SplitScript does the same for a psql script such as pg_dump's output,
//     skipping the \restrict and \unrestrict lines pg_dump writes.
//   - Statement.Tag is the tag event triggers report (SELECT ... INTO reports
//     "SELECT INTO", verified on PostgreSQL 15.18).
//   - Statement.Unsupported marks statements that can never be replayed:
//     DO and CALL (ReasonRoutineBody), commands that cannot run inside the
//     apply transaction (CONCURRENTLY, VACUUM, CREATE DATABASE, ALTER SYSTEM:
//     ReasonTransactionBlock), commands no event trigger sees (roles,
//     databases, tablespaces, event triggers: ReasonNotCaptured) and
//     subscriptions (ReasonNodeLocal). ALTER TYPE ... ADD VALUE is supported:
//     since PostgreSQL 12 it runs inside a transaction block.
//   - Rewrite maps schema, table and column names everywhere a statement
//     uses them and deparses the tree (pg_query.Deparse), so its output is
//     normalised SQL, not the source text. Only trees that came from
//     pg_query.Parse are deparsed; statements the deparser is known to
//     crash on or to change are refused first; the output must parse back
//     to the very tree that was deparsed; a panic becomes an error. What a
//     mapping cannot express (SELECT * or JOIN ... USING over renamed
//     columns, a RENAME across mapped schemas, a string routine body that
//     names a renamed object) is an error, not a guess.
//   - Mapping.Fold (names.case) spells every relation of Mapping.FoldSchemas
//     and of Mapping.Tables, with its columns, index and constraint names,
//     as the fold gives them; explicit table and column entries win. A
//     folded column keeps no source output name in a view (the view's own
//     columns fold too). A string routine body that quotes a name the fold
//     changes, or any string body under an upper-case fold, is an error.
//   - MatchTag implements the allow/deny globs of the ddl policy.
//
// Everything here is a pure function of its arguments and safe for
// concurrent use.
package ddlparse
