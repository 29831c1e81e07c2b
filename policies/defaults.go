package policies

import "time"

// Defaults, in one place. A setting that is absent from the config takes the
// value below; the SPEC §4 example shows the same values.
//
//	setting                     default                         why
//	agent.admin                 "127.0.0.1:7421"                admin endpoint on loopback only (SPEC §11)
//	retry.connection            720m                            keep retrying a lost database/peer connection 12 h
//	retry.other                 10m                             keep retrying other failures 10 min
//	conflicts.policy            "fail"                          stop the direction, lose nothing
//	conflicts.retention         720h                            rows stay in pgduet.conflicts 30 days
//	table conflicts.policy      the pair's conflicts.policy     one policy for the pair unless a table says otherwise
//	ddl.replicate               true                            the DDL source's schema changes follow
//	ddl.reverse                 "ignore"                        DDL on the other node: not shipped, logged
//	ddl.allow                   ["*"]                           every command tag ...
//	ddl.deny                    ["DROP DATABASE"]               ... except dropping a database
//	sync.schema                 true                            the initial sync creates the selected objects on the other node
//	sync.data                   true                            ... and copies their rows
//	sync.existing_tables        "error"                         a selected table that already exists there fails precheck
//	sync.parallelism            4                               parallel COPY streams (1..64)
//	throttle.rows_per_second    0                               0 = unlimited, in both phases
//	throttle.mb_per_second      0                               0 = unlimited, in both phases
//	throttle.queries_per_second 0                               0 = unlimited (initial phase only)
//	alert                       none                            alerts are off without an alert block
//	alert.lag_threshold         30s                             lag above this sends lag_over_threshold
//	alert.webhook               (required)                      no default: an alert block must name it
//	schema.tables               ["*"]                           every table of the schema
//	schema.exclude              []                              nothing excluded
//	schema/table .operations    ["insert","update","delete"]    TRUNCATE must be opted in
//	schema.target               the schema's own name           no mapping
//	table.target                schema block's target, name     no mapping beyond the schema's
//	selections                  none                            nothing is synced unless selected
const (
	DefaultAdmin             = "127.0.0.1:7421"
	DefaultRetryConnection   = 720 * time.Minute
	DefaultRetryOther        = 10 * time.Minute
	DefaultConflictPolicy    = PolicyFail
	DefaultConflictRetention = 720 * time.Hour // 30 days
	DefaultDDLReplicate      = true
	DefaultDDLReverse        = DDLReverseIgnore

	DefaultSyncSchema         = true
	DefaultSyncData           = true
	DefaultSyncExistingTables = ExistingTablesError
	DefaultSyncParallelism    = 4
	DefaultAlertLagThreshold  = 30 * time.Second
	DefaultNamesCase          = NamesSource
)

// DefaultSync returns the effective sync settings of a config without a
// sync block.
func DefaultSync() Sync {
	return Sync{Schema: DefaultSyncSchema, Data: DefaultSyncData, ExistingTables: DefaultSyncExistingTables, Parallelism: DefaultSyncParallelism}
}

// DefaultDDLAllow returns the command-tag globs of ddl.allow when it is not
// given (a fresh slice each call).
func DefaultDDLAllow() []string { return []string{"*"} }

// DefaultDDLDeny returns the command-tag globs of ddl.deny when it is not
// given (a fresh slice each call).
func DefaultDDLDeny() []string { return []string{"DROP DATABASE"} }

// DefaultDDL returns the effective ddl settings of a config without a ddl
// block.
func DefaultDDL() DDL {
	return DDL{Replicate: DefaultDDLReplicate, Reverse: DefaultDDLReverse, Allow: DefaultDDLAllow(), Deny: DefaultDDLDeny()}
}

// DefaultOperations returns the operations replicated for a selection that
// does not name any (a fresh slice each call).
func DefaultOperations() []Op { return []Op{OpInsert, OpUpdate, OpDelete} }

// DefaultTables returns the table globs of a schema block without `tables`.
func DefaultTables() []string { return []string{"*"} }

// Limits of names (SPEC §1). Slot names are pgduet_<pair>_<node>; with both
// names at most 20 characters they stay well under PostgreSQL's 63-byte limit.
const (
	maxNameLen       = 20
	maxIdentifierLen = 63 // NAMEDATALEN - 1: PostgreSQL truncates longer identifiers
	maxFileSize      = 1 << 20
)

// Range of sync.parallelism.
const (
	minSyncParallelism = 1
	maxSyncParallelism = 64
)
