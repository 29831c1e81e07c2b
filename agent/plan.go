package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/capture"
	"github.com/pgduet/pgduet/policies"
)

// planCatalogSQL lists the node's tables outside the system schemas and
// pgduet's: name, columns and types, key columns (replica identity index,
// else primary key), replica identity, whether a column can be TOASTed, and
// whether the pair's publication already covers the table.
const planCatalogSQL = `
SELECT n.nspname::text, c.relname::text, c.relreplident::text,
       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
       coalesce((SELECT array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}'),
       coalesce((SELECT array_agg(a.attname::text ORDER BY k.n)
                   FROM pg_catalog.pg_index i
                  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE i.indexrelid = (SELECT i2.indexrelid FROM pg_catalog.pg_index i2
                                         WHERE i2.indrelid = c.oid AND (i2.indisprimary OR (i2.indisreplident AND c.relreplident = 'i'))
                                         ORDER BY (i2.indisreplident AND c.relreplident = 'i') DESC LIMIT 1)
                    AND k.n <= i.indnkeyatts), '{}'),
       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND t.typstorage <> 'p'),
       EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables p WHERE p.pubname = $1 AND p.schemaname = n.nspname AND p.tablename = c.relname)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgduet') AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY 1, 2`

// PlanTables reads node's database and fills the plan's tables for it: each
// table the config selects there (with what the agent would do to the
// publication), each table the publication covers that the config no
// longer selects, and what looks wrong (no key, a table missing on the peer
// when its database was read too: call it for both nodes, then
// CrossCheckPlan).
func PlanTables(ctx context.Context, cfg *policies.Config, node *policies.Node) ([]policies.PlanTable, error) {
	connString, err := node.Database.ConnString()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Database.Redacted(), err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, planCatalogSQL, capture.PublicationName(cfg.Pair.Name))
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	defer rows.Close()
	pubSchemas := map[string]bool{}
	for _, s := range cfg.PublicationSchemasOn(node.Name) {
		pubSchemas[s] = true
	}
	out := []policies.PlanTable{}
	for rows.Next() {
		var schema, name, ident string
		var cols, types, key []string
		var toastable, published bool
		if err := rows.Scan(&schema, &name, &ident, &cols, &types, &key, &toastable, &published); err != nil {
			return nil, fmt.Errorf("read the catalog: %w", err)
		}
		ops, selected := cfg.SelectedOn(node.Name, schema, name)
		if !selected && !(published && !pubSchemas[schema]) {
			continue
		}
		ps, pt := cfg.MapTable(node.Name, schema, name)
		t := policies.PlanTable{
			Name: schema + "." + name, PeerName: ps + "." + pt, Key: key, Identity: identityName(ident),
			Operations: ops, Conflicts: cfg.PolicyOn(node.Name, schema, name), Change: "keep",
		}
		if t.Key == nil {
			t.Key = []string{}
		}
		for i := range cols {
			t.Columns = append(t.Columns, policies.PlanColumn{Name: cols[i], Type: types[i]})
		}
		switch {
		case !selected:
			t.Change, t.Operations, t.Conflicts = "remove", []policies.Op{}, ""
			t.Warnings = append(t.Warnings, "in the publication but no longer selected: the agent leaves it out from its next start")
		case !published:
			t.Change = "add"
		}
		if selected {
			t.Warnings = append(t.Warnings, tableWarnings(t, ident, toastable)...)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	return out, nil
}

// tableWarnings is what the catalog says will go wrong for a selected table.
func tableWarnings(t policies.PlanTable, ident string, toastable bool) []string {
	var w []string
	changes := false
	for _, op := range t.Operations {
		if op == policies.OpUpdate || op == policies.OpDelete {
			changes = true
		}
	}
	if len(t.Key) == 0 && ident != "f" && changes {
		w = append(w, "no primary key or replica identity index: PostgreSQL refuses UPDATE and DELETE on it while it is published; add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL")
	}
	if t.Conflicts == policies.PolicyLastWriteWins && len(t.Key) == 0 {
		w = append(w, "last_write_wins needs a primary key: the agent refuses to start")
	}
	if toastable && ident != "f" && (t.Conflicts == policies.PolicyLastWriteWins || t.Conflicts == policies.PolicyOverwrite) {
		msg := "columns that can be TOASTed and no REPLICA IDENTITY FULL: an UPDATE of a row missing on the peer cannot be inserted whole (skipped_incomplete)"
		if t.Conflicts == policies.PolicyLastWriteWins {
			msg += ", and an UPDATE that wins cannot restore a large value it did not send"
		}
		w = append(w, msg)
	}
	return w
}

func identityName(c string) string {
	switch c {
	case "d":
		return "default"
	case "i":
		return "index"
	case "f":
		return "full"
	case "n":
		return "nothing"
	}
	return c
}

// CrossCheckPlan warns about selected tables missing on the peer, once both
// nodes' tables were read.
func CrossCheckPlan(p *policies.Plan) {
	byNode := map[string]*policies.PlanNode{}
	for _, n := range p.Nodes {
		byNode[n.Name] = n
	}
	for _, n := range p.Nodes {
		peer := byNode[n.Peer]
		if n.Tables == nil || peer == nil || peer.Tables == nil {
			continue
		}
		have := map[string]bool{}
		for _, t := range peer.Tables {
			have[t.Name] = true
		}
		for i := range n.Tables {
			t := &n.Tables[i]
			if t.Change != "remove" && !have[t.PeerName] {
				t.Warnings = append(t.Warnings, fmt.Sprintf("missing on %s as %s: create it there with the same columns (there is no initial sync yet)", peer.Name, t.PeerName))
			}
		}
	}
}

// FormatPlan renders the plan for people.
func FormatPlan(p *policies.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pair %s, DDL source %s, config digest %s\n", p.Pair, p.DDLSource, p.Digest)
	fmt.Fprintf(&b, "conflicts: %s (log kept %s); retry: connection %s, other %s\n", p.Conflicts.Policy, p.Conflicts.Retention, p.Retry.Connection, p.Retry.Other)
	if p.DDL.Replicate {
		fmt.Fprintf(&b, "ddl: replicated from %s; allow %s; deny %s\n", p.DDLSource, strings.Join(p.DDL.Allow, ", "), strings.Join(p.DDL.Deny, ", "))
	} else {
		b.WriteString("ddl: not replicated\n")
	}
	if p.NamesCase != policies.NamesSource {
		fmt.Fprintf(&b, "names: %s case: the other node names the schemas, tables and columns %s syncs in %s case\n", p.NamesCase, p.DDLSource, p.NamesCase)
	}
	for _, n := range p.Nodes {
		transport := "insecure"
		if n.TLS {
			transport = "mTLS"
		}
		fmt.Fprintf(&b, "\nnode %s (%s): %s\n  agent %s (%s), peer reaches it at %s", n.Name, n.Role, n.Database, n.Listen, transport, n.Address)
		if n.Admin != "" {
			fmt.Fprintf(&b, ", admin %s", n.Admin)
		}
		fmt.Fprintf(&b, "\n  DDL run here: %s\n", n.DDLHere)
		switch {
		case n.Running == "":
		case strings.HasPrefix(n.Running, "config digest "):
			fmt.Fprintf(&b, "  running agent: %s, not this config (%s): restart it to apply this one; until both agents run the same config they refuse each other\n", n.Running, p.Digest)
		default:
			fmt.Fprintf(&b, "  running agent: %s\n", n.Running)
		}
		for _, s := range n.Selections {
			fmt.Fprintf(&b, "  %s %s → %s on %s", s.Kind, s.Name, s.PeerName, n.Peer)
			if s.Kind == "schema" {
				fmt.Fprintf(&b, ": tables %s", strings.Join(s.Tables, ", "))
				if len(s.Exclude) > 0 {
					fmt.Fprintf(&b, " except %s", strings.Join(s.Exclude, ", "))
				}
			}
			if len(s.Columns) > 0 {
				fmt.Fprintf(&b, "; columns %s", strings.Join(s.Columns, ", "))
			}
			if len(s.ColumnTargets) > 0 {
				var r []string
				for from, to := range s.ColumnTargets {
					r = append(r, from+" → "+to)
				}
				sort.Strings(r)
				fmt.Fprintf(&b, "; renamed %s", strings.Join(r, ", "))
			}
			if s.Where != "" {
				fmt.Fprintf(&b, "; where %s", s.Where)
			}
			fmt.Fprintf(&b, "; %s; conflicts %s\n", opsString(s.Operations), s.Conflicts)
		}
		switch {
		case n.Live == "":
		case n.Tables == nil:
			fmt.Fprintf(&b, "  tables: %s\n", n.Live)
		case len(n.Tables) == 0:
			b.WriteString("  tables: none selected in the database\n")
		default:
			b.WriteString("  tables (+ added to the publication at the next start, - left out, = as now):\n")
			for _, t := range n.Tables {
				mark := "="
				switch t.Change {
				case "add":
					mark = "+"
				case "remove":
					mark = "-"
				}
				cols := make([]string, len(t.Columns))
				for i, c := range t.Columns {
					cols[i] = c.Name
				}
				fmt.Fprintf(&b, "  %s %s → %s (%s)", mark, t.Name, t.PeerName, strings.Join(cols, ", "))
				if t.Change != "remove" {
					key := "no key"
					if len(t.Key) > 0 {
						key = "key (" + strings.Join(t.Key, ", ") + ")"
					}
					fmt.Fprintf(&b, "; %s; %s; conflicts %s", key, opsString(t.Operations), t.Conflicts)
				}
				b.WriteString("\n")
				for _, w := range t.Warnings {
					fmt.Fprintf(&b, "      ! %s\n", w)
				}
			}
		}
	}
	return b.String()
}

func opsString(ops []policies.Op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}
