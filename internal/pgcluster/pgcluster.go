// Package pgcluster starts throwaway PostgreSQL clusters for tests, the demo
// and benchmarks.
//
// It finds the server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin,
// PATH), installs Debian's postgresql package when they are missing and the
// process runs as root, initdb's a cluster in a temporary directory, starts it
// on a free loopback port with trust authentication for its superuser, and
// removes everything on Stop. It never uses a server that was already running:
// tests kill and restart their server to test failure paths.
//
// It deliberately leaves out anything a production deployment needs: there is
// no TLS, no password, no tuning beyond what makes tests fast.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Superuser is the name of the cluster's superuser.
const Superuser = "postgres"

// Options configure Start. The zero value is usable.
type Options struct {
	// Dir is where the cluster lives. Empty means a new temporary directory,
	// removed by Stop.
	Dir string
	// Port to listen on; 0 picks a free loopback port.
	Port int
	// Settings are extra postgresql.conf lines ("key = value").
	Settings []string
	// Log receives the server's log. Nil means a file inside Dir.
	Log *os.File
	// CertFile and KeyFile, when set, turn on TLS (ssl = on) with this
	// certificate; the files are copied into the cluster directory.
	CertFile, KeyFile string
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	BinDir  string
	Dir     string
	Host    string
	Port    int
	ownDir  bool
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// ErrNoServer means the PostgreSQL server binaries are absent and could not be
// installed.
var ErrNoServer = errors.New("postgresql server binaries not found")

// FindBinDir returns the directory holding initdb, postgres and pg_ctl.
func FindBinDir() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(byVersion(versions)))
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("postgres"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if isExec(filepath.Join(dir, "postgres")) && isExec(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", ErrNoServer
}

// byVersion sorts /usr/lib/postgresql/N/bin paths by N numerically.
type byVersion []string

func (v byVersion) Len() int      { return len(v) }
func (v byVersion) Swap(i, j int) { v[i], v[j] = v[j], v[i] }
func (v byVersion) Less(i, j int) bool {
	return versionOf(v[i]) < versionOf(v[j])
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// EnsureBinDir is FindBinDir, installing Debian's postgresql package first
// when the binaries are missing and this process runs as root. Concurrent
// callers (parallel test binaries) serialise on a lock file.
func EnsureBinDir(ctx context.Context) (string, error) {
	if dir, err := FindBinDir(); err == nil {
		return dir, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: install them with 'sudo apt-get install postgresql' (Debian/Ubuntu) or put pg_config on PATH", ErrNoServer)
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "sandgate-apt.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if dir, err := FindBinDir(); err == nil {
		return dir, nil // another process installed it while we waited
	}
	fmt.Fprintln(os.Stderr, "pgcluster: PostgreSQL server not found; installing Debian's postgresql package (apt-get)")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql", "postgresql-client"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w\n%s", args[0], err, tail(out, 2000))
		}
	}
	return FindBinDir()
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start initdb's and starts a cluster. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := EnsureBinDir(ctx)
	if err != nil {
		return nil, err
	}
	c := &Cluster{BinDir: bin, Dir: opts.Dir, Host: "127.0.0.1", Port: opts.Port}
	if c.Dir == "" {
		c.Dir, err = os.MkdirTemp("", "sandgate-pg-")
		if err != nil {
			return nil, fmt.Errorf("make cluster dir: %w", err)
		}
		c.ownDir = true
	}
	if err := c.start(ctx, opts); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	data := filepath.Join(c.Dir, "data")
	if err := c.initdb(ctx, data); err != nil {
		return err
	}
	var err error
	if c.Port == 0 {
		if c.Port, err = FreePort(); err != nil {
			return err
		}
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", c.Port),
		fmt.Sprintf("unix_socket_directories = '%s'", c.Dir),
		"fsync = off", "full_page_writes = off", // safe against a killed server, not a lost machine
		"max_connections = 200", "shared_buffers = 64MB",
		"log_min_messages = warning", "logging_collector = off",
	}
	if opts.CertFile != "" {
		for src, dst := range map[string]string{opts.CertFile: "server.crt", opts.KeyFile: "server.key"} {
			b, err := os.ReadFile(src)
			if err != nil {
				return fmt.Errorf("read TLS file: %w", err)
			}
			if err := os.WriteFile(filepath.Join(data, dst), b, 0o600); err != nil {
				return fmt.Errorf("write TLS file: %w", err)
			}
		}
		conf = append(conf, "ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'")
	}
	conf = append(conf, opts.Settings...)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open postgresql.conf: %w", err)
	}
	_, err = f.WriteString("\n" + strings.Join(conf, "\n") + "\n")
	f.Close()
	if err != nil {
		return fmt.Errorf("write postgresql.conf: %w", err)
	}
	return c.launch(ctx, opts.Log)
}

