package policies

import (
	"sort"
)

// Plan is what a config makes pgduet do, without touching a database: the
// offline part of `pgduet plan` (the command adds each node's tables when it
// can reach the databases). Field names are stable: scripts read the JSON.
type Plan struct {
	Pair      string        `json:"pair"`
	DDLSource string        `json:"ddl_source"`
	Digest    string        `json:"config_digest"`
	NamesCase string        `json:"names_case"`
	DDL       PlanDDL       `json:"ddl"`
	Conflicts PlanConflicts `json:"conflicts"`
	Retry     PlanRetry     `json:"retry"`
	Nodes     []*PlanNode   `json:"nodes"`
}

// PlanDDL is the effective ddl block.
type PlanDDL struct {
	Replicate bool     `json:"replicate"`
	Reverse   string   `json:"reverse"`
	Allow     []string `json:"allow"`
	Deny      []string `json:"deny"`
}

// PlanConflicts is the pair's conflicts block.
type PlanConflicts struct {
	Policy    string `json:"policy"`
	Retention string `json:"retention"`
}

// PlanRetry is the retry block.
type PlanRetry struct {
	Connection string `json:"connection"`
	Other      string `json:"other"`
}

// PlanNode is one node: its role, where it is, and what it sends, in its
// own names.
type PlanNode struct {
	Name     string `json:"name"`
	Role     string `json:"role"` // "ddl source" or "ddl follower"
	Database string `json:"database"`
	Listen   string `json:"listen"`
	Address  string `json:"address"`
	Admin    string `json:"admin,omitempty"`
	TLS      bool   `json:"tls"`
	Peer     string `json:"peer"`
	DDLHere  string `json:"ddl"` // what happens to DDL run on this node
	// Selections are the schema and table blocks as they apply to this
	// node's tables, in declaration order (schema blocks first).
	Selections []PlanSelection `json:"selections"`
	// Tables are the tables found in the node's database (filled by the
	// command when it can connect; nil offline).
	Tables []PlanTable `json:"tables,omitempty"`
	// Live says whether Tables were read ("" offline, else "read" or the
	// reason they could not be).
	Live string `json:"live,omitempty"`
	// Running is what the node's agent runs, asked at its admin endpoint
	// ("" offline): "this config", "config digest X", or "not reachable".
	Running string `json:"running,omitempty"`
}

// PlanSelection is one schema or table block in a node's names.
//
// Columns and ColumnTargets are a table block's `columns` and column
// blocks, in the node's names: Columns is the column subset (this node's
// names, in the order of the config; absent: every column), ColumnTargets
// maps each renamed column of this node to its name on the peer (on the
// DDL source: source name → target; on the other node the inverse, target
// → source name). A column of Columns that ColumnTargets does not list
// keeps its name on the peer.
type PlanSelection struct {
	Kind          string            `json:"kind"` // "schema" or "table"
	Name          string            `json:"name"` // schema, or schema.table
	PeerName      string            `json:"peer_name"`
	Tables        []string          `json:"tables,omitempty"`  // schema: globs
	Exclude       []string          `json:"exclude,omitempty"` // schema: globs
	Operations    []Op              `json:"operations"`
	Conflicts     string            `json:"conflicts"`
	Columns       []string          `json:"columns,omitempty"` // table: column subset
	ColumnTargets map[string]string `json:"column_targets,omitempty"`
	Where         string            `json:"where,omitempty"` // table: the row filter // table: renamed columns
}

// PlanTable is one table of a node that the config selects (or that is in
// the publication although it no longer is).
type PlanTable struct {
	Name       string       `json:"name"`
	PeerName   string       `json:"peer_name"`
	Columns    []PlanColumn `json:"columns"`
	Key        []string     `json:"key"`              // replica identity index, else primary key; empty without either
	Identity   string       `json:"replica_identity"` // default, index, full, nothing
	Operations []Op         `json:"operations"`
	Conflicts  string       `json:"conflicts"`
	Change     string       `json:"change"` // against what the node's publication holds now: "add", "keep", "remove"
	Warnings   []string     `json:"warnings,omitempty"`
}

