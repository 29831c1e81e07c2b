package policies

import "github.com/hashicorp/hcl/v2"

// The policy language (SPEC §4), one hcl.BodySchema per block type. Every
// attribute is optional here: required ones are checked by the decode
// functions, which point at the block when one is missing (HCL's own check
// has no position in merged bodies).

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "pair", LabelNames: []string{"name"}},
	{Type: "node", LabelNames: []string{"name"}},
	{Type: "sync"},
	{Type: "ddl"},
	{Type: "conflicts"},
	{Type: "throttle", LabelNames: []string{"phase"}}, // at most one per phase
	{Type: "retry"},
	{Type: "alert"},
	{Type: "names"},
	{Type: "schema", LabelNames: []string{"name"}},
	{Type: "table", LabelNames: []string{"name"}},
}}

// singletonBlocks may appear at most once in the whole (merged) config.
var singletonBlocks = map[string]bool{
	"pair": true, "sync": true, "ddl": true, "conflicts": true,
	"retry": true, "alert": true, "names": true,
}

var pairSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "ddl_source"}, // required
}}

var nodeSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "database"}, // required
	{Type: "agent"},    // required
}}

var databaseSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "url"}, // required
	{Name: "password"},
	{Name: "sslmode"},
	{Name: "sslrootcert"},
	{Name: "sslcert"},
	{Name: "sslkey"},
	{Name: "sslpassword"},
}}

var agentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "listen"},  // required
		{Name: "address"}, // required
		{Name: "admin"},
		{Name: "insecure"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
}

var tlsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "ca_file"},   // required
	{Name: "cert_file"}, // required
	{Name: "key_file"},  // required
}}

var syncSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "schema"}, {Name: "data"}, {Name: "existing_tables"}, {Name: "parallelism"},
}}

var ddlSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "replicate"}, {Name: "reverse"}, {Name: "allow"}, {Name: "deny"},
}}

// conflictsSchema is the pair-level conflicts block and a table block's
// conflicts sub-block; retention is an error in the latter (it is per pair).
var conflictsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "policy"},
	{Name: "retention"},
}}

// throttleSchema: labels "initial" and "incremental"; queries_per_second
// is an error in the latter (it throttles the initial copy's queries).
var throttleSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "rows_per_second"}, {Name: "mb_per_second"}, {Name: "queries_per_second"},
}}

var retrySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "connection"}, {Name: "other"},
}}

var alertSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "lag_threshold"},
	{Name: "webhook"}, // required
}}

var namesSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "case"},
}}

var schemaSelSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "tables"},
	{Name: "exclude"},
	{Name: "operations"},
	{Name: "target"},
}}

var tableSelSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "operations"},
		{Name: "target"},
		{Name: "columns"},
		{Name: "where"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "conflicts"},                            // at most one
		{Type: "column", LabelNames: []string{"name"}}, // at most one per column
	},
}

// columnSchema is a table block's `column "NAME" {}` sub-block: the
// column's name on the other node.
var columnSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "target"}, // required
}}

// namesCases are the valid names.case values.
var namesCases = []string{NamesSource, NamesLower, NamesUpper}

// conflictPolicies are the valid conflicts.policy values.
var conflictPolicies = []string{PolicyFail, PolicyIgnore, PolicyOverwrite, PolicyLastWriteWins}

// ddlReverseModes are the valid ddl.reverse values.
var ddlReverseModes = []string{DDLReverseIgnore, DDLReverseReject}

// existingTablesModes are the valid sync.existing_tables values.
var existingTablesModes = []string{ExistingTablesError, ExistingTablesIgnore}

// The throttle labels (phases).
const (
	throttleInitial     = "initial"
	throttleIncremental = "incremental"
)

var throttlePhases = []string{throttleInitial, throttleIncremental}

// webhookSchemes are the URL schemes alert.webhook may use.
var webhookSchemes = []string{"http", "https"}
