package policies

import (
	"fmt"
	"math"
	"math/big"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// decoder accumulates diagnostics while the decodeXBlock functions fill a
// Config. Decoding never stops at the first problem: a block with an error
// is still recorded (by name) when that avoids follow-on errors elsewhere.
type decoder struct {
	diags hcl.Diagnostics
	ctxs  map[string]*hcl.EvalContext // by file name

	// Source ranges the cross-block checks point at.
	ddlSource     *hcl.Attribute
	agentRanges   map[*Node]hcl.Range
	addressRanges map[*Node]hcl.Range
	opsGiven      map[*TableSel]bool
	policyGiven   map[*TableSel]string // a table block's own conflicts.policy, when given and valid
	targets       map[any]targetAttr   // *SchemaSel or *TableSel → its target attribute, when given
}

// targetAttr is a `target` attribute of a schema or table block.
type targetAttr struct {
	rng hcl.Range // the value's range
	bad bool      // invalid or reserved (reported): the block's target is unknown
}

func (d *decoder) evalContext(filename string) *hcl.EvalContext {
	ctx, ok := d.ctxs[filename]
	if !ok {
		ctx = evalContext(filename)
		d.ctxs[filename] = ctx
	}
	return ctx
}

func (d *decoder) add(diag *hcl.Diagnostic) { d.diags = append(d.diags, diag) }

// sortDiagnostics orders diagnostics by position (file, then offset); those
// without a position come first. Files are named in load order, which is
// sorted, so the output reads top to bottom.
func sortDiagnostics(diags hcl.Diagnostics) {
	key := func(d *hcl.Diagnostic) (string, int) {
		if d.Subject == nil {
			return "", -1
		}
		return d.Subject.Filename, d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		fi, bi := key(diags[i])
		fj, bj := key(diags[j])
		if fi != fj {
			return fi < fj
		}
		return bi < bj
	})
}

// decode turns parsed files into a validated Config (nil on any error).
func decode(files []*hcl.File, names []string, diags hcl.Diagnostics) (*Config, hcl.Diagnostics) {
	d := &decoder{
		diags:         diags,
		ctxs:          map[string]*hcl.EvalContext{},
		agentRanges:   map[*Node]hcl.Range{},
		addressRanges: map[*Node]hcl.Range{},
		opsGiven:      map[*TableSel]bool{},
		policyGiven:   map[*TableSel]string{},
		targets:       map[any]targetAttr{},
	}
	cfg := d.decodeConfig(hcl.MergeFiles(files), names)
	sortDiagnostics(d.diags)
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	return cfg, d.diags
}

func (d *decoder) decodeConfig(body hcl.Body, files []string) *Config {
	content, diags := body.Content(rootSchema)
	d.diags = append(d.diags, diags...)
	cfg := &Config{
		Names:     Names{Case: DefaultNamesCase},
		Retry:     Retry{Connection: DefaultRetryConnection, Other: DefaultRetryOther},
		Conflicts: Conflicts{Policy: DefaultConflictPolicy, Retention: DefaultConflictRetention},
		DDL:       DefaultDDL(),
		Sync:      DefaultSync(),
		Files:     files,
	}

	first := map[string]*hcl.Block{}     // singleton block type → first occurrence
	nodes := map[string]*hcl.Block{}     // node label → first block
	schemas := map[string]*SchemaSel{}   // schema name → first block
	tables := map[[2]string]*TableSel{}  // schema, table → first block
	throttles := map[string]*hcl.Block{} // throttle phase → first block
	var pairBlock *hcl.Block
	for _, b := range content.Blocks {
		if singletonBlocks[b.Type] {
			if f := first[b.Type]; f != nil {
				d.add(errorAt(b.DefRange, fmt.Sprintf("Duplicate %s block", b.Type),
					"Only one %s block is allowed in the whole config; the first one is at %s.", b.Type, pos(f.DefRange)))
				continue
			}
			first[b.Type] = b
		}
		switch b.Type {
		case "pair":
			pairBlock = b
			cfg.Pair = d.decodePairBlock(b)
		case "node":
			if f := nodes[b.Labels[0]]; f != nil {
				d.add(errorAt(b.LabelRanges[0], "Duplicate node block",
					"A node named %q is already declared at %s; node names must be distinct.", b.Labels[0], pos(f.DefRange)))
				continue
			}
			nodes[b.Labels[0]] = b
			cfg.Nodes = append(cfg.Nodes, d.decodeNodeBlock(b))
		case "retry":
			cfg.Retry = d.decodeRetryBlock(b)
		case "conflicts":
			cfg.Conflicts = d.decodeConflictsBlock(b)
		case "ddl":
			cfg.DDL = d.decodeDDLBlock(b)
		case "sync":
			cfg.Sync = d.decodeSyncBlock(b)
		case "throttle":
			phase := b.Labels[0]
			if f := throttles[phase]; f != nil {
				d.add(errorAt(b.LabelRanges[0], "Duplicate throttle block",
					"A throttle %q block is already declared at %s; a phase has at most one throttle block: merge the two.", phase, pos(f.DefRange)))
				continue
			}
			t := d.decodeThrottleBlock(b)
			switch phase {
			case throttleInitial:
				cfg.Throttle.Initial = t
			case throttleIncremental:
				cfg.Throttle.Incremental = t
			default:
				continue // reported
			}
			throttles[phase] = b
		case "alert":
			cfg.Alert = d.decodeAlertBlock(b)
		case "schema":
			s := d.decodeSchemaBlock(b)
			if s == nil {
				continue
			}
			if f := schemas[s.Name]; f != nil {
				d.add(errorAt(b.LabelRanges[0], "Duplicate schema block",
					"Schema %s is already selected by the schema block at %s; merge the two blocks.", quoteIdent(s.Name), pos(f.DeclRange)))
				continue
			}
			schemas[s.Name] = s
			cfg.Schemas = append(cfg.Schemas, s)
		case "table":
			t := d.decodeTableBlock(b)
			if t == nil {
				continue
			}
			key := [2]string{t.Schema, t.Name}
			if f := tables[key]; f != nil {
				d.add(errorAt(b.LabelRanges[0], "Duplicate table block",
					"Table %s.%s is already selected by the table block at %s; merge the two blocks.",
					quoteIdent(t.Schema), quoteIdent(t.Name), pos(f.DeclRange)))
				continue
			}
			tables[key] = t
			cfg.Tables = append(cfg.Tables, t)
		case "names":
			cfg.Names = d.decodeNamesBlock(b)
		}
	}

	d.checkPair(cfg, pairBlock, files)
	d.checkNodes(cfg, pairBlock, files)

	// A table block without operations takes its schema block's.
	for _, t := range cfg.Tables {
		if d.opsGiven[t] {
			continue
		}
		if s := schemas[t.Schema]; s != nil {
			t.Operations = slices.Clone(s.Operations)
		}
	}
	// A table block without a conflicts policy of its own takes the pair's
	// (the pair's conflicts block may come after it, or in another file).
	for _, t := range cfg.Tables {
		t.Conflicts = cfg.Conflicts.Policy
		if p, given := d.policyGiven[t]; given {
			t.Conflicts = p
		}
	}
	// names.case: a schema block without target maps its schema onto the
	// folded name (a target, written by the DBA, is taken as written).
	for _, s := range cfg.Schemas {
		if ta, given := d.targets[s]; !given || ta.bad {
			s.Target = cfg.Names.Fold(s.Name)
		}
	}
	// A table block without target maps its schema as its schema block
	// does, and its name as names.case spells it.
	for _, t := range cfg.Tables {
		if ta, given := d.targets[t]; given && !ta.bad {
			continue
		}
		t.TargetSchema, t.TargetName = cfg.Names.Fold(t.Schema), cfg.Names.Fold(t.Name)
		if s := schemas[t.Schema]; s != nil {
			t.TargetSchema = s.Target
		}
	}
	if cfg.Names.Folds() {
		for _, t := range cfg.Tables {
			d.foldColumns(t, cfg.Names)
		}
	}
	d.checkMappings(cfg)
	return cfg
}

