// Package policies loads, validates and evaluates the pgduet configuration.
//
// The HCL config (SPEC §4) is the product's main interface: one file, or a
// directory of *.hcl files merged Terraform-style, shared by both agents of a
// pair. This package turns it into a [Config] that the rest of pgduet treats
// as settled fact. It sits before the data path: capture, transport and apply
// only ever ask a loaded Config questions ([Config.Selected],
// [Config.SelectedOn], [Config.PolicyOn], [Config.ColumnsOn],
// [Config.MapTable], [Config.PublicationSchemas], [Config.Node],
// [Config.Digest], ...).
//
// Invariant owned here: validate once, at load. [Load] and [Parse] either
// return a Config whose every value has been checked (names, addresses,
// durations, enums, globs, cross references, defaults filled in) or return
// nil and hcl.Diagnostics listing every problem found, each with a source
// range, a summary and a detail. Nothing at run time re-checks the config.
//
// Shape (Terraform style): one declared hcl.BodySchema per block type and one
// decodeXBlock function per block type; decoded structs keep their DeclRange
// so later checks (duplicates, cross references) can point at the source.
//
// Name mapping: the names in schema and table blocks are the DDL source's
// (pair.ddl_source); `target` names the same schema or table on the other
// node. The mapping must be one-to-one (checked at load, see mapping.go);
// [Config.MapSchema], [Config.MapTable], [Config.SelectedOn] and the other
// ...On methods answer in either node's names, [Config.SchemaTargets] and
// [Config.TableTargets] give the forward mapping for DDL rewriting. The
// ddl block's effective values are in [Config.DDL]; matching command tags
// against its globs is ddlparse's job.
//
// Conflicts (SPEC §7): the pair-level conflicts block sets the policy
// ("fail", "ignore", "overwrite" or "last_write_wins") and how long rows stay in
// pgduet.conflicts ([Config.Conflicts]); a table block's conflicts
// sub-block overrides the policy for its table ([TableSel.Conflicts] is the
// effective one). [Config.PolicyOn] answers per table in either node's
// names.
//
// Columns: a table block's `columns` list replicates only those columns
// ([TableSel.Columns]) and its `column "NAME" { target = "NEW" }`
// sub-blocks rename columns on the other node ([TableSel.ColumnTargets]).
// Both are checked at load (names, duplicates, renames of columns left
// out, two columns ending up with one name); [Config.ColumnsOn] answers in
// either node's names with a [ColumnMap], whose Check compares it with the
// columns a relation really has.
//
// Row filters: a table block's `where` ([TableSel.Where], [Config.WhereOn])
// is kept as text; it may not go with column renames. Parsing it is left to
// ddlparse (pg_query, cgo), which `validate` and the agent run: this package
// stays pure Go.
//
// Initial sync, throttles and alerts: the sync block's effective values are
// in [Config.Sync] (schema and data copied from the DDL source,
// existing_tables, parallelism), the throttle "initial" and "incremental"
// blocks' rates in [Config.Throttle] (0 = unlimited), and the alert block in
// [Config.Alert] (nil without one: alerts off). Sync and throttles are in
// the digest; the alert block is not, and its webhook, which may carry a
// token, is never quoted in a diagnostic.
//
// names.case ([Config.Names]) folds, on the other node, the names the
// config does not spell out: schema and table blocks without target get
// the folded name as their effective target at load, the listed columns
// of a table block theirs (recorded in ColumnTargets), and on the DDL
// source MapTable folds the tables of a schema block and [ColumnMap.Map]
// their columns. The other node cannot invert the fold without the
// source's catalog: it sends its own names, and the DDL source's applier
// resolves them.
//
// Evaluation is pure: no database, no network. The only I/O is reading the
// config files and the files named by file("path"); env("NAME") reads the
// process environment. HCL has no built-in functions; env and file are the
// only ones defined.
package policies