// launch starts the postgres process on the initialised data directory and
// waits until it accepts logins. Nil logf means the cluster's own log file.
func (c *Cluster) launch(ctx context.Context, logf *os.File) error {
	if logf == nil {
		c.logPath = filepath.Join(c.Dir, "server.log")
		var err error
		if logf, err = os.OpenFile(c.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err != nil {
			return fmt.Errorf("open server log: %w", err)
		}
		defer logf.Close()
	}
	os.Remove(filepath.Join(c.Dir, "data", "postmaster.pid")) // left by a kill
	c.cmd = exec.Command(filepath.Join(c.BinDir, "postgres"), "-D", filepath.Join(c.Dir, "data"))
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.runAsOwner(c.cmd); err != nil {
		return err
	}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.exited = make(chan struct{})
	go c.reap()
	return c.waitReady(ctx)
}

func (c *Cluster) reap() {
	c.cmd.Wait()
	close(c.exited)
}

func (c *Cluster) initdb(ctx context.Context, data string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "initdb"),
		"-D", data, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	if err := c.runAsOwner(cmd); err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, tail(out, 2000))
	}
	return nil
}

// runAsOwner makes cmd run as an unprivileged user when we are root: the
// PostgreSQL server refuses to run as root. The cluster directory is handed
// to that user.
func (c *Cluster) runAsOwner(cmd *exec.Cmd) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := unprivilegedUser()
	if err != nil {
		return err
	}
	if err := chownTree(c.Dir, uid, gid); err != nil {
		return err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	cmd.Dir = c.Dir
	return nil
}

// unprivilegedUser returns the postgres system user (created by Debian's
// package) or nobody.
func unprivilegedUser() (uint32, uint32, error) {
	for _, name := range []string{"postgres", "nobody"} {
		out, err := exec.Command("id", "-u", name).Output()
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		out, err = exec.Command("id", "-g", name).Output()
		if err != nil {
			continue
		}
		gid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		return uint32(uid), uint32(gid), nil
	}
	return 0, 0, errors.New("running as root and no unprivileged user (postgres or nobody) to run the PostgreSQL server as")
}

func chownTree(root string, uid, gid uint32) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(uid), int(gid))
	})
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := net.DialTimeout("tcp", c.Addr(), time.Second)
		if err == nil {
			conn.Close()
			// The port accepts before the server accepts logins; ask pg_isready.
			if exec.CommandContext(ctx, filepath.Join(c.BinDir, "pg_isready"), "-q", "-h", c.Host,
				"-p", strconv.Itoa(c.Port), "-U", Superuser).Run() == nil {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start-up; its log:\n%s", c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready on %s: %w; its log:\n%s", c.Addr(), ctx.Err(), c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) logTail() string {
	if c.logPath == "" {
		return "(log not captured)"
	}
	b, _ := os.ReadFile(c.logPath)
	return tail(b, 3000)
}

// Addr is host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// DSN returns a URL for the superuser on the named database.
func (c *Cluster) DSN(database string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", Superuser, c.Addr(), database)
}

// Exec runs SQL through psql as the superuser; for fixtures.
func (c *Cluster) Exec(ctx context.Context, database, sql string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", Superuser, "-d", database, "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql: %w\n%s", err, tail(out, 2000))
	}
	return nil
}

// Kill stops the server abruptly, as a crash would: SIGKILL to the
// postmaster and to every one of its children. (Each backend is a process
// group leader of its own, so signalling the postmaster's group is not
// enough: a backend would live on until it noticed its postmaster died.)
// Restart starts it again on the same port and data directory.
func (c *Cluster) Kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	pid := c.cmd.Process.Pid
	children := childrenOf(pid)
	syscall.Kill(-pid, syscall.SIGKILL)
	for _, ch := range children {
		syscall.Kill(ch, syscall.SIGKILL)
	}
	<-c.exited
	// Wait until the last of them is gone: until then they hold the shared
	// memory segment and a restart would refuse to start.
	for i := 0; i < 500; i++ {
		alive := syscall.Kill(-pid, 0) == nil
		for _, ch := range children {
			alive = alive || syscall.Kill(ch, 0) == nil
		}
		if !alive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so start after ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, child)
			}
		}
	}
	return out
}

// Restart starts a killed or stopped server again on the same port.
func (c *Cluster) Restart(ctx context.Context) error {
	return c.launch(ctx, nil)
}

// Stop shuts the server down (fast mode) and removes a temporary directory.
func (c *Cluster) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				c.Kill()
			}
		}
	}
	if c.ownDir {
		os.RemoveAll(c.Dir)
	}
}