// decodeNamesBlock decodes `names { case = ... }`.
func (d *decoder) decodeNamesBlock(b *hcl.Block) Names {
	n := Names{Case: DefaultNamesCase, DeclRange: b.DefRange}
	content, diags := b.Body.Content(namesSchema)
	d.diags = append(d.diags, diags...)
	if v, attr, ok := d.str(content.Attributes, "case"); ok {
		if slices.Contains(namesCases, v) {
			n.Case = v
		} else {
			d.add(errorAt(attr.Expr.Range(), "Invalid names.case",
				`names.case is %q; it must be "source" (names keep their case on the other node), "lower" or "upper".`, v))
		}
	}
	return n
}

// missing reports a required attribute that is absent.
func (d *decoder) missing(block *hcl.Block, name, what, example string) {
	if what != "" {
		what = ", " + what
	}
	d.add(errorAt(block.DefRange, "Missing required argument",
		"The %s block needs %s%s; for example: %s = %s.", blockName(block), name, what, name, example))
}

func blockName(b *hcl.Block) string {
	if len(b.Labels) > 0 {
		return fmt.Sprintf("%s %q", b.Type, b.Labels[0])
	}
	return b.Type
}

const nameRule = "must start with a lowercase letter and hold only lowercase letters, digits and underscores (^[a-z][a-z0-9_]*$), at most 20 characters: it becomes part of slot, publication and origin names"

func (d *decoder) decodePairBlock(b *hcl.Block) Pair {
	p := Pair{Name: b.Labels[0], DeclRange: b.DefRange}
	if !validName(p.Name) {
		d.add(errorAt(b.LabelRanges[0], "Invalid pair name", "The pair name %q is not valid: a pair name %s.", p.Name, nameRule))
	}
	content, diags := b.Body.Content(pairSchema)
	d.diags = append(d.diags, diags...)
	src, attr, ok := d.str(content.Attributes, "ddl_source")
	switch {
	case ok:
		p.DDLSource = src
		d.ddlSource = attr
	case attr == nil:
		d.missing(b, "ddl_source", "the node whose DDL is replicated to the other", `"east"`)
	}
	return p
}

func (d *decoder) checkPair(cfg *Config, pairBlock *hcl.Block, files []string) {
	if pairBlock == nil {
		rng := hcl.Range{}
		if len(files) > 0 {
			rng = fileStart(files[0])
		}
		d.add(errorAt(rng, "Missing pair block",
			`The config must declare the pair and its DDL source, for example: pair "shop" { ddl_source = "east" }.`))
		return
	}
	if d.ddlSource == nil || len(cfg.Nodes) == 0 {
		return
	}
	for _, n := range cfg.Nodes {
		if n.Name == cfg.Pair.DDLSource {
			return
		}
	}
	d.add(errorAt(d.ddlSource.Expr.Range(), "Unknown node",
		"ddl_source is %q, but the config declares the nodes %s; ddl_source must name one of them.",
		cfg.Pair.DDLSource, nodeList(cfg.Nodes)))
}

