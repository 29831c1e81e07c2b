package initial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pgduet/pgduet/agent/transport"
)

// The schema step uses pg_dump rather than the catalogs: pg_dump already
// knows every kind of object (types, domains, functions, triggers, policies,
// extensions, partitions ...), their dependency order, and every server
// version's quirks; a catalog reader would have to relearn all of it. The
// dump runs under the exported snapshot (--snapshot), so the schema and the
// rows are of the same instant, and is split and mapped by ddlparse on the
// receiving side like replicated DDL.

// findPgDump returns the pg_dump to run: $PGDUET_PG_DUMP, else the newest in
// /usr/lib/postgresql/*/bin (Debian's layout, where each server version has
// its own), else the one on PATH.
func findPgDump() (string, error) {
	if p := os.Getenv("PGDUET_PG_DUMP"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PGDUET_PG_DUMP=%s: %w", p, err)
		}
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	if len(dirs) > 0 {
		return dirs[0], nil
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return p, nil
	}
	return "", errors.New("pg_dump not found (set PGDUET_PG_DUMP, or install the PostgreSQL client of the server's version or newer, e.g. apt-get install -y postgresql-client-15); without it, set sync { schema = false } and create the schema on the peer yourself")
}

func majorOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// dumpPattern quotes names for pg_dump's --schema/--table patterns: inside
// double quotes every character is literal ("" is a quote).
func dumpPattern(names ...string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
	}
	return strings.Join(q, ".")
}

// pgDump runs pg_dump with args against the database keywords describe,
// writing its output to w. The connection settings, password included, go
// in a private service file, never on the command line.
func pgDump(ctx context.Context, keywords [][2]string, args []string, w io.Writer) error {
	bin, err := findPgDump()
	if err != nil {
		return transport.Permanent(err)
	}
	dir, err := os.MkdirTemp("", "pgduet-dump-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var svc strings.Builder
	svc.WriteString("[pgduet]\n")
	for _, kv := range keywords {
		if strings.ContainsAny(kv[1], "\n\r") {
			return transport.Permanent(fmt.Errorf("connection setting %s holds a line break, which pg_dump's service file cannot carry", kv[0]))
		}
		fmt.Fprintf(&svc, "%s=%s\n", kv[0], kv[1])
	}
	file := filepath.Join(dir, "pg_service.conf")
	if err := os.WriteFile(file, []byte(svc.String()), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGSERVICEFILE="+file, "PGSERVICE=pgduet", "PGAPPNAME=pgduet initial sync")
	var stderr bytes.Buffer
	cmd.Stdout = w
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("initial sync: %s: %v: %s", filepath.Base(bin), err, msg)
	}
	return nil
}
