package sql

import (
	"context"
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// installLock is the advisory lock key held while installing ("pgduet" in ASCII).
const installLock = 0x706764756574

// InternalSQL marks the rest of the current transaction as pgduet's own work:
// its event triggers neither capture nor reject DDL run there. Sessions that
// create pgduet's objects (install, publication setup, uninstall) run it.
const InternalSQL = "SELECT pg_catalog.set_config('pgduet.internal', 'on', true)"

// File is one embedded SQL file.
type File struct {
	Version int
	Name    string
	SQL     string
}

// Files returns the embedded SQL files in version order.
func Files() ([]File, error) {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("sql file %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, File{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Latest is the highest version among the embedded files.
func Latest() int {
	fs, err := Files()
	if err != nil || len(fs) == 0 {
		return 0
	}
	return fs[len(fs)-1].Version
}

// Install applies every embedded file newer than the installed version, in one
// transaction. It returns the version installed afterwards. When it returns nil,
// the objects are committed.
func Install(ctx context.Context, conn *pgx.Conn) (int, error) {
	fs, err := Files()
	if err != nil {
		return 0, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(installLock)); err != nil {
		return 0, fmt.Errorf("install pgduet schema: take install lock: %w", err)
	}
	// pgduet's own DDL is neither captured nor rejected by its event triggers.
	if _, err := tx.Exec(ctx, InternalSQL); err != nil {
		return 0, fmt.Errorf("install pgduet schema: %w", err)
	}
	var have int
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('pgduet.schema_version') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if exists {
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM pgduet.schema_version").Scan(&have); err != nil {
			return 0, err
		}
	}
	for _, f := range fs {
		if f.Version <= have {
			continue
		}
		if _, err := tx.Exec(ctx, f.SQL); err != nil {
			return 0, fmt.Errorf("install pgduet schema: %04d_%s.sql: %w", f.Version, f.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pgduet.schema_version (version, name) VALUES ($1, $2)
			ON CONFLICT (version) DO NOTHING`, f.Version, f.Name); err != nil {
			return 0, err
		}
		have = f.Version
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return have, nil
}
