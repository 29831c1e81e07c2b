package policies

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a loaded, validated configuration. Every field holds its effective
// value: defaults are filled in and relative file paths are resolved against
// the directory of the file that declares them. A Config is never modified
// after Load/Parse returns it, so it may be shared between goroutines.
type Config struct {
	Pair      Pair
	Nodes     []*Node // exactly two, in declaration order
	Retry     Retry
	Conflicts Conflicts
	DDL       DDL          // effective values, also when there is no ddl block
	Sync      Sync         // effective values, also when there is no sync block
	Throttle  Throttles    // effective values (0 = unlimited when a phase has no block)
	Alert     *Alert       // nil when there is no alert block (alerts off)
	Names     Names        // effective values, also when there is no names block
	Schemas   []*SchemaSel // in declaration order
	Tables    []*TableSel  // in declaration order
	Files     []string     // files that were loaded, in load order
}

// Names is the `names {}` block: the capitalisation of mapped object names
// on the other node (SPEC §4). Case is NamesSource (names keep their case),
// NamesLower or NamesUpper.
type Names struct {
	Case      string
	DeclRange hcl.Range // zero when the config has no names block
}

// The names.case values.
const (
	NamesSource = "source"
	NamesLower  = "lower"
	NamesUpper  = "upper"
)

// Fold returns name as names.case spells it on the other node: unchanged
// for "source", else with the ASCII letters folded to lower or upper case.
// Like PostgreSQL's own folding of unquoted identifiers in a UTF-8
// database, letters beyond ASCII keep their case.
func (n Names) Fold(name string) string {
	var to func(byte) (byte, bool)
	switch n.Case {
	case NamesLower:
		to = func(c byte) (byte, bool) { return c + 'a' - 'A', c >= 'A' && c <= 'Z' }
	case NamesUpper:
		to = func(c byte) (byte, bool) { return c - ('a' - 'A'), c >= 'a' && c <= 'z' }
	default:
		return name
	}
	var b []byte
	for i := 0; i < len(name); i++ {
		if c, ok := to(name[i]); ok {
			if b == nil {
				b = []byte(name)
			}
			b[i] = c
		}
	}
	if b == nil {
		return name
	}
	return string(b)
}

// Folds reports whether names.case changes names ("lower" or "upper").
func (n Names) Folds() bool { return n.Case == NamesLower || n.Case == NamesUpper }

// Pair is the `pair "NAME" {}` block.
type Pair struct {
	Name      string
	DDLSource string // name of the node whose DDL is replicated
	DeclRange hcl.Range
}

// Node is a `node "NAME" {}` block: one database plus its agent.
type Node struct {
	Name      string
	Database  Database
	Agent     Agent
	DeclRange hcl.Range
}

// Database is the node's `database {}` block. Password and SSLPassword are
// secrets: never log them, never put them in an error message.
type Database struct {
	URL         string // libpq URL or key=value DSN; may itself carry a password
	Password    string
	SSLMode     string // "" (libpq default) or disable|allow|prefer|require|verify-ca|verify-full
	SSLRootCert string
	SSLCert     string
	SSLKey      string
	SSLPassword string

	// secretErr is why Password or SSLPassword could not be read on this
	// machine (an env var or file of the other node's agent); ConnString
	// returns it.
	secretErr error
}

// Agent is the node's `agent {}` block.
type Agent struct {
	Listen   string // host:port the agent listens on for its peer
	Address  string // host:port the peer dials to reach this agent
	Admin    string // host:port of /metrics, /healthz, /status (default DefaultAdmin)
	Insecure bool   // plain TCP between agents; exactly one of Insecure and TLS is set
	TLS      *TLS
}

// TLS is the agent's mTLS material (paths, resolved against the config file's directory).
type TLS struct {
	CAFile, CertFile, KeyFile string
}

// Retry holds the retry windows (both > 0).
type Retry struct {
	Connection time.Duration // a lost database or peer connection
	Other      time.Duration // any other retryable failure
}

// Conflict policies (SPEC §7). PolicyLastWriteWins needs
// track_commit_timestamp = on on both nodes (the agent checks at start).
const (
	PolicyFail          = "fail"
	PolicyIgnore        = "ignore"
	PolicyOverwrite     = "overwrite"
	PolicyLastWriteWins = "last_write_wins"
)

// Conflicts is the pair-level `conflicts {}` block (effective values, also
// when there is no conflicts block).
type Conflicts struct {
	Policy    string        // PolicyFail, PolicyIgnore or PolicyOverwrite; default DefaultConflictPolicy
	Retention time.Duration // how long rows stay in pgduet.conflicts (> 0); default DefaultConflictRetention
}