// PlanColumn is one column of a planned table.
type PlanColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Plan returns the offline plan of the config.
func (c *Config) Plan() *Plan {
	p := &Plan{
		Pair:      c.Pair.Name,
		DDLSource: c.Pair.DDLSource,
		Digest:    c.Digest(),
		NamesCase: c.Names.Case,
		DDL:       PlanDDL{Replicate: c.DDL.Replicate, Reverse: c.DDL.Reverse, Allow: nonNilStrings(c.DDL.Allow), Deny: nonNilStrings(c.DDL.Deny)},
		Conflicts: PlanConflicts{Policy: c.Conflicts.Policy, Retention: c.Conflicts.Retention.String()},
		Retry:     PlanRetry{Connection: c.Retry.Connection.String(), Other: c.Retry.Other.String()},
	}
	for _, n := range c.Nodes {
		peer := c.Peer(n.Name)
		pn := &PlanNode{
			Name: n.Name, Role: "ddl follower", Database: n.Database.Redacted(), Listen: n.Agent.Listen, Address: n.Agent.Address,
			Admin: n.Agent.Admin, TLS: n.Agent.TLS != nil, Peer: peer.Name, Selections: []PlanSelection{},
		}
		if n.Name == c.Pair.DDLSource {
			pn.Role = "ddl source"
		}
		switch {
		case !c.DDL.Replicate:
			pn.DDLHere = "not replicated"
		case n.Name == c.Pair.DDLSource:
			pn.DDLHere = "replicated to " + peer.Name
		case c.DDL.Reverse == "reject":
			pn.DDLHere = "rejected (only " + c.Pair.DDLSource + " may run DDL)"
		default:
			pn.DDLHere = "ignored (not shipped to " + peer.Name + ")"
		}
		role := c.role(n.Name)
		for _, s := range c.Schemas {
			name, peerName := s.Name, s.Target
			if role == roleOther {
				name, peerName = s.Target, s.Name
			}
			pn.Selections = append(pn.Selections, PlanSelection{Kind: "schema", Name: name, PeerName: peerName,
				Tables: s.Tables, Exclude: s.Exclude, Operations: s.Operations, Conflicts: c.Conflicts.Policy})
		}
		for _, t := range c.Tables {
			name, peerName := t.Schema+"."+t.Name, t.TargetSchema+"."+t.TargetName
			if role == roleOther {
				name, peerName = peerName, name
			}
			sel := PlanSelection{Kind: "table", Name: name, PeerName: peerName, Operations: t.Operations, Conflicts: t.Conflicts}
			sel.Columns, sel.ColumnTargets = planColumns(t, role == roleOther)
			sel.Where = t.Where
			pn.Selections = append(pn.Selections, sel)
		}
		p.Nodes = append(p.Nodes, pn)
	}
	sort.SliceStable(p.Nodes, func(i, j int) bool { return p.Nodes[i].Name < p.Nodes[j].Name })
	return p
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// planColumns returns table block t's column subset and renames in the
// names of the DDL source, or of the other node when other is set (its
// column names, renames mapping back to the source's names). Fresh copies;
// nil when the block has none.
func planColumns(t *TableSel, other bool) ([]string, map[string]string) {
	var cols []string
	if t.Columns != nil {
		cols = make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c
			if other {
				if dst, ok := t.ColumnTargets[c]; ok {
					cols[i] = dst
				}
			}
		}
	}
	var targets map[string]string
	if len(t.ColumnTargets) > 0 {
		targets = make(map[string]string, len(t.ColumnTargets))
		for src, dst := range t.ColumnTargets {
			if other {
				targets[dst] = src
			} else {
				targets[src] = dst
			}
		}
	}
	return cols, targets
}
