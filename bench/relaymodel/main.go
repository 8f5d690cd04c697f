// Command relaymodel measures what the relay's I/O model alone costs, to
// inform the choice for the PostgreSQL front door: pgbench -S through
// three byte-for-byte TCP relays with no protocol work at all — Go
// goroutines (io.Copy each way, what sandgate's pumps are built on), a
// single-threaded epoll loop written in Go (what pgbouncer is built on),
// and pgbouncer itself (session pooling) — against direct access. It
// starts its own throwaway PostgreSQL (trust authentication, loopback),
// interleaves the targets, and prints median TPS and the relays' CPU per
// transaction. A benchmark tool, not part of sandgate.
//
//	go run ./bench/relaymodel -rounds 3 -duration 10s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/sandgate/sandgate/internal/pgcluster"
)

func main() {
	rounds := flag.Int("rounds", 3, "runs per target; the median is shown")
	dur := flag.Duration("duration", 10*time.Second, "length of each pgbench run")
	mode := flag.String("mode", "prepared", "pgbench -M")
	flag.Parse()
	ctx := context.Background()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Settings: []string{"fsync = off", "max_connections = 100"}})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Stop()
	pgbench := filepath.Join(pg.BinDir, "pgbench")
	if p, err := exec.LookPath("pgbench"); err == nil {
		pgbench = p
	}
	if out, err := exec.Command(pgbench, "-i", "-q", "-s", "10", "-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pgcluster.Superuser, "postgres").CombinedOutput(); err != nil {
		log.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	upstream := pg.Addr()
	copyLn, epollLn := listen(), listen()
	go serveCopy(copyLn, upstream)
	go serveEpoll(epollLn, upstream)
	bouncer, stopBouncer := startPgbouncer(pg)
	defer stopBouncer()

	targets := []struct{ name, addr string }{{"direct", upstream}, {"go-copy", copyLn.Addr().String()},
		{"go-epoll", epollLn.Addr().String()}, {"pgbouncer", bouncer.addr}}
	tps := map[string][]float64{}
	cpu := map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		for k := range targets {
			t := targets[(r+k)%len(targets)]
			var before time.Duration
			switch t.name {
			case "go-copy", "go-epoll":
				before = selfCPU()
			case "pgbouncer":
				before = procCPU(bouncer.pid)
			}
			host, port, _ := net.SplitHostPort(t.addr)
			out, err := exec.Command(pgbench, "-n", "-S", "-M", *mode, "-c", "8", "-j", "2", "-T", strconv.Itoa(int(dur.Seconds())),
				"-h", host, "-p", port, "-U", pgcluster.Superuser, "postgres").CombinedOutput()
			if err != nil {
				log.Fatalf("pgbench via %s: %v\n%s", t.name, err, out)
			}
			v, n := parse(out)
			var used time.Duration
			switch t.name {
			case "go-copy", "go-epoll":
				used = selfCPU() - before
			case "pgbouncer":
				used = procCPU(bouncer.pid) - before
			}
			tps[t.name] = append(tps[t.name], v)
			if used > 0 {
				cpu[t.name] = append(cpu[t.name], float64(used.Microseconds())/float64(n))
			}
			fmt.Fprintf(os.Stderr, "round %d %-9s tps %8.0f\n", r+1, t.name, v)
		}
	}
	fmt.Printf("pgbench -S -M %s -c 8 -j 2, %d x %s, %d CPUs, median\n", *mode, *rounds, *dur, runtime.NumCPU())
	fmt.Printf("%-10s %9s %9s %12s\n", "target", "tps", "/direct", "relay µs/tx")
	d := median(tps["direct"])
	for _, t := range targets {
		c := "-"
		if len(cpu[t.name]) > 0 {
			c = fmt.Sprintf("%.1f", median(cpu[t.name]))
		}
		fmt.Printf("%-10s %9.0f %9.2f %12s\n", t.name, median(tps[t.name]), median(tps[t.name])/d, c)
	}
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

// serveCopy relays each connection with two goroutines.
func serveCopy(ln net.Listener, upstream string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(up, c); up.Close() }()
			io.Copy(c, up)
			c.Close()
		}()
	}
}

