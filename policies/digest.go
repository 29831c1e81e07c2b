package policies

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// localKeywords name files on the agent's own machine. They are left out of
// the digest like the secrets: each agent reads only its own files, and
// relative paths are resolved against the config's directory, so where a
// copy of the config lives must not change the digest.
var localKeywords = map[string]bool{
	"sslrootcert": true, "sslcert": true, "sslkey": true,
	"sslcrl": true, "sslcrldir": true, "passfile": true,
}

// Digest returns the first 16 hex characters of the SHA-256 of the
// canonical form of the effective config. The two agents compare digests in
// their handshake (SPEC §4).
//
// Left out: secrets (password, sslpassword, a password inside the url),
// paths of local certificate and key files, and the file names. Independent
// of how the config is split into files and of the order of node, schema
// and table blocks, of the order of globs and operations, of the case and
// spacing of ddl command-tag globs, and of defaults being written out or
// left implicit (a target equal to the name it would default to included).
// In: the effective ddl settings and name mapping, the conflict policy and
// retention of the pair, the effective conflict policy of every table
// block and its column subset and column renames, so two agents with
// different DDL rules, targets, conflict handling or columns refuse each
// other. The column subset is a set (the order of `columns` does not
// count); a column block that maps a column onto its own name counts as
// absent. Also in: the effective sync settings and both phases' throttles
// (a phase without a block counts as unlimited), which the two agents must
// agree on: the receiving agent drives the initial copy, the sending agent
// throttles what it ships.
//
// Left out entirely: the alert block. Alerts are operational (a new webhook
// or lag threshold must not make the agents refuse each other), and the
// webhook may carry a token, so nothing of it goes into a value the agents
// exchange.
//
// The first line names the canonical form's version ("pgduet-config v5"
// since sync and throttle; v4 added table column subsets and renames, v3
// conflict retention and per-table policies); it changes whenever a line is
// added or changed, so agents of versions that render the config
// differently refuse each other whatever the config says.
func (c *Config) Digest() string {
	sum := sha256.Sum256([]byte(c.canonical()))
	return hex.EncodeToString(sum[:])[:16]
}

// canonical renders the effective config, one setting per line.
func (c *Config) canonical() string {
	var b strings.Builder
	q := strconv.Quote
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("pgduet-config v6")
	line("pair %s ddl_source=%s", q(c.Pair.Name), q(c.Pair.DDLSource))

	nodes := slices.Clone(c.Nodes)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		line("node %s", q(n.Name))
		line("  database %s", n.Database.canonical())
		transport := "insecure"
		if !n.Agent.Insecure {
			transport = "tls"
		}
		line("  agent listen=%s address=%s admin=%s transport=%s", q(n.Agent.Listen), q(n.Agent.Address), q(n.Agent.Admin), transport)
	}
	line("retry connection=%d other=%d", int64(c.Retry.Connection), int64(c.Retry.Other))
	line("conflicts policy=%s retention=%d", q(c.Conflicts.Policy), int64(c.Conflicts.Retention))
	line("ddl replicate=%t reverse=%s allow=%s deny=%s", c.DDL.Replicate, q(c.DDL.Reverse), canonicalSet(c.DDL.Allow), canonicalSet(c.DDL.Deny))
	line("names case=%s", q(c.Names.Case))
	line("sync schema=%t data=%t existing_tables=%s parallelism=%d", c.Sync.Schema, c.Sync.Data, q(c.Sync.ExistingTables), c.Sync.Parallelism)
	for _, p := range []struct {
		phase string
		t     Throttle
	}{{throttleInitial, c.Throttle.Initial}, {throttleIncremental, c.Throttle.Incremental}} {
		line("throttle %s rows_per_second=%s mb_per_second=%s queries_per_second=%s", q(p.phase),
			canonicalRate(p.t.RowsPerSecond), canonicalRate(p.t.MBPerSecond), canonicalRate(p.t.QueriesPerSecond))
	}

	schemas := slices.Clone(c.Schemas)
	sort.Slice(schemas, func(i, j int) bool { return schemas[i].Name < schemas[j].Name })
	for _, s := range schemas {
		line("schema %s target=%s tables=%s exclude=%s operations=%s", q(s.Name), q(s.Target), canonicalSet(s.Tables), canonicalSet(s.Exclude), canonicalOps(s.Operations))
	}
	tables := slices.Clone(c.Tables)
	sort.Slice(tables, func(i, j int) bool {
		if tables[i].Schema != tables[j].Schema {
			return tables[i].Schema < tables[j].Schema
		}
		return tables[i].Name < tables[j].Name
	})
	for _, t := range tables {
		line("table %s %s target=%s %s operations=%s conflicts=%s columns=%s renames=%s where=%s", q(t.Schema), q(t.Name), q(t.TargetSchema), q(t.TargetName),
			canonicalOps(t.Operations), q(t.Conflicts), canonicalColumns(t.Columns), canonicalRenames(t.ColumnTargets), q(t.Where))
	}
	return b.String()
}

// canonicalRate renders a throttle rate: the shortest decimal that reads
// back as the same float64 ("0" is unlimited).
func canonicalRate(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// canonicalColumns renders a column subset as a sorted set; "*" is every
// column (no columns attribute).
func canonicalColumns(cols []string) string {
	if cols == nil {
		return "*"
	}
	return canonicalSet(cols)
}

// canonicalRenames renders column renames as "from"="to" pairs sorted by
// the source name.
func canonicalRenames(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strconv.Quote(k) + "=" + strconv.Quote(m[k])
	}
	return "[" + strings.Join(out, ",") + "]"
}

// canonical renders the connection settings that are neither secret nor
// local, sorted by keyword, so a URL and the equivalent key=value string
// give the same result.
func (d Database) canonical() string {
	kv, err := parseConnString(d.URL)
	if err != nil {
		return "invalid"
	}
	if d.SSLMode != "" {
		kv.set("sslmode", d.SSLMode)
	}
	var keep connKV
	for _, p := range kv {
		if !secretKeywords[p[0]] && !localKeywords[p[0]] {
			keep = append(keep, p)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i][0] < keep[j][0] })
	return keep.String()
}

func canonicalSet(vals []string) string {
	s := slices.Clone(vals)
	sort.Strings(s)
	s = slices.Compact(s)
	for i := range s {
		s[i] = strconv.Quote(s[i])
	}
	return "[" + strings.Join(s, ",") + "]"
}

func canonicalOps(ops []Op) string {
	var out []string
	for _, op := range allOps {
		if slices.Contains(ops, op) {
			out = append(out, string(op))
		}
	}
	return "[" + strings.Join(out, ",") + "]"
}