// The ddl.reverse values: what happens to DDL run on the node that is not
// the pair's ddl_source.
const (
	DDLReverseIgnore = "ignore" // not shipped; the agent logs it
	DDLReverseReject = "reject" // the statement fails on that node
)

// DDL is the pair-level `ddl {}` block: which DDL statements of the DDL
// source are replicated to the other node. Allow and Deny are command-tag
// globs ("CREATE TABLE", "ALTER *", "*"; only ASCII letters, spaces and *),
// stored upper-cased with runs of spaces collapsed to one. A tag is
// replicated when it matches a glob of Allow and none of Deny (deny wins).
// Matching itself is ddlparse.MatchTag's job, not this package's.
type DDL struct {
	Replicate bool      // false: no DDL is replicated at all
	Reverse   string    // DDLReverseIgnore or DDLReverseReject
	Allow     []string  // effective: given, else DefaultDDLAllow()
	Deny      []string  // effective: given, else DefaultDDLDeny()
	DeclRange hcl.Range // zero when the config has no ddl block
}

// The sync.existing_tables values: what the initial sync does when a
// selected table already exists on the other node.
const (
	ExistingTablesError  = "error"  // precheck fails, naming the table
	ExistingTablesIgnore = "ignore" // proceed; the copy keeps existing rows on a key collision
)

// Sync is the pair-level `sync {}` block: the initial sync, from the DDL
// source to the other node, before both directions run incrementally
// (SPEC §8). Effective values, also when there is no sync block.
type Sync struct {
	Schema         bool      // create the selected objects' definitions on the other node first; default true
	Data           bool      // copy the selected tables' rows; default true
	ExistingTables string    // ExistingTablesError (default) or ExistingTablesIgnore
	Parallelism    int       // parallel COPY streams of the initial data copy, 1..64; default DefaultSyncParallelism
	DeclRange      hcl.Range // zero when the config has no sync block
}

// Throttle is a `throttle "PHASE" {}` block: the rates pgduet moves data
// at in that phase. 0 means unlimited; every value is >= 0 (RowsPerSecond
// and QueriesPerSecond are whole numbers; MBPerSecond may be a fraction).
type Throttle struct {
	RowsPerSecond    float64
	MBPerSecond      float64
	QueriesPerSecond float64 // only in the initial phase: always 0 in Incremental
}

// Throttles holds the effective throttle of each phase (a phase without a
// block is unlimited). The receiving agent drives the initial copy, the
// sending agent throttles incremental changes.
type Throttles struct {
	Initial     Throttle // throttle "initial": the initial data copy
	Incremental Throttle // throttle "incremental": the change stream after it
}

// Alert is the pair-level `alert {}` block: an operator's webhook receives
// JSON events when a direction fails or recovers and when its lag crosses
// LagThreshold (SPEC §9). Webhook may carry a token: treat it as a secret
// (never log it, never put it in an error message); it is not part of the
// digest.
type Alert struct {
	LagThreshold time.Duration // > 0; default DefaultAlertLagThreshold
	Webhook      string        // absolute http:// or https:// URL with a host
	DeclRange    hcl.Range
}

// Op is a DML kind that a selection replicates.
type Op string

// The operations, in canonical order.
const (
	OpInsert   Op = "insert"
	OpUpdate   Op = "update"
	OpDelete   Op = "delete"
	OpTruncate Op = "truncate"
)

var allOps = []Op{OpInsert, OpUpdate, OpDelete, OpTruncate}

// SchemaSel is a `schema "NAME" {}` block: the tables of schema Name whose
// name matches one of Tables and none of Exclude. Name is a catalog name (the
// label is read like a table label: unquoted folds to lower case, "\"Sales\""
// keeps its case). Globs match catalog table names, case-sensitively, and use * (any run), ? (one character),
// [abc], [a-z], [!abc] and \ to escape, and match the whole table name.
//
// Name is the schema's name on the DDL source node (pair.ddl_source); Target
// is its name on the other node (the `target` attribute, read like the
// label; effective: given, else Name).
type SchemaSel struct {
	Name       string
	Target     string
	Tables     []string
	Exclude    []string
	Operations []Op // effective: given, else the default
	DeclRange  hcl.Range
}

