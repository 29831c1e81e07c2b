package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser and Password log in to every cluster over TCP (scram-sha-256, so a
// wrong password fails as it would in production).
const (
	Superuser = "postgres"
	Password  = "pgduet-test"
)

// Cluster is a running (or stopped) throwaway PostgreSQL server.
type Cluster struct {
	Name   string
	Dir    string // base directory: data/, the socket and the server log
	Port   int
	binDir string
	cred   *syscall.Credential // non-nil when the server runs as another OS user

	mu      sync.Mutex
	running bool
	DBSeq   atomic.Int64 // numbers databases made by test helpers
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// FindBin locates initdb and pg_ctl.
func FindBin() (string, error) {
	binOnce.Do(func() {
		if d := os.Getenv("PG_BIN"); d != "" {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
				binErr = fmt.Errorf("PG_BIN=%s has no initdb: %w", d, err)
				return
			}
			binDir = d
			return
		}
		if p, err := exec.LookPath("initdb"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			binDir = filepath.Dir(p)
			return
		}
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				binDir = d
				return
			}
		}
		binErr = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BIN, on PATH or in /usr/lib/postgresql/*/bin; install them with `apt-get install -y postgresql`")
	})
	return binDir, binErr
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// serverCredential returns the credential to run the server with: nil when not
// root, the "postgres" user when root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no \"postgres\" OS user to run the test server as (initdb refuses root): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start creates and starts a new cluster in a fresh temporary directory. The
// caller owns it: Destroy stops it and removes the directory.
func Start(name string, extraConf ...string) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	reapOnce.Do(reapOrphans)
	dir, err := os.MkdirTemp("", "pgduet-"+name+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: name, Dir: dir, binDir: bin, cred: cred}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		_ = os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	if out, err := c.run("initdb", "-D", c.DataDir(), "-U", Superuser, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb %s: %v\n%s", name, err, out)
	}
	os.Remove(pwfile)
	for attempt := 0; ; attempt++ {
		c.Port, err = FreePort()
		if err != nil {
			return nil, err
		}
		conf := []string{
			"listen_addresses = '127.0.0.1'",
			fmt.Sprintf("port = %d", c.Port),
			fmt.Sprintf("unix_socket_directories = '%s'", dir),
			"wal_level = logical",
			"track_commit_timestamp = on",
			"max_replication_slots = 64", // slots and replication origin states: test pairs each take some
			"max_wal_senders = 32",
			"fsync = off",
			"full_page_writes = off",
			"shared_buffers = 64MB",
			"max_connections = 100",
			"log_min_messages = warning",
			"log_line_prefix = '%m [%p] %q%u@%d '",
		}
		conf = append(conf, extraConf...)
		if err := os.WriteFile(filepath.Join(c.DataDir(), "postgresql.auto.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
		if err := c.Restart(); err != nil {
			if attempt < 3 && strings.Contains(err.Error(), "could not bind") {
				continue // someone took the port between FreePort and start
			}
			return nil, err
		}
		return c, nil
	}
}

// ownerFile holds the PID of the process that started a cluster.
const ownerFile = "owner.pid"

var reapOnce sync.Once

// reapOrphans stops and removes the clusters whose owner process is gone (a test
// binary killed by its timeout never runs its cleanup). Only directories this
// package made, with an owner.pid, are touched; their servers are stopped by
// the PID in their postmaster.pid.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgduet-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner <= 0 || syscall.Kill(owner, 0) == nil || owner == os.Getpid() {
			continue // not ours, or its owner is alive
		}
		c := &Cluster{Dir: dir}
		if pid := c.postmasterPID(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGQUIT) // immediate shutdown
			for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(50 * time.Millisecond) // waiting for a foreign process to exit; nothing to poll instead
			}
		}
		os.RemoveAll(dir)
	}
}

// DataDir is the cluster's PGDATA.
func (c *Cluster) DataDir() string { return filepath.Join(c.Dir, "data") }

// LogFile is the server log.
func (c *Cluster) LogFile() string { return filepath.Join(c.Dir, "server.log") }

func (c *Cluster) run(tool string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.binDir, tool), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// Restart starts the server again (after Stop or Crash) and waits until it accepts connections.
func (c *Cluster) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	out, err := c.run("pg_ctl", "-D", c.DataDir(), "-l", c.LogFile(), "-w", "-t", "60", "start")
	if err != nil {
		logTail, _ := os.ReadFile(c.LogFile())
		if len(logTail) > 2000 {
			logTail = logTail[len(logTail)-2000:]
		}
		return fmt.Errorf("pg_ctl start %s: %v\n%s\n%s", c.Name, err, out, logTail)
	}
	c.running = true
	return nil
}

// Stop shuts the server down cleanly (fast mode).
func (c *Cluster) Stop() error { return c.stop("fast") }

// Crash stops the server the way a power cut would (immediate mode: no checkpoint,
// crash recovery at the next Start).
func (c *Cluster) Crash() error { return c.stop("immediate") }

func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	out, err := c.run("pg_ctl", "-D", c.DataDir(), "-w", "-t", "60", "-m", mode, "stop")
	if err != nil {
		// Fall back to the postmaster's PID so nothing we started outlives us.
		if pid := c.postmasterPID(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
		}
		return fmt.Errorf("pg_ctl stop %s: %v\n%s", c.Name, err, out)
	}
	c.running = false
	return nil
}

func (c *Cluster) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// Destroy stops the server and removes its directory.
func (c *Cluster) Destroy() {
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "localpg:", err)
	}
	os.RemoveAll(c.Dir)
}

// DSN returns a TCP connection string for the database, with the superuser's password.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, Password, c.Port, db)
}

// URL returns the connection URL without the password (for configs that pass the
// password separately).
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.Port, db)
}

// DropDB drops a database with everything that could hold it open.
func (c *Cluster) DropDB(name string) {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, name)
	_, _ = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, name)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}
