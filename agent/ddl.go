package agent

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/apply"
	"github.com/pgduet/pgduet/agent/capture"
	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/ddlparse"
	"github.com/pgduet/pgduet/policies"
)

// queueRetention is how long captured DDL stays in pgduet.ddl_queue. The rows
// are read only from the WAL (decoding never looks at the table), so pruning
// them loses nothing; they are kept a while for the DBA to inspect.
const queueRetention = "7 days"

// prepareDDL tells the local event triggers what this node is (SPEC §6.4):
// they capture DDL when the pair replicates it and, on the node that is not
// the DDL source with ddl.reverse = "reject", refuse it. It also prunes old
// queue rows and, per conflicts.retention, old conflict-log rows.
func prepareDDL(ctx context.Context, conn *pgx.Conn, cfg *policies.Config, node string) error {
	_, err := conn.Exec(ctx, `INSERT INTO pgduet.pair_settings AS s (pair, node, ddl_source, replicate, reverse)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (pair) DO UPDATE SET node = EXCLUDED.node, ddl_source = EXCLUDED.ddl_source,
			replicate = EXCLUDED.replicate, reverse = EXCLUDED.reverse, updated_at = now()
		WHERE (s.node, s.ddl_source, s.replicate, s.reverse) IS DISTINCT FROM
		      (EXCLUDED.node, EXCLUDED.ddl_source, EXCLUDED.replicate, EXCLUDED.reverse)`,
		cfg.Pair.Name, node, cfg.Pair.DDLSource, cfg.DDL.Replicate, cfg.DDL.Reverse)
	if err != nil {
		return fmt.Errorf("record the DDL settings in pgduet.pair_settings: %w", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM pgduet.ddl_queue WHERE captured_at < now() - $1::interval`, queueRetention); err != nil {
		return fmt.Errorf("prune pgduet.ddl_queue: %w", err)
	}
	// conflicts.retention; events still waiting for a DBA are kept.
	if _, err := conn.Exec(ctx, `DELETE FROM pgduet.conflicts WHERE pair = $1 AND logged_at < now() - $2 * interval '1 second'
		AND resolution NOT IN ('stopped', 'skip_requested')`, cfg.Pair.Name, cfg.Conflicts.Retention.Seconds()); err != nil {
		return fmt.Errorf("prune pgduet.conflicts: %w", err)
	}
	return nil
}

// publicationTables is what the node's publication lists besides whole
// schemas: the selected tables, and the DDL queue when DDL is replicated.
func publicationTables(cfg *policies.Config, node string) [][2]string {
	tables := cfg.PublicationTablesOn(node)
	if cfg.DDL.Replicate {
		tables = append(tables, [2]string{change.DDLQueue.Schema, change.DDLQueue.Name})
	}
	return tables
}

// captureDDLMode is what capture does with queue rows on node.
func captureDDLMode(cfg *policies.Config, node string) capture.DDLMode {
	switch {
	case !cfg.DDL.Replicate:
		return capture.DDLOff
	case node == cfg.Pair.DDLSource:
		return capture.DDLForward
	}
	return capture.DDLIgnore
}

// ddlRules is how the receiving node treats DDL from peer: nil unless peer is
// the DDL source and DDL is replicated.
func ddlRules(cfg *policies.Config, peer string) *apply.DDLRules {
	if !cfg.DDL.Replicate || peer != cfg.Pair.DDLSource {
		return nil
	}
	m := ddlparse.Mapping{Schemas: map[string]string{}, Tables: map[ddlparse.QName]ddlparse.QName{}}
	for from, to := range cfg.SchemaTargets() {
		if from != to {
			m.Schemas[from] = to
		}
	}
	for from, to := range cfg.TableTargets() {
		src, dst := ddlparse.QName{Schema: from[0], Name: from[1]}, ddlparse.QName{Schema: to[0], Name: to[1]}
		if src != dst && m.Relation(src) != dst {
			m.Tables[src] = dst
		}
	}
	allow, deny := cfg.DDL.Allow, cfg.DDL.Deny
	return &apply.DDLRules{
		Mapping: m,
		Allowed: func(tag string) (bool, string) {
			for _, p := range deny {
				if ddlparse.MatchTag(p, tag) {
					return false, "deny " + p
				}
			}
			for _, p := range allow {
				if ddlparse.MatchTag(p, tag) {
					return true, "allow " + p
				}
			}
			return false, "not in allow"
		},
		Selected: func(schema, name string, relation bool) bool {
			if relation {
				_, ok := cfg.Selected(schema, name)
				return ok
			}
			return cfg.SchemaSelectedOn(cfg.Pair.DDLSource, schema)
		},
		Stop:   cfg.Conflicts.Policy == policies.PolicyFail,
		Policy: cfg.Conflicts.Policy,
	}
}