// serveEpoll relays every connection from one epoll loop on one locked
// thread, over non-blocking sockets taken out of Go's netpoller.
func serveEpoll(ln net.Listener, upstream string) {
	ep, err := syscall.EpollCreate1(0)
	if err != nil {
		log.Fatal(err)
	}
	peer := map[int]int{}
	conns := make(chan [2]int, 64)
	go func() { // accept and dial with Go's net, then hand the raw fds over
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			conns <- [2]int{rawFD(c), rawFD(up)}
			wake(ep)
		}
	}()
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 64)
	buf := make([]byte, 64<<10)
	closeBoth := func(fd int) {
		p := peer[fd]
		delete(peer, fd)
		delete(peer, p)
		syscall.Close(fd)
		syscall.Close(p)
	}
	for {
		// Ready events first without blocking (no scheduler hand-off),
		// then wait.
		n := rawEpollWait(ep, events)
		if n == 0 {
			var err error
			n, err = syscall.EpollWait(ep, events, -1)
			if err != nil && !errors.Is(err, syscall.EINTR) {
				log.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == wakeFD {
				drainWake()
				continue
			}
			p, ok := peer[fd]
			if !ok {
				continue
			}
			m, err := rawRead(fd, buf)
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if m <= 0 || writeAll(p, buf[:m]) != nil {
				closeBoth(fd)
			}
		}
		for more := true; more; {
			select {
			case pair := <-conns:
				peer[pair[0]], peer[pair[1]] = pair[1], pair[0]
				for _, fd := range pair {
					syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
				}
			default:
				more = false
			}
		}
	}
}

// writeAll writes b to a non-blocking socket, waiting for room if needed
// (pgbench's messages are small: it never does here).
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := rawWrite(fd, b)
		if errors.Is(err, syscall.EAGAIN) {
			pfd := []unixPollFd{{fd: int32(fd), events: 0x4}} // POLLOUT
			poll(pfd)
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// The loop's system calls never block (the sockets are non-blocking), so
// they go straight to the kernel without telling the Go scheduler.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawEpollWait(ep int, events []syscall.EpollEvent) int {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

// rawFD takes a connection's socket out of Go's netpoller: File dups it in
// blocking mode; the original is closed and the copy made non-blocking.
func rawFD(c net.Conn) int {
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		log.Fatal(err)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	syscall.SetNonblock(fd, true)
	return fd
}

// The accept goroutine wakes the loop through a pipe registered in epoll.
var wakeFD, wakeW int

func wake(ep int) {
	if wakeFD == 0 {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
			log.Fatal(err)
		}
		wakeFD, wakeW = p[0], p[1]
		syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, wakeFD, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(wakeFD)})
	}
	syscall.Write(wakeW, []byte{0})
}

func drainWake() {
	var b [64]byte
	for {
		if n, _ := syscall.Read(wakeFD, b[:]); n <= 0 {
			return
		}
	}
}

type unixPollFd struct {
	fd      int32
	events  int16
	revents int16
}

func poll(fds []unixPollFd) {
	syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(1000))
}

type bouncer struct {
	addr string
	pid  int
}

// startPgbouncer runs Debian's pgbouncer in session mode in front of pg,
// as the postgres user when this runs as root.
func startPgbouncer(pg *pgcluster.Cluster) (bouncer, func()) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		bin = "/usr/sbin/pgbouncer"
	}
	dir, err := os.MkdirTemp("", "relaymodel-pgb-")
	if err != nil {
		log.Fatal(err)
	}
	ln := listen()
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	ini := fmt.Sprintf(`[databases]
postgres = host=%s port=%d dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = any
pool_mode = session
max_client_conn = 100
default_pool_size = 32
logfile = %s/pgbouncer.log
pidfile = %s/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
`, pg.Host, pg.Port, port, dir, dir)
	os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644)
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			log.Fatal("running as root needs the postgres user for pgbouncer")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(dir, uid, gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := cmd.Start(); err != nil {
		log.Fatalf("pgbouncer: %v", err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return bouncer{addr: addr, pid: cmd.Process.Pid}, func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is utime+stime of a process from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+)`)
var txRe = regexp.MustCompile(`actually processed: ([0-9]+)`)

func parse(out []byte) (tps float64, tx int) {
	if m := tpsRe.FindSubmatch(out); m != nil {
		tps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := txRe.FindSubmatch(out); m != nil {
		tx, _ = strconv.Atoi(string(m[1]))
	}
	return tps, max(tx, 1)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
