package agent

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/policies"
)

// eventTriggers are the event triggers sql/0002_ddl.sql creates.
var eventTriggers = []string{"pgduet_ddl_command_end", "pgduet_sql_drop", "pgduet_table_rewrite"}

// Uninstall removes every object pgduet created on the node's database: its
// event triggers, its replication slot, its publication, the replication
// origins of this pair, and schema pgduet with everything in it (the DDL queue
// and the conflict log included). Schema pgduet and the event triggers are
// shared by the pairs whose agents run on the database: they are removed with
// the last pair. It refuses while the slot is in use, because that means an agent is
// still running. It returns what it removed; running it twice is harmless.
func Uninstall(ctx context.Context, cfg *policies.Config, nodeName string) ([]string, error) {
	node, err := cfg.Node(nodeName)
	if err != nil {
		return nil, err
	}
	cs, err := node.Database.ConnString()
	if err != nil {
		return nil, fmt.Errorf("node %s: database: %w", node.Name, err)
	}
	conn, err := pgx.Connect(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("node %s: database %s: connect: %w", node.Name, node.Database.Redacted(), err)
	}
	defer conn.Close(context.Background())

	pair := cfg.Pair.Name
	slot := "pgduet_" + pair + "_" + node.Name
	pub := "pgduet_" + pair
	var removed []string

	var activePID *int32
	err = conn.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&activePID)
	switch {
	case err == pgx.ErrNoRows:
	case err != nil:
		return nil, fmt.Errorf("node %s: read slot %s: %w", node.Name, slot, err)
	case activePID != nil:
		return nil, fmt.Errorf("node %s: slot %s is in use by process %d: stop the pgduet agent on %s first", node.Name, slot, *activePID, node.Name)
	default:
		if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot); err != nil {
			return removed, fmt.Errorf("node %s: drop slot %s: %w", node.Name, slot, err)
		}
		removed = append(removed, "replication slot "+slot)
	}

	// Schema pgduet and the event triggers serve every pair whose agent runs
	// on this database (pgduet.pair_settings has a row per pair): they go
	// only with the last pair. This pair's row goes first, so its DDL is no
	// longer captured or rejected because of it.
	others := 0
	var hasSettings bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('pgduet.pair_settings') IS NOT NULL").Scan(&hasSettings); err != nil {
		return removed, err
	}
	if hasSettings {
		if _, err := conn.Exec(ctx, "DELETE FROM pgduet.pair_settings WHERE pair = $1", pair); err != nil {
			return removed, fmt.Errorf("node %s: remove pair %s from pgduet.pair_settings: %w", node.Name, pair, err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pgduet.pair_settings").Scan(&others); err != nil {
			return removed, err
		}
	}

	// The event triggers go before the publication, so nothing of the
	// removal is captured (DROP EVENT TRIGGER itself never fires them).
	for _, et := range eventTriggers {
		if others > 0 {
			break
		}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = $1)", et).Scan(&exists); err != nil {
			return removed, err
		}
		if !exists {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP EVENT TRIGGER "+pgx.Identifier{et}.Sanitize()); err != nil {
			return removed, fmt.Errorf("node %s: drop event trigger %s: %w", node.Name, et, err)
		}
		removed = append(removed, "event trigger "+et)
	}

	var hasPub bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", pub).Scan(&hasPub); err != nil {
		return removed, err
	}
	if hasPub {
		if _, err := conn.Exec(ctx, "DROP PUBLICATION "+pgx.Identifier{pub}.Sanitize()); err != nil {
			return removed, fmt.Errorf("node %s: drop publication %s: %w", node.Name, pub, err)
		}
		removed = append(removed, "publication "+pub)
	}

	rows, err := conn.Query(ctx, `SELECT roname FROM pg_replication_origin WHERE starts_with(roname, $1) ORDER BY 1`, "pgduet_"+pair+"_")
	if err != nil {
		return removed, err
	}
	origins, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return removed, err
	}
	for _, o := range origins {
		if _, err := conn.Exec(ctx, "SELECT pg_replication_origin_drop($1)", o); err != nil {
			return removed, fmt.Errorf("node %s: drop replication origin %s (is an agent still applying?): %w", node.Name, o, err)
		}
		removed = append(removed, "replication origin "+o)
	}

	var hasSchema bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgduet')").Scan(&hasSchema); err != nil {
		return removed, err
	}
	if hasSchema && others > 0 {
		removed = append(removed, fmt.Sprintf("pair %s from pgduet.pair_settings (schema pgduet and its event triggers stay: %d other pair(s) use this database)", pair, others))
	}
	if hasSchema && others == 0 {
		if _, err := conn.Exec(ctx, "DROP SCHEMA pgduet CASCADE"); err != nil {
			return removed, fmt.Errorf("node %s: drop schema pgduet: %w", node.Name, err)
		}
		removed = append(removed, "schema pgduet")
	}
	return removed, nil
}
