package initial

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgduet/pgduet/agent/change"
)

// Skips says which changes from the DDL source the initial sync already
// holds: a table's (or its partitions') changes from transactions that
// committed before the LSN its rows were copied at, and DDL and changes of
// tables the copy did not record, committed before the schema LSN. The
// source's stream starts at its slot, which is older than any snapshot, so
// these arrive and must be dropped, not applied twice.
type Skips struct {
	schema change.LSN
	tables map[change.TableRef]change.LSN
	max    change.LSN // nothing at or after it is skipped
}

// LoadSkips reads the skips of pair on the receiving node; nil when there are
// none (no initial sync ran).
func LoadSkips(ctx context.Context, conn *pgx.Conn, pair string) (*Skips, error) {
	k := &Skips{tables: map[change.TableRef]change.LSN{}}
	var schema string
	err := conn.QueryRow(ctx, "SELECT schema_lsn::text FROM pgduet.initial_sync WHERE pair = $1", pair).Scan(&schema)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("initial sync: read state: %w", err)
	}
	if k.schema, err = parseLSN(schema); err != nil {
		return nil, err
	}
	k.max = k.schema
	// A partitioned table's changes arrive under its partitions' names:
	// they inherit its LSN.
	rows, err := conn.Query(ctx, `SELECT t.schema::text, t.name::text, t.lsn::text FROM pgduet.initial_sync_tables t WHERE t.pair = $1
		UNION
		SELECT n.nspname::text, c.relname::text, t.lsn::text FROM pgduet.initial_sync_tables t
			CROSS JOIN LATERAL pg_catalog.pg_partition_tree(pg_catalog.to_regclass(pg_catalog.format('%I.%I', t.schema, t.name))) p
			JOIN pg_catalog.pg_class c ON c.oid = p.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE t.pair = $1`, pair)
	if err != nil {
		return nil, fmt.Errorf("initial sync: read copied tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t change.TableRef
		var l string
		if err := rows.Scan(&t.Schema, &t.Name, &l); err != nil {
			return nil, err
		}
		lsn, err := parseLSN(l)
		if err != nil {
			return nil, err
		}
		k.tables[t] = lsn
		k.max = max(k.max, lsn)
	}
	return k, rows.Err()
}

func parseLSN(s string) (change.LSN, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("initial sync: bad LSN %q: %w", s, err)
	}
	return change.LSN(uint64(hi)<<32 | uint64(lo)), nil
}

// Filter drops from tx the changes the copy holds already and returns how
// many it dropped. A transaction that commits at or after every copy's LSN is
// left alone. A spilled transaction that names a table whose changes the
// copy holds is read back into memory first (this happens only while the
// stream catches up with the copy); the error is that read's.
func (k *Skips) Filter(tx *change.Tx) (int, error) {
	if k == nil || tx.CommitLSN >= k.max {
		return 0, nil
	}
	skip := func(t change.TableRef) bool {
		lsn, ok := k.tables[t]
		if !ok {
			// DDL, and tables the copy did not see (dropped or renamed
			// before its snapshot): before the schema's snapshot, the
			// copy holds their effect already.
			return tx.CommitLSN < k.schema
		}
		return tx.CommitLSN < lsn
	}
	if tx.Spill != nil {
		// Read back only when the copy holds some of it already.
		hit := false
		for _, r := range tx.Spill.Relations() {
			hit = hit || skip(r.Table)
		}
		if !hit {
			return 0, nil
		}
		if err := tx.Unspill(); err != nil {
			return 0, fmt.Errorf("initial sync: filter %s: %w", tx, err)
		}
	}
	kept := tx.Changes[:0]
	dropped := 0
	for _, ch := range tx.Changes {
		if ch.Op == change.Truncate {
			var rels []*change.Relation
			for _, r := range ch.Rels {
				if !skip(r.Table) {
					rels = append(rels, r)
				}
			}
			if len(rels) == 0 {
				dropped++
				continue
			}
			ch.Rels = rels
		} else if ch.Rel != nil && skip(ch.Rel.Table) {
			dropped++
			continue
		}
		kept = append(kept, ch)
	}
	clear(tx.Changes[len(kept):])
	tx.Changes = kept
	return dropped, nil
}