func nodeList(nodes []*Node) string {
	q := make([]string, len(nodes))
	for i, n := range nodes {
		q[i] = fmt.Sprintf("%q", n.Name)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// checkNodes checks what involves both nodes.
func (d *decoder) checkNodes(cfg *Config, pairBlock *hcl.Block, files []string) {
	switch n := len(cfg.Nodes); {
	case n > 2:
		for _, extra := range cfg.Nodes[2:] {
			d.add(errorAt(extra.DeclRange, "Too many node blocks",
				"A pair has exactly two nodes; %q is a third one (the first two are %q at %s and %q at %s).",
				extra.Name, cfg.Nodes[0].Name, pos(cfg.Nodes[0].DeclRange), cfg.Nodes[1].Name, pos(cfg.Nodes[1].DeclRange)))
		}
		return
	case n == 1:
		d.add(errorAt(cfg.Nodes[0].DeclRange, "Missing node block",
			"A pair needs exactly two node blocks; only %q is declared.", cfg.Nodes[0].Name))
		return
	case n == 0:
		rng := hcl.Range{}
		switch {
		case pairBlock != nil:
			rng = pairBlock.DefRange
		case len(files) > 0:
			rng = fileStart(files[0])
		}
		d.add(errorAt(rng, "Missing node block",
			`A pair needs exactly two node blocks, for example node "east" { database { ... } agent { ... } }; none is declared.`))
		return
	}
	a, b := cfg.Nodes[0], cfg.Nodes[1]
	if a.Agent.Address != "" && a.Agent.Address == b.Agent.Address {
		d.add(errorAt(d.addressRanges[b], "Duplicate address",
			"Nodes %q and %q both have address %q; each agent must be reachable at its own address.", a.Name, b.Name, b.Agent.Address))
	}
	aSet := a.Agent.Insecure || a.Agent.TLS != nil
	bSet := b.Agent.Insecure || b.Agent.TLS != nil
	if aSet && bSet && a.Agent.Insecure != b.Agent.Insecure {
		sec, insec := a, b
		if a.Agent.Insecure {
			sec, insec = b, a
		}
		d.add(errorAt(d.agentRanges[b], "Inconsistent transport security",
			"Node %q uses mutual TLS but node %q has insecure = true; both agents must use the same transport (a tls block on both, or insecure = true on both).",
			sec.Name, insec.Name))
	}
}

func (d *decoder) decodeNodeBlock(b *hcl.Block) *Node {
	n := &Node{Name: b.Labels[0], DeclRange: b.DefRange}
	if !validName(n.Name) {
		d.add(errorAt(b.LabelRanges[0], "Invalid node name", "The node name %q is not valid: a node name %s.", n.Name, nameRule))
	}
	content, diags := b.Body.Content(nodeSchema)
	d.diags = append(d.diags, diags...)
	var db, agent *hcl.Block
	for _, inner := range content.Blocks {
		seen := &db
		if inner.Type == "agent" {
			seen = &agent
		}
		if *seen != nil {
			d.add(errorAt(inner.DefRange, fmt.Sprintf("Duplicate %s block", inner.Type),
				"Node %q already has a %s block at %s.", n.Name, inner.Type, pos((*seen).DefRange)))
			continue
		}
		*seen = inner
	}
	if db == nil {
		d.add(errorAt(b.DefRange, "Missing required block",
			`Node %q needs a database block, for example: database { url = "postgres://pgduet@db-%s:5432/shop" }.`, n.Name, n.Name))
	} else {
		n.Database = d.decodeDatabaseBlock(db)
	}
	if agent == nil {
		d.add(errorAt(b.DefRange, "Missing required block",
			`Node %q needs an agent block, for example: agent { listen = "0.0.0.0:7420", address = "agent-%s.internal:7420", tls { ... } }.`, n.Name, n.Name))
	} else {
		d.agentRanges[n] = agent.DefRange
		n.Agent = d.decodeAgentBlock(agent, n)
	}
	return n
}

func (d *decoder) decodeDatabaseBlock(b *hcl.Block) Database {
	var db Database
	content, diags := b.Body.Content(databaseSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes

	url, urlAttr, ok := d.str(attrs, "url")
	switch {
	case ok:
		db.URL = url
		if kv, err := parseConnString(url); err != nil {
			d.add(errorAt(urlAttr.Expr.Range(), "Invalid connection string",
				"The database url must be a libpq URL (postgres://user@host:5432/dbname) or key=value string (host=... dbname=...): %s.", err))
		} else {
			if _, hasPw := kv.get("password"); hasPw && !callsFunction(urlAttr.Expr) {
				d.add(secretWarning(urlAttr, "The database url holds a password"))
			}
			if mode, has := kv.get("sslmode"); has && !contains(sslModes, mode) {
				d.add(errorAt(urlAttr.Expr.Range(), "Invalid value",
					"The database url sets sslmode to %q; sslmode must be %s.", mode, enumHelp(sslModes)))
			}
		}
	case urlAttr == nil:
		d.missing(b, "url", "the libpq URL or key=value string of the node's database", `"postgres://pgduet@localhost:5432/shop"`)
	}

	for _, s := range []struct {
		name string
		dst  *string
	}{{"password", &db.Password}, {"sslpassword", &db.SSLPassword}} {
		mark := len(d.diags)
		if v, attr, ok := d.str(attrs, s.name); ok {
			*s.dst = v
			if !callsFunction(attr.Expr) && v != "" {
				d.add(secretWarning(attr, fmt.Sprintf("The %s is written in the config file", s.name)))
			}
		} else if attr != nil && onlyFunctionErrors(d.diags[mark:]) {
			// A secret that cannot be read here (env var unset, file missing) is
			// not a config error: each agent holds only its own node's secrets.
			// The error surfaces when this database is connected to (ConnString).
			if db.secretErr == nil {
				db.secretErr = fmt.Errorf("%s: %s", s.name, oneLineDiags(d.diags[mark:]))
			}
			d.diags = d.diags[:mark]
		}
	}

	if mode, attr, ok := d.str(attrs, "sslmode"); ok {
		if contains(sslModes, mode) {
			db.SSLMode = mode
		} else {
			d.add(errorAt(attr.Expr.Range(), "Invalid value", "sslmode is %q; it must be %s.", mode, enumHelp(sslModes)))
		}
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"sslrootcert", &db.SSLRootCert}, {"sslcert", &db.SSLCert}, {"sslkey", &db.SSLKey}} {
		if v, attr, ok := d.str(attrs, s.name); ok {
			if s.name == "sslrootcert" && v == "system" {
				*s.dst = v // libpq: the system's trusted roots
				continue
			}
			*s.dst = resolvePath(dirOf(attr), v)
		}
	}
	return db
}

func secretWarning(attr *hcl.Attribute, what string) *hcl.Diagnostic {
	return warningAt(attr.Expr.Range(), "Secret in the config file",
		`%s. Read secrets with env("NAME") or file("path") instead, so the config can be shared and kept in version control.`, what)
}

func (d *decoder) decodeAgentBlock(b *hcl.Block, n *Node) Agent {
	a := Agent{Admin: DefaultAdmin}
	content, diags := b.Body.Content(agentSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes

	if v, attr, ok := d.str(attrs, "listen"); ok {
		if err := checkHostPort(v, false, true); err != nil {
			d.add(errorAt(attr.Expr.Range(), "Invalid address", "listen: %s.", err))
		} else {
			a.Listen = v
		}
	} else if attr == nil {
		d.missing(b, "listen", "the host:port the agent accepts its peer on", `"0.0.0.0:7420"`)
	}
	if v, attr, ok := d.str(attrs, "address"); ok {
		if err := checkHostPort(v, true, false); err != nil {
			d.add(errorAt(attr.Expr.Range(), "Invalid address", "address (how the peer reaches this agent): %s.", err))
		} else {
			a.Address = v
			d.addressRanges[n] = attr.Expr.Range()
		}
	} else if attr == nil {
		d.missing(b, "address", "the host:port the peer agent dials to reach this one", fmt.Sprintf(`"agent-%s.internal:7420"`, n.Name))
	}
	if v, attr, ok := d.str(attrs, "admin"); ok {
		if err := checkHostPort(v, false, true); err != nil {
			d.add(errorAt(attr.Expr.Range(), "Invalid address", "admin: %s.", err))
		} else {
			a.Admin = v
		}
	}
	insecure, insecureAttr, insecureOK := d.boolean(attrs, "insecure")
	a.Insecure = insecure

	var tlsBlock *hcl.Block
	for _, inner := range content.Blocks {
		if tlsBlock != nil {
			d.add(errorAt(inner.DefRange, "Duplicate tls block",
				"The agent of node %q already has a tls block at %s.", n.Name, pos(tlsBlock.DefRange)))
			continue
		}
		tlsBlock = inner
		a.TLS = d.decodeTLSBlock(inner)
	}

	switch {
	case insecure && tlsBlock != nil:
		d.add(errorAt(insecureAttr.Range, "Conflicting transport security",
			"The agent of node %q has both insecure = true and a tls block; keep the tls block (mutual TLS) or insecure = true (plain TCP, for demos and tests), not both.", n.Name))
	case !insecure && tlsBlock == nil && (insecureAttr == nil || insecureOK):
		d.add(errorAt(b.DefRange, "Missing transport security",
			`The agent of node %q must say how the two agents talk: either a tls block with ca_file, cert_file and key_file (mutual TLS, for production) or insecure = true (plain TCP, for demos and tests only).`, n.Name))
	}
	return a
}

func (d *decoder) decodeTLSBlock(b *hcl.Block) *TLS {
	t := &TLS{}
	content, diags := b.Body.Content(tlsSchema)
	d.diags = append(d.diags, diags...)
	for _, f := range []struct {
		name, example string
		dst           *string
	}{
		{"ca_file", `"/etc/pgduet/ca.pem"`, &t.CAFile},
		{"cert_file", `"/etc/pgduet/agent.pem"`, &t.CertFile},
		{"key_file", `"/etc/pgduet/agent.key"`, &t.KeyFile},
	} {
		v, attr, ok := d.str(content.Attributes, f.name)
		switch {
		case ok && v == "":
			d.add(errorAt(attr.Expr.Range(), "Invalid value", "%s is empty; it must name a PEM file.", f.name))
		case ok:
			*f.dst = resolvePath(dirOf(attr), v)
		case attr == nil:
			d.missing(b, f.name, "", f.example)
		}
	}
	return t
}

func dirOf(attr *hcl.Attribute) string {
	name := attr.Range.Filename
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[:i+1]
	}
	return "."
}

func (d *decoder) decodeRetryBlock(b *hcl.Block) Retry {
	r := Retry{Connection: DefaultRetryConnection, Other: DefaultRetryOther}
	content, diags := b.Body.Content(retrySchema)
	d.diags = append(d.diags, diags...)
	for _, f := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{{"connection", &r.Connection, DefaultRetryConnection}, {"other", &r.Other, DefaultRetryOther}} {
		v, attr, ok := d.str(content.Attributes, f.name)
		if !ok {
			continue
		}
		dur, err := parseDuration(v)
		switch {
		case err != nil:
			d.add(errorAt(attr.Expr.Range(), "Invalid duration", "retry.%s: %s.", f.name, err))
		case dur <= 0:
			d.add(errorAt(attr.Expr.Range(), "Invalid duration",
				"retry.%s is %q; a retry window must be greater than zero (the default is %s).", f.name, v, f.def))
		default:
			*f.dst = dur
		}
	}
	return r
}

// decodeSyncBlock decodes the sync block: the initial sync (SPEC §8).
// Every combination of schema and data is valid (data without schema copies
// into tables created by hand on the other node).
func (d *decoder) decodeSyncBlock(b *hcl.Block) Sync {
	s := DefaultSync()
	s.DeclRange = b.DefRange
	content, diags := b.Body.Content(syncSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	if v, _, ok := d.boolean(attrs, "schema"); ok {
		s.Schema = v
	}
	if v, _, ok := d.boolean(attrs, "data"); ok {
		s.Data = v
	}
	if v, attr, ok := d.str(attrs, "existing_tables"); ok {
		if contains(existingTablesModes, v) {
			s.ExistingTables = v
		} else {
			d.add(errorAt(attr.Expr.Range(), "Invalid value",
				`sync.existing_tables is %q; it must be %s: what the initial sync does when a selected table already exists on the other node ("error": precheck fails, naming the table; "ignore": it proceeds, and the copy keeps the rows it finds there on a key collision).`,
				v, enumHelp(existingTablesModes)))
		}
	}
	if n, attr, ok := d.number(attrs, "parallelism"); ok {
		if !n.IsInt() || n.Cmp(big.NewFloat(minSyncParallelism)) < 0 || n.Cmp(big.NewFloat(maxSyncParallelism)) > 0 {
			d.add(errorAt(attr.Expr.Range(), "Invalid value",
				"sync.parallelism is %s; it must be a whole number from %d to %d: how many COPY streams the initial data sync runs in parallel (the default is %d).",
				numberText(n), minSyncParallelism, maxSyncParallelism, DefaultSyncParallelism))
		} else {
			p, _ := n.Int64()
			s.Parallelism = int(p)
		}
	}
	return s
}

// decodeThrottleBlock decodes a `throttle "PHASE" {}` block. An unknown
// phase is reported (its contents are still checked) and the result is
// then meaningless.
func (d *decoder) decodeThrottleBlock(b *hcl.Block) Throttle {
	phase := b.Labels[0]
	if !contains(throttlePhases, phase) {
		d.add(errorAt(b.LabelRanges[0], "Invalid throttle phase",
			`The throttle label %q is not a phase; it must be %s: "initial" throttles the initial data copy, "incremental" the change stream that follows it.`,
			phase, enumHelp(throttlePhases)))
	}
	content, diags := b.Body.Content(throttleSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	var t Throttle
	d.rate(attrs, b, "rows_per_second", "rows", true, &t.RowsPerSecond)
	d.rate(attrs, b, "mb_per_second", "megabytes", false, &t.MBPerSecond)
	if attr := attrs["queries_per_second"]; attr != nil && phase == throttleIncremental {
		d.add(errorAt(attr.Range, "Misplaced argument",
			`queries_per_second only applies to the initial copy: move it to the throttle "initial" block, or remove it; the incremental phase is throttled with rows_per_second and mb_per_second.`))
	} else {
		d.rate(attrs, b, "queries_per_second", "queries", true, &t.QueriesPerSecond)
	}
	return t
}

// rate checks a throttle rate: a number >= 0 (0 = unlimited), whole when
// whole is set, stored in dst when valid.
func (d *decoder) rate(attrs hcl.Attributes, b *hcl.Block, name, unit string, whole bool, dst *float64) {
	n, attr, ok := d.number(attrs, name)
	if !ok {
		return
	}
	kind := "a number"
	if whole {
		kind = "a whole number"
	}
	f, _ := n.Float64()
	switch {
	case n.Sign() < 0 || (whole && !n.IsInt()):
		d.add(errorAt(attr.Expr.Range(), "Invalid value",
			"%s: %s is %s; it must be %s of %s per second, or 0 for no limit.", blockName(b), name, numberText(n), kind, unit))
	case n.IsInf() || math.IsInf(f, 0):
		d.add(errorAt(attr.Expr.Range(), "Invalid value",
			"%s: %s is too large; it must be %s of %s per second, or 0 for no limit.", blockName(b), name, kind, unit))
	default:
		if f == 0 {
			f = 0 // not -0: the digest renders it
		}
		*dst = f
	}
}

// decodeAlertBlock decodes the alert block. The webhook may hold a token:
// no diagnostic quotes it.
func (d *decoder) decodeAlertBlock(b *hcl.Block) *Alert {
	a := &Alert{LagThreshold: DefaultAlertLagThreshold, DeclRange: b.DefRange}
	content, diags := b.Body.Content(alertSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	if v, attr, ok := d.str(attrs, "webhook"); ok {
		if why := checkWebhook(v); why != "" {
			d.add(errorAt(attr.Expr.Range(), "Invalid webhook URL",
				`alert.webhook %s; it must be an absolute http:// or https:// URL with a host, such as "https://alerts.example/pgduet" (the value is not shown: it may hold a token).`, why))
		} else {
			a.Webhook = v
		}
	} else if attr == nil {
		d.missing(b, "webhook", "the http:// or https:// URL that receives the alerts as JSON POSTs", `env("PGDUET_ALERT_WEBHOOK")`)
	}
	if v, attr, ok := d.str(attrs, "lag_threshold"); ok {
		dur, err := parseDuration(v)
		switch {
		case err != nil:
			d.add(errorAt(attr.Expr.Range(), "Invalid duration", "alert.lag_threshold: %s.", err))
		case dur <= 0:
			d.add(errorAt(attr.Expr.Range(), "Invalid duration",
				"alert.lag_threshold is %q; the lag above which an alert is sent must be greater than zero (the default is %s).", v, DefaultAlertLagThreshold))
		default:
			a.LagThreshold = dur
		}
	}
	return a
}

// checkWebhook returns why s is not a usable webhook URL ("" when it is),
// without quoting any part of s.
func checkWebhook(s string) string {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "is empty"
	case err != nil:
		return "is not a valid URL"
	case u.Scheme == "":
		return "has no scheme"
	case !contains(webhookSchemes, u.Scheme):
		return "uses a scheme other than http or https"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	}
	return ""
}

// decodeConflictsBlock decodes the pair-level conflicts block.
func (d *decoder) decodeConflictsBlock(b *hcl.Block) Conflicts {
	c := Conflicts{Policy: DefaultConflictPolicy, Retention: DefaultConflictRetention}
	content, diags := b.Body.Content(conflictsSchema)
	d.diags = append(d.diags, diags...)
	if p, ok := d.conflictPolicy(content.Attributes); ok {
		c.Policy = p
	}
	if v, attr, ok := d.str(content.Attributes, "retention"); ok {
		dur, err := parseDuration(v)
		switch {
		case err != nil:
			d.add(errorAt(attr.Expr.Range(), "Invalid duration", "conflicts.retention: %s.", err))
		case dur <= 0:
			d.add(errorAt(attr.Expr.Range(), "Invalid duration",
				"conflicts.retention is %q; how long rows stay in pgduet.conflicts must be greater than zero (the default is %s).", v, DefaultConflictRetention))
		default:
			c.Retention = dur
		}
	}
	return c
}

// decodeTableConflictsBlock decodes the conflicts sub-block of table block
// t: its policy overrides the pair's for that table; retention is per pair.
func (d *decoder) decodeTableConflictsBlock(b *hcl.Block, t *TableSel) {
	content, diags := b.Body.Content(conflictsSchema)
	d.diags = append(d.diags, diags...)
	if p, ok := d.conflictPolicy(content.Attributes); ok {
		d.policyGiven[t] = p
	}
	if attr := content.Attributes["retention"]; attr != nil {
		d.add(errorAt(attr.Range, "Misplaced argument",
			`retention is set per pair, not per table: it is how long every row stays in pgduet.conflicts. Move it to the top-level conflicts block, for example: conflicts { retention = "720h" }.`))
	}
}

// conflictPolicy checks conflicts.policy: unknown values are invalid.
func (d *decoder) conflictPolicy(attrs hcl.Attributes) (string, bool) {
	v, attr, ok := d.str(attrs, "policy")
	if !ok {
		return "", false
	}
	switch {
	case !contains(conflictPolicies, v):
		d.add(errorAt(attr.Expr.Range(), "Invalid value", "The conflict policy %q does not exist; it must be %s.", v, enumHelp(conflictPolicies)))
	default:
		return v, true
	}
	return "", false
}

func (d *decoder) decodeDDLBlock(b *hcl.Block) DDL {
	c := DefaultDDL()
	c.DeclRange = b.DefRange
	content, diags := b.Body.Content(ddlSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	if v, _, ok := d.boolean(attrs, "replicate"); ok {
		c.Replicate = v
	}
	if v, attr, ok := d.str(attrs, "reverse"); ok {
		if contains(ddlReverseModes, v) {
			c.Reverse = v
		} else {
			d.add(errorAt(attr.Expr.Range(), "Invalid value",
				`ddl.reverse is %q; it must be %s: what happens to DDL run on the node that is not the ddl_source ("ignore": it is not shipped, and is logged; "reject": the statement fails there).`,
				v, enumHelp(ddlReverseModes)))
		}
	}
	if elems, _, ok := d.strList(attrs, "allow"); ok {
		c.Allow = d.tagGlobs(elems, "allow")
	}
	if elems, _, ok := d.strList(attrs, "deny"); ok {
		c.Deny = d.tagGlobs(elems, "deny")
	}
	return c
}

// tagGlobs checks command-tag globs, each at its own position, and returns
// them normalized: upper case, one space between words (as
// ddlparse.MatchTag compares them).
func (d *decoder) tagGlobs(elems []listElem, attr string) []string {
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		norm := strings.Join(strings.Fields(e.s), " ")
		if norm == "" {
			d.add(errorAt(e.rng, "Invalid command tag pattern",
				`An empty pattern in ddl.%s matches no command tag; write a tag such as "CREATE TABLE", a glob such as "ALTER *", or "*" for every tag.`, attr))
			continue
		}
		if i := strings.IndexFunc(e.s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == ' ' || r == '*')
		}); i >= 0 {
			r, _ := utf8.DecodeRuneInString(e.s[i:])
			d.add(errorAt(e.rng, "Invalid command tag pattern",
				`The pattern %q in ddl.%s holds %q; a command tag pattern may hold only ASCII letters, spaces and * (any run of characters), like "CREATE TABLE", "ALTER *" or "*".`, e.s, attr, r))
			continue
		}
		out = append(out, strings.ToUpper(norm))
	}
	return out
}

func (d *decoder) decodeSchemaBlock(b *hcl.Block) *SchemaSel {
	content, diags := b.Body.Content(schemaSelSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	s := &SchemaSel{DeclRange: b.DefRange, Tables: DefaultTables(), Exclude: []string{}, Operations: DefaultOperations()}

	parts, err := parseQualifiedName(b.Labels[0])
	if err == nil && len(parts) != 1 {
		err = fmt.Errorf("it has %d dotted parts; a schema block names one schema (use a table block for one table)", len(parts))
	}
	if err != nil {
		d.add(errorAt(b.LabelRanges[0], "Invalid schema name",
			`The schema label %q is not a schema name: %s. Write it as "public", or "\"Sales\"" to keep upper case.`, b.Labels[0], err))
	} else {
		s.Name = parts[0]
	}

	if elems, attr, ok := d.strList(attrs, "tables"); ok {
		if len(elems) == 0 {
			d.add(errorAt(attr.Expr.Range(), "Empty table list",
				`tables = [] selects nothing; remove the schema block, or list globs such as ["*"] or ["orders", "order_*"].`))
		}
		s.Tables = d.globs(elems, "tables")
	}
	if elems, _, ok := d.strList(attrs, "exclude"); ok {
		s.Exclude = d.globs(elems, "exclude")
	}
	if ops, ok := d.operations(attrs); ok {
		s.Operations = ops
	}
	s.Target = s.Name
	if v, attr, ok := d.str(attrs, "target"); ok {
		parts, perr := parseQualifiedName(v)
		if perr == nil && len(parts) != 1 {
			perr = fmt.Errorf("it has %d dotted parts; a schema target names one schema (use a table block's target to map one table)", len(parts))
		}
		switch {
		case perr != nil:
			d.add(errorAt(attr.Expr.Range(), "Invalid schema name",
				`The target %q is not a schema name: %s. Write it as "public_copy", or "\"Sales\"" to keep upper case.`, v, perr))
			d.targets[s] = targetAttr{rng: attr.Expr.Range(), bad: true}
		case !d.checkTargetSchema(parts[0], attr):
			d.targets[s] = targetAttr{rng: attr.Expr.Range(), bad: true}
		default:
			s.Target = parts[0]
			d.targets[s] = targetAttr{rng: attr.Expr.Range()}
		}
	} else if attr != nil {
		d.targets[s] = targetAttr{rng: attr.Expr.Range(), bad: true}
	}
	if err != nil {
		return nil
	}
	return s
}

// checkTargetSchema refuses a target schema that pgduet or PostgreSQL
// reserves; attr is the target attribute.
func (d *decoder) checkTargetSchema(schema string, attr *hcl.Attribute) bool {
	var why string
	switch {
	case schema == "pgduet":
		why = `"pgduet" is pgduet's own schema on each node (its DDL queue and state live there)`
	case strings.HasPrefix(schema, "pg_"):
		why = `schema names starting with "pg_" are reserved by PostgreSQL for system schemas`
	case schema == "information_schema":
		why = `"information_schema" is PostgreSQL's system schema`
	default:
		return true
	}
	d.add(errorAt(attr.Expr.Range(), "Reserved schema name",
		"The target schema %s cannot hold replicated tables: %s. Map onto another schema.", quoteIdent(schema), why))
	return false
}

// globs checks table globs, each at its own position.
func (d *decoder) globs(elems []listElem, attr string) []string {
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		if e.s == "" {
			d.add(errorAt(e.rng, "Invalid glob pattern", "An empty pattern in %s matches no table.", attr))
			continue
		}
		if _, err := compileGlob(e.s); err != nil {
			d.add(errorAt(e.rng, "Invalid glob pattern", "The pattern %q in %s is malformed: %s.", e.s, attr, err))
			continue
		}
		out = append(out, e.s)
	}
	return out
}

// operations checks an operations list; the result is in canonical order.
func (d *decoder) operations(attrs hcl.Attributes) ([]Op, bool) {
	elems, attr, ok := d.strList(attrs, "operations")
	if !ok {
		return nil, false
	}
	valid := make([]string, len(allOps))
	for i, op := range allOps {
		valid[i] = string(op)
	}
	seen := map[string]hcl.Range{}
	good := true
	for _, e := range elems {
		switch {
		case !contains(valid, e.s):
			d.add(errorAt(e.rng, "Invalid value", "%q is not an operation; operations are %s.", e.s, enumHelp(valid)))
			good = false
		default:
			if first, dup := seen[e.s]; dup {
				d.add(errorAt(e.rng, "Duplicate operation", "%q is already listed at %s.", e.s, pos(first)))
				good = false
				continue
			}
			seen[e.s] = e.rng
		}
	}
	if len(elems) == 0 {
		d.add(errorAt(attr.Expr.Range(), "Empty operations list",
			`operations = [] would replicate nothing; list at least one of %s, or remove the selection.`, enumHelp(valid)))
		return nil, false
	}
	if !good {
		return nil, false
	}
	var ops []Op
	for _, op := range allOps {
		if _, ok := seen[string(op)]; ok {
			ops = append(ops, op)
		}
	}
	return ops, true
}

func (d *decoder) decodeTableBlock(b *hcl.Block) *TableSel {
	content, diags := b.Body.Content(tableSelSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	t := &TableSel{DeclRange: b.DefRange, Operations: DefaultOperations()}

	parts, err := parseQualifiedName(b.Labels[0])
	if err == nil && len(parts) != 2 {
		err = fmt.Errorf("it has %d dotted part(s); a table is named schema.table", len(parts))
	}
	if err != nil {
		d.add(errorAt(b.LabelRanges[0], "Invalid table name",
			`The table label %q is not schema.table: %s. Write it as "public.orders", or "\"Sales\".\"Orders\"" to keep upper case.`, b.Labels[0], err))
	} else {
		t.Schema, t.Name = parts[0], parts[1]
	}

	if ops, ok := d.operations(attrs); ok {
		t.Operations = ops
		d.opsGiven[t] = true
	}
	if v, attr, ok := d.str(attrs, "target"); ok {
		parts, perr := parseQualifiedName(v)
		if perr == nil && len(parts) != 2 {
			perr = fmt.Errorf("it has %d dotted part(s); a target table is named schema.table", len(parts))
		}
		switch {
		case perr != nil:
			d.add(errorAt(attr.Expr.Range(), "Invalid table name",
				`The target %q is not schema.table: %s. Write it as "sales.orders", or "\"Sales\".\"Orders\"" to keep upper case.`, v, perr))
			d.targets[t] = targetAttr{rng: attr.Expr.Range(), bad: true}
		case !d.checkTargetSchema(parts[0], attr):
			d.targets[t] = targetAttr{rng: attr.Expr.Range(), bad: true}
		default:
			t.TargetSchema, t.TargetName = parts[0], parts[1]
			d.targets[t] = targetAttr{rng: attr.Expr.Range()}
		}
	} else if attr != nil {
		d.targets[t] = targetAttr{rng: attr.Expr.Range(), bad: true}
	}
	var whereAttr *hcl.Attribute
	if v, attr, ok := d.str(attrs, "where"); ok {
		if strings.TrimSpace(v) == "" {
			d.add(errorAt(attr.Expr.Range(), "Invalid row filter", `where is empty; write a boolean SQL expression over the table's columns, such as where = "region = 'eu'", or leave it out to replicate every row.`))
		} else {
			t.Where, whereAttr = v, attr
		}
	}
	columnsAttr, columnsKnown := d.decodeColumns(attrs, t)
	var conflicts *hcl.Block
	var columnBlocks []*hcl.Block
	for _, inner := range content.Blocks {
		if inner.Type == "column" {
			columnBlocks = append(columnBlocks, inner)
			continue
		}
		if conflicts != nil {
			d.add(errorAt(inner.DefRange, "Duplicate conflicts block",
				"The %s block already has a conflicts block at %s; merge the two.", blockName(b), pos(conflicts.DefRange)))
			continue
		}
		conflicts = inner
		d.decodeTableConflictsBlock(inner, t)
	}
	d.decodeColumnBlocks(b, columnBlocks, t, columnsAttr, columnsKnown)
	if err != nil {
		return nil
	}
	if whereAttr != nil && slices.Contains(t.Operations, OpTruncate) {
		d.add(errorAt(whereAttr.Expr.Range(), "Row filter with truncate",
			"The %s block has a row filter and replicates TRUNCATE, which would empty the peer's table, rows outside the filter included. Remove \"truncate\" from operations, or the filter.", blockName(b)))
	}
	if whereAttr != nil && len(t.ColumnTargets) > 0 {
		d.add(errorAt(whereAttr.Expr.Range(), "Row filter with renamed columns",
			"The %s block renames columns and has a row filter: pgduet evaluates the filter on both nodes with the same text, so it cannot name a column that has another name on one of them. Drop the column blocks or the filter.", blockName(b)))
	}
	return t
}

// columnName reads a column name (an element of columns, a column block's
// label or target) like one part of a table label: unquoted folds to lower
// case, double-quoted is kept as written.
func columnName(s string) (string, error) {
	parts, err := parseQualifiedName(s)
	if err == nil && len(parts) != 1 {
		err = fmt.Errorf("it has %d dotted parts; a column is named by one part (its table is the table block's label)", len(parts))
	}
	if err != nil {
		return "", err
	}
	return parts[0], nil
}

func (d *decoder) badColumnName(rng hcl.Range, what, v string, err error) {
	d.add(errorAt(rng, "Invalid column name",
		`The %s %q is not a column name: %s. Write it as "total", or "\"Total\"" to keep upper case.`, what, v, err))
}

// decodeColumns decodes the columns attribute (the column subset) of table
// block t into t.Columns. It returns the attribute (nil when absent or null:
// every column is replicated) and whether t.Columns is exactly the set the
// attribute lists (false after a reported problem, so that the column
// blocks are not checked against a list that is known to be wrong).
func (d *decoder) decodeColumns(attrs hcl.Attributes, t *TableSel) (*hcl.Attribute, bool) {
	elems, attr, ok := d.strList(attrs, "columns")
	if attr == nil {
		return nil, true
	}
	if !ok {
		return attr, false
	}
	if len(elems) == 0 {
		d.add(errorAt(attr.Expr.Range(), "Empty column list",
			`columns = [] replicates no column; list the columns to replicate, such as ["id", "total"], or remove columns to replicate every column.`))
		return attr, false
	}
	seen := map[string]hcl.Range{}
	good := true
	t.Columns = make([]string, 0, len(elems))
	for _, e := range elems {
		name, err := columnName(e.s)
		if err != nil {
			d.badColumnName(e.rng, "columns element", e.s, err)
			good = false
			continue
		}
		if first, dup := seen[name]; dup {
			d.add(errorAt(e.rng, "Duplicate column",
				"%q names column %s, which is already listed at %s; list each column once.", e.s, quoteIdent(name), pos(first)))
			good = false
			continue
		}
		seen[name] = e.rng
		t.Columns = append(t.Columns, name)
	}
	return attr, good
}

// columnRename is a valid `column "NAME" { target = "NEW" }` block.
type columnRename struct {
	block        *hcl.Block
	name, target string
	rng          hcl.Range // the target's value
}

// decodeColumnBlocks decodes the column sub-blocks of table block b (t) into
// t.ColumnTargets and checks them against the columns attribute
// (columnsAttr, nil when absent; columnsKnown: t.Columns is what it lists)
// and against each other: the columns replicated must keep distinct names
// on the other node. With columns, that is checked on every listed column;
// without, only among the columns that have a column block (the table's
// other columns are unknown until the agent reads the relation: see
// ColumnMap.Check).
func (d *decoder) decodeColumnBlocks(b *hcl.Block, blocks []*hcl.Block, t *TableSel, columnsAttr *hcl.Attribute, columnsKnown bool) {
	seen := map[string]*hcl.Block{}
	unknown := map[string]bool{} // columns whose block has a bad or missing target
	var renames []columnRename
	for _, cb := range blocks {
		content, diags := cb.Body.Content(columnSchema)
		d.diags = append(d.diags, diags...)
		name, nerr := columnName(cb.Labels[0])
		if nerr != nil {
			d.badColumnName(cb.LabelRanges[0], "column label", cb.Labels[0], nerr)
		}
		v, attr, ok := d.str(content.Attributes, "target")
		var target string
		switch {
		case ok:
			var terr error
			if target, terr = columnName(v); terr != nil {
				d.badColumnName(attr.Expr.Range(), "target", v, terr)
				ok = false
			}
		case attr == nil:
			d.add(errorAt(cb.DefRange, "Missing required argument",
				`The %s block needs target, the column's name on the other node; for example: target = "amount". A column that keeps its name needs no column block.`, blockName(cb)))
		}
		if nerr != nil {
			continue
		}
		if f := seen[name]; f != nil {
			d.add(errorAt(cb.LabelRanges[0], "Duplicate column block",
				"The %s block already has a column block for column %s at %s; keep one of the two.", blockName(b), quoteIdent(name), pos(f.DefRange)))
			continue
		}
		seen[name] = cb
		if columnsAttr != nil && columnsKnown && !slices.Contains(t.Columns, name) {
			d.add(errorAt(cb.LabelRanges[0], "Column not replicated",
				"The %s block maps column %s, but the columns list at %s leaves that column out, so it is not replicated; add %s to columns, or remove the column block.",
				blockName(cb), quoteIdent(name), pos(columnsAttr.Expr.Range()), strconv.Quote(quoteIdent(name))))
			continue
		}
		if !ok {
			unknown[name] = true
			continue
		}
		renames = append(renames, columnRename{block: cb, name: name, target: target, rng: attr.Expr.Range()})
	}

	// The columns replicated under their own name, as far as the config
	// knows them: with columns, each listed column without a real rename;
	// without, each column whose block maps it onto itself.
	renamed := map[string]bool{}
	for _, r := range renames {
		if r.target != r.name {
			renamed[r.name] = true
		}
	}
	var kept []string
	switch {
	case columnsAttr != nil && columnsKnown:
		for _, c := range t.Columns {
			if !renamed[c] && !unknown[c] {
				kept = append(kept, c)
			}
		}
	case columnsAttr == nil:
		for _, r := range renames {
			if r.target == r.name {
				kept = append(kept, r.name)
			}
		}
	}
	keptSet := map[string]bool{}
	for _, c := range kept {
		keptSet[c] = true
	}
	claimed := map[string]columnRename{} // name on the other node → the rename onto it
	for _, r := range renames {
		if r.target == r.name {
			continue
		}
		switch f, taken := claimed[r.target]; {
		case keptSet[r.target]:
			why := "it is listed in columns without a column block of its own"
			if columnsAttr == nil {
				why = fmt.Sprintf("its column block at %s maps it onto itself", pos(seen[r.target].DefRange))
			}
			fix := ""
			if columnsAttr != nil {
				fix = fmt.Sprintf(", or leave %s out of columns", quoteIdent(r.target))
			}
			d.add(errorAt(r.rng, "Colliding column mapping",
				"The %s block renames column %s to %s, but column %s keeps its name (%s): on the other node both would be column %s, and changes from there could not be mapped back. Give %s another target, or rename %s too%s.",
				blockName(r.block), quoteIdent(r.name), quoteIdent(r.target), quoteIdent(r.target), why, quoteIdent(r.target),
				quoteIdent(r.name), quoteIdent(r.target), fix))
		case taken:
			d.add(errorAt(r.rng, "Colliding column mapping",
				"The %s block (at %s) and the %s block both rename onto column %s of the other node; changes from there could not be mapped back. Give each column its own target.",
				blockName(f.block), pos(f.block.DefRange), blockName(r.block), quoteIdent(r.target)))
		default:
			claimed[r.target] = r
		}
	}
	for _, r := range renames {
		if r.target == r.name {
			continue
		}
		if t.ColumnTargets == nil {
			t.ColumnTargets = map[string]string{}
		}
		t.ColumnTargets[r.name] = r.target
	}
}

// foldColumns applies names.case to the columns a table block lists
// (`columns`) and does not rename: each gets its folded name on the other
// node, recorded in ColumnTargets like a rename. The listed columns must
// keep distinct names there ("Total" and "total" both fold to total). A
// table block without columns replicates every column: the agent folds
// each one's name when it reads the relation, and ColumnMap.Check reports
// names that collide.
func (d *decoder) foldColumns(t *TableSel, names Names) {
	if t.Columns == nil {
		return
	}
	image := map[string]string{} // name on the other node → the column mapped onto it
	for _, c := range t.Columns {
		to, renamed := t.ColumnTargets[c]
		if !renamed {
			to = names.Fold(c)
			if to != c {
				if t.ColumnTargets == nil {
					t.ColumnTargets = map[string]string{}
				}
				t.ColumnTargets[c] = to
			}
		}
		if f, taken := image[to]; taken {
			d.add(errorAt(t.DeclRange, "Colliding column mapping",
				"The table block for %s replicates columns %s and %s, which names.case = %q (at %s) maps onto the same column %s of the other node; changes from there could not be mapped back. Give one of them a column block with its own target, or leave it out of columns.",
				qualified(t.Schema, t.Name), quoteIdent(f), quoteIdent(c), names.Case, pos(names.DeclRange), quoteIdent(to)))
			continue
		}
		image[to] = c
	}
}

// onlyFunctionErrors reports whether diags are all failed env()/file() calls.
func onlyFunctionErrors(diags hcl.Diagnostics) bool {
	if len(diags) == 0 {
		return false
	}
	for _, d := range diags {
		if d.Summary != "Error in function call" {
			return false
		}
	}
	return true
}

// oneLineDiags renders diagnostics as one line: "detail (file:line:col)".
func oneLineDiags(diags hcl.Diagnostics) string {
	parts := make([]string, 0, len(diags))
	for _, d := range diags {
		msg := d.Detail
		if msg == "" {
			msg = d.Summary
		}
		if d.Subject != nil {
			msg = fmt.Sprintf("%s (%s:%d:%d)", msg, d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}