// TableSel is a `table "schema.table" {}` block. Schema and Name are catalog
// names (a label part written unquoted is folded to lower case, a
// double-quoted part is kept as written, as PostgreSQL does).
//
// Schema and Name are the table's names on the DDL source node;
// TargetSchema and TargetName its names on the other node (the `target`
// attribute, "schema.table", read like the label; effective: given, else
// the Target of the schema block of Schema if there is one, else Schema,
// and Name).
//
// Conflicts is the table's effective conflict policy: its own `conflicts {
// policy = ... }` sub-block's, else the pair's (Config.Conflicts.Policy).
//
// Columns is the `columns` attribute: the column subset, catalog names on
// the DDL source (each element read like one part of the label), distinct,
// in the order given; nil when it is omitted (every column is replicated).
// ColumnTargets holds the `column "NAME" { target = "NEW" }` sub-blocks:
// DDL source column name → its name on the other node, only real renames (a
// block whose target is its own name is dropped); nil when there are none.
// The load checks that the renamed columns are in Columns (when given) and
// that no two replicated columns end up with the same name on the other
// node, as far as the config can tell (see [Config.ColumnsOn]).
type TableSel struct {
	Schema, Name             string
	TargetSchema, TargetName string
	Operations               []Op   // effective: given, else its schema block's, else the default
	Conflicts                string // effective policy
	Columns                  []string
	ColumnTargets            map[string]string
	// Where is the row filter: a boolean SQL expression over the table's
	// columns (same names on both nodes: it cannot go with column
	// renames), evaluated by the sending agent; "" for every row.
	Where     string
	DeclRange hcl.Range
}

// Node returns the node called name; for an unknown name the error lists the
// nodes the config defines.
func (c *Config) Node(name string) (*Node, error) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		names[i] = fmt.Sprintf("%q", n.Name)
	}
	return nil, fmt.Errorf("unknown node %q: the config defines %s", name, strings.Join(names, " and "))
}

// Peer returns the node that is not name, or nil when name is not a node.
func (c *Config) Peer(name string) *Node {
	if len(c.Nodes) != 2 {
		return nil
	}
	switch name {
	case c.Nodes[0].Name:
		return c.Nodes[1]
	case c.Nodes[1].Name:
		return c.Nodes[0]
	}
	return nil
}

// Selected reports whether the table schema.table (catalog names, as
// pgoutput reports them) is selected, and with which operations. A table
// block selects its table (even one its schema block excludes) and its
// operations win; otherwise a schema block selects the tables whose name
// matches one of its globs and none of its excludes. The returned slice is
// shared: do not modify it. Callers on the hot path should cache the answer
// per relation.
func (c *Config) Selected(schema, table string) (ops []Op, ok bool) {
	for _, t := range c.Tables {
		if t.Schema == schema && t.Name == table {
			return t.Operations, true
		}
	}
	for _, s := range c.Schemas {
		if s.Name == schema && s.selects(table) {
			return s.Operations, true
		}
	}
	return nil, false
}

// policy returns the conflict policy of the table schema.table (catalog
// names of the DDL source): its table block's effective policy, else the
// pair's. PolicyOn is the exported form, in either node's names.
func (c *Config) policy(schema, table string) string {
	for _, t := range c.Tables {
		if t.Schema == schema && t.Name == table {
			return t.Conflicts
		}
	}
	return c.Conflicts.Policy
}

// selectsFolded is selects for the other node's name of a table under
// names.case: the globs are folded as the table names were.
func (s *SchemaSel) selectsFolded(table string, names Names) bool {
	f := &SchemaSel{Tables: make([]string, len(s.Tables)), Exclude: make([]string, len(s.Exclude))}
	for i, g := range s.Tables {
		f.Tables[i] = names.Fold(g)
	}
	for i, g := range s.Exclude {
		f.Exclude[i] = names.Fold(g)
	}
	return f.selects(table)
}

func (s *SchemaSel) selects(table string) bool {
	in := false
	for _, g := range s.Tables {
		if globMatch(g, table) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, g := range s.Exclude {
		if globMatch(g, table) {
			return false
		}
	}
	return true
}

// PublicationSchemas returns the names of the schemas that have a schema
// block, sorted: the publication covers them with FOR TABLES IN SCHEMA.
func (c *Config) PublicationSchemas() []string {
	out := make([]string, 0, len(c.Schemas))
	for _, s := range c.Schemas {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// PublicationTables returns {schema, table} of the table blocks whose schema
// has no schema block (those are covered by PublicationSchemas), sorted.
func (c *Config) PublicationTables() [][2]string {
	inSchema := map[string]bool{}
	for _, s := range c.Schemas {
		inSchema[s.Name] = true
	}
	var out [][2]string
	for _, t := range c.Tables {
		if !inSchema[t.Schema] {
			out = append(out, [2]string{t.Schema, t.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}
