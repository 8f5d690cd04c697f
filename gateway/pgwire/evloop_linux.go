//go:build linux

package pgwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event-loop relay. A goroutine per direction costs a scheduler
// hand-off for every message: the reading goroutine parks in the netpoller,
// is woken, and wakes the writer's peer in turn. On a 2-core machine that
// alone made a byte-copying relay 0.71x pgbouncer (bench/relaymodel). Here
// the steady state of many sessions runs on a few loops, each one
// goroutine that collects ready sockets from its own epoll instance and
// moves bytes with non-blocking system calls made straight to the kernel,
// as pgbouncer does in C; when none of its sockets is ready it waits in
// epoll itself, or parks in Go's netpoller (see wait). The sockets are
// taken out of Go's netpoller for the relay and given back to net.Conns
// after it, so start-up, authentication, the reset of a pooled connection
// and the goroutine relay keep using the net package.
//
// The pumps' message handling is the same code in both relays. What the
// loop does differently is only I/O: it reads whatever a socket has into a
// frameBuf, hands each whole message to the pump, and writes the pump's
// output without blocking. Output a peer cannot take yet stays in the
// pump's buffer, and the loop stops reading the other side until it is
// written, so a slow reader holds back its writer, as TCP would.
//
// The one thing a handler could wait for is the catalog: a result naming a
// table the cache does not know reloads it from the database. The loop asks
// first (serverPump.catalogLoad); such a session's server side is paused
// while a goroutine reloads, and the message is handled after, so the
// loop's other sessions never wait for another's reload.

// evloop is one event loop.
type evloop struct {
	ep, wake int // epoll instance; eventfd that wakes it for posted work
	// raw: the loop waits by blocking in epoll_pwait itself (waitRaw).
	// Otherwise epf, ep in Go's netpoller, is what it parks on. Loop
	// goroutine only, once the loop runs.
	raw      bool
	epf      syscall.RawConn
	n        atomic.Int32
	conns    []*loopConn // by socket number, both sides; loop goroutine only
	events   []unix.EpollEvent
	now      time.Time
	lastScan time.Time
	// pollParked is poll as the callback epf.Read wants, made once so that
	// parking allocates nothing; parkedN is what it found.
	pollParked func(uintptr) bool
	parkedN    int

	mu   sync.Mutex
	cmds []func()
}

// loopConn is one session on a loop.
type loopConn struct {
	s        *session
	cp       *clientPump
	sp       *serverPump
	cfd, ufd int
	cin, uin frameBuf
	cEv, uEv uint32 // epoll interest registered for each socket
	idle     time.Duration
	lastRead time.Time
	paused   bool // the server side waits for a catalog reload
	ended    bool
	done     chan loopResult
}

type loopResult struct {
	err      error
	reusable bool
}

var (
	loopsOnce sync.Once
	loops     []*evloop
)

// pickLoop returns the least busy loop, starting the loops on first use:
// one per two processors, since the database and the clients need the
// others. Nil means none could be made, and goroutines relay.
func pickLoop(log *slog.Logger) *evloop {
	loopsOnce.Do(func() {
		waitsIn := "netpoller"
		for range max(1, runtime.GOMAXPROCS(0)/2) {
			l, err := newEvloop()
			if err != nil {
				log.Warn("event-loop relay unavailable; relaying with goroutines", "err", err)
				return
			}
			if l.raw {
				waitsIn = "epoll" // read before the loop runs: then it is the loop's
			}
			loops = append(loops, l)
			go l.run()
		}
		if len(loops) > 0 {
			log.Info("relaying plain-TCP sessions on event loops", "loops", len(loops), "waits_in", waitsIn)
		}
	})
	var best *evloop
	for _, l := range loops {
		if best == nil || l.n.Load() < best.n.Load() {
			best = l
		}
	}
	return best
}

func newEvloop() (*evloop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	fail := func(what string, err error) (*evloop, error) {
		unix.Close(ep)
		unix.Close(wake)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		return fail("epoll add", err)
	}
	l := &evloop{ep: ep, wake: wake, events: make([]unix.EpollEvent, 128)}
	l.pollParked = func(uintptr) bool {
		l.parkedN = l.poll()
		return l.parkedN > 0
	}
	if rawWaitAllowed() {
		l.raw = true
	} else if err := l.joinNetpoller(); err != nil {
		return fail("epoll in the netpoller", err)
	}
	go func() { // idle timeouts are checked each second
		for range time.Tick(time.Second) {
			l.post(func() {})
		}
	}()
	return l, nil
}

// post runs fn on the loop's goroutine.
func (l *evloop) post(fn func()) {
	l.mu.Lock()
	l.cmds = append(l.cmds, fn)
	l.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(l.wake, one[:]) // a full counter already wakes the loop
}

func (l *evloop) runCmds() {
	var b [8]byte
	unix.Read(l.wake, b[:])
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, fn := range cmds {
		fn()
	}
}

// run is the loop. Loops live as long as the process.
func (l *evloop) run() {
	for {
		n := l.wait()
		l.now = time.Now()
		for i := range n {
			ev := l.events[i]
			if ev.Fd == int32(l.wake) {
				l.runCmds()
				continue
			}
			lc := l.conn(int(ev.Fd))
			if lc == nil || lc.ended {
				continue
			}
			l.ready(lc, int(ev.Fd), ev.Events)
		}
		if l.now.Sub(l.lastScan) >= time.Second {
			l.lastScan = l.now
			l.scanIdle()
			l.checkWait()
		}
	}
}

// Waiting. A loop with nothing ready waits in one of two ways.
//
// By default it blocks in epoll_pwait itself (waitRaw) and keeps its
// processor (P) while it does, as pgbouncer's one thread does: a socket
// becoming ready wakes this thread and nothing else, and it goes straight
// on. In A/B runs against parking in the netpoller (bench/README.md,
// session 6) it used about 1-2 µs less CPU per single-row transaction, and
// about 200 µs less per connection under pgbench -C. Two things make it
// work. The epoll instance must not be in Go's netpoller: nested in it,
// every event would also wake the netpoller's thread (an attempt that kept
// it there used 48 against 34 µs per transaction). And the wait must not
// be an ordinary system call, whose processor the runtime's monitor takes
// away after 20 µs when there is other work, so that the wake-up must find
// one again (40 against 36 µs).
//
// Holding a processor is safe only where there are others and the runtime
// can still interrupt the wait: rawWaitAllowed requires GOMAXPROCS of at
// least 2 (loops take at most half; the rest run start-ups, the garbage
// collector, timers) and asynchronous preemption, whose signal ends the
// wait with EINTR, after which the loop stops where the runtime asked
// (preemptionPoint): the garbage collector's stop-the-world and stack
// scans, and the monitor's 10 ms time slice, rely on that, and re-signal
// until it happens. A loop without sessions waits as an
// ordinary system call instead, so an idle gateway holds no processor. If
// GOMAXPROCS later drops below 2 (a container's CPU limit lowered), the
// loop's once-a-second check moves it to the netpoller for good.
//
// Otherwise it parks its goroutine in Go's netpoller on the epoll
// descriptor (waitNetpoller), which becomes readable when a socket of the
// loop does; an idle loop then holds no thread or processor.

// rawWaitAllowed reports whether a loop may wait holding its processor.
func rawWaitAllowed() bool {
	return runtime.GOMAXPROCS(0) >= 2 && !asyncPreemptOff
}

var asyncPreemptOff = func() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "asyncpreemptoff=1" {
			return true
		}
	}
	return false
}()

// joinNetpoller puts the epoll instance in Go's netpoller, for
// waitNetpoller. It cannot be undone. The RawConn keeps the os.File, which
// owns ep, reachable: loops live as long as the process.
func (l *evloop) joinNetpoller() error {
	// A non-blocking descriptor given to os.NewFile joins the netpoller.
	if err := unix.SetNonblock(l.ep, true); err != nil {
		return fmt.Errorf("epoll non-blocking: %w", err)
	}
	epf, err := os.NewFile(uintptr(l.ep), "epoll").SyscallConn()
	if err != nil {
		return err
	}
	l.epf = epf
	return nil
}

// checkWait moves a raw-waiting loop to the netpoller once holding a
// processor is no longer safe.
func (l *evloop) checkWait() {
	if !l.raw || rawWaitAllowed() {
		return
	}
	if err := l.joinNetpoller(); err != nil {
		slog.Warn("event loop: cannot move its wait to the netpoller; it keeps waiting in epoll", "err", err)
		return
	}
	l.raw = false
}

// wait returns the number of ready events, waiting for one if none is.
func (l *evloop) wait() int {
	if l.raw {
		return l.waitRaw()
	}
	return l.waitNetpoller()
}

// Timeouts of waitRaw's waits, in milliseconds. Neither is needed for
// correctness (posted work and the once-a-second tick write to the
// eventfd); the first bounds a wait whose preemption signal came just
// before it began, until the runtime signals again.
const (
	rawWaitMs  = 100
	idleWaitMs = 1000
)

func (l *evloop) waitRaw() int {
	ev := uintptr(unsafe.Pointer(&l.events[0]))
	if l.n.Load() == 0 {
		n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), ev, uintptr(len(l.events)), idleWaitMs, 0, 0)
		if e != 0 {
			return 0
		}
		return int(n)
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), ev, uintptr(len(l.events)), rawWaitMs, 0, 0)
	if e != 0 {
		// EINTR: a signal, usually the runtime asking this goroutine to
		// stop. Stop here, before waiting again.
		preemptionPoint()
		return 0
	}
	return int(n)
}

// preemptionPoint lets the runtime stop the goroutine if it asked to: the
// stack check in its prologue does that, as at any call. It is not
// runtime.Gosched, which only yields: the garbage collector, to scan a
// goroutine's stack, asks it to park until the scan is done, and a yielding
// loop, its processor otherwise idle, would run again at once and make the
// collector spin until the next wait ended (40-137 ms per collection in a
// test; TestChildCollectorDoesNotWaitForLoop).
//
//go:noinline
func preemptionPoint() { preemptionCallee() }

//go:noinline
func preemptionCallee() {}

// waitNetpoller asks the kernel without waiting, straight (no scheduler
// bookkeeping); under load that almost always finds work. When nothing is
// ready the loop's goroutine parks in Go's netpoller on the epoll
// descriptor. The first ask is the one RawConn.Read makes before it parks
// (it must: an edge that came before it would otherwise be lost), so there
// is no separate one before it: that would be one more system call for
// every park.
func (l *evloop) waitNetpoller() int {
	l.parkedN = 0
	if err := l.epf.Read(l.pollParked); err != nil {
		time.Sleep(10 * time.Millisecond) // cannot happen; do not spin
		return 0
	}
	return l.parkedN
}

// poll collects ready events without waiting.
func (l *evloop) poll() int {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), uintptr(unsafe.Pointer(&l.events[0])),
		uintptr(len(l.events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

func (l *evloop) conn(fd int) *loopConn {
	if fd < 0 || fd >= len(l.conns) {
		return nil
	}
	return l.conns[fd]
}

func (l *evloop) setConn(fd int, lc *loopConn) {
	if fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*loopConn, fd+1-len(l.conns)+64)...)
	}
	l.conns[fd] = lc
}

func (l *evloop) scanIdle() {
	for fd, lc := range l.conns {
		if lc != nil && fd == lc.cfd && lc.idle > 0 && l.now.Sub(lc.lastRead) > lc.idle {
			l.finish(lc, errIdle)
		}
	}
}

// add registers a session; it runs on the loop.
func (l *evloop) add(lc *loopConn) {
	lc.lastRead = time.Now()
	lc.cEv, lc.uEv = unix.EPOLLIN|unix.EPOLLRDHUP, unix.EPOLLIN|unix.EPOLLRDHUP
	l.setConn(lc.cfd, lc)
	l.setConn(lc.ufd, lc)
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, lc.cfd, &unix.EpollEvent{Events: lc.cEv, Fd: int32(lc.cfd)}); err != nil {
		lc.cEv = 0
		l.finish(lc, fmt.Errorf("event loop: register client socket: %w", err))
		return
	}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, lc.ufd, &unix.EpollEvent{Events: lc.uEv, Fd: int32(lc.ufd)}); err != nil {
		lc.uEv = 0
		l.finish(lc, fmt.Errorf("event loop: register upstream socket: %w", err))
	}
}

// finish takes a session off the loop and hands its result to the
// session's goroutine, which takes its sockets back.
func (l *evloop) finish(lc *loopConn, err error) {
	if lc.ended {
		return
	}
	lc.ended = true
	l.conns[lc.cfd], l.conns[lc.ufd] = nil, nil
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, lc.cfd, nil)
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, lc.ufd, nil)
	l.n.Add(-1)
	reusable := errors.Is(err, errTerminate) && lc.cp.q.empty() && len(lc.cp.out) == 0
	lc.done <- loopResult{err: err, reusable: reusable}
}

// ready handles one socket's events: write what is owed to it, then read.
// A panic in a handler ends that session, not the loop's others.
func (l *evloop) ready(lc *loopConn, fd int, ev uint32) {
	defer l.guard(lc)
	readable := ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	if fd == lc.cfd {
		if ev&unix.EPOLLOUT != 0 && !l.flushClient(lc) {
			return
		}
		if readable && !l.readClient(lc) {
			return
		}
	} else if !lc.paused {
		if ev&unix.EPOLLOUT != 0 && !l.flushUpstream(lc) {
			return
		}
		if readable && !l.readUpstream(lc) {
			return
		}
	}
	l.rearm(lc)
}

// guard, deferred around a session's handling, ends that session if the
// handling panics; the loop and its other sessions go on.
func (l *evloop) guard(lc *loopConn) {
	if r := recover(); r != nil {
		what := panicSummary(r)
		lc.s.log.Error("internal error in the relay; session closed", "panic", what, "stack", string(debug.Stack()))
		l.finish(lc, fmt.Errorf("internal error in the relay: %s", what))
	}
}

// panicSummary describes a panic for the log without its value, which
// could quote a protected value the failing code held; the runtime's own
// errors (an index out of range, a nil dereference) carry none and are
// kept.
func panicSummary(r any) string {
	if re, ok := r.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("a panic of type %T (its value is not logged: it could quote data)", r)
}

// testHookClientMessage, when set by a test, sees each client message
// before the pump does (to inject a fault).
var testHookClientMessage atomic.Pointer[func(typ byte, body []byte)]

// readClient reads what the client sent and passes each whole message to
// the client pump. False means the session has ended.
func (l *evloop) readClient(lc *loopConn) bool {
	n, err := rawRead(lc.cfd, lc.cin.space())
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return true
	case err != nil:
		l.finish(lc, fmt.Errorf("read from client: %w", err))
		return false
	case n == 0:
		if lc.cin.buffered() > 0 {
			l.finish(lc, fmt.Errorf("read from client: %w", io.ErrUnexpectedEOF))
		} else {
			l.finish(lc, io.EOF)
		}
		return false
	}
	lc.cin.filled(n)
	lc.lastRead = l.now
	for {
		typ, body, ok, err := lc.cin.next()
		if err != nil {
			l.finish(lc, lc.cp.readError(err, false))
			return false
		}
		if !ok {
			break
		}
		if hook := testHookClientMessage.Load(); hook != nil {
			(*hook)(typ, body)
		}
		if err := lc.cp.handle(typ, body); err != nil {
			if errors.Is(err, errTerminate) {
				writeSome(lc.ufd, &lc.cp.out)
			}
			l.finish(lc, err)
			return false
		}
	}
	return l.flushUpstream(lc)
}

// readUpstream reads what the server sent and passes each whole message to
// the server pump; statements answered are observed once the answer is
// written.
func (l *evloop) readUpstream(lc *loopConn) bool {
	n, err := rawRead(lc.ufd, lc.uin.space())
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return true
	case err != nil:
		l.finish(lc, fmt.Errorf("%w: %v", errUpstreamGone, err))
		return false
	case n == 0:
		l.finish(lc, fmt.Errorf("%w: %v", errUpstreamGone, io.EOF))
		return false
	}
	lc.uin.filled(n)
	return l.serverMessages(lc)
}

// serverMessages passes each whole message read from the server to the
// server pump, then writes the answer and observes what was answered. A
// message whose plan needs a catalog reload pauses the session's server
// side instead (pauseForCatalog): the reload runs off the loop.
func (l *evloop) serverMessages(lc *loopConn) bool {
	for {
		typ, body, ok, err := lc.uin.next()
		if err != nil {
			l.finish(lc, fmt.Errorf("%w: %v", errUpstreamGone, err))
			return false
		}
		if !ok {
			break
		}
		if load := lc.sp.catalogLoad(typ, body); load != nil {
			lc.uin.unread(5 + len(body))
			if !l.pauseForCatalog(lc, load) {
				return false
			}
			break
		}
		if err := lc.sp.handle(typ, body); err != nil {
			l.finish(lc, err)
			return false
		}
	}
	ok := l.flushClient(lc)
	lc.sp.observeFinished()
	return ok
}

// pauseForCatalog stops reading the server's side of a session while its
// catalog is reloaded in a goroutine, so the loop's other sessions carry
// on meanwhile; the message that needed it is handled when it is done.
func (l *evloop) pauseForCatalog(lc *loopConn, load func(context.Context)) bool {
	lc.paused = true
	if lc.uEv != 0 {
		lc.uEv = 0
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, lc.ufd, nil); err != nil {
			l.finish(lc, fmt.Errorf("event loop: pause upstream socket: %w", err))
			return false
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		load(ctx)
		cancel()
		l.post(func() {
			if lc.ended {
				return
			}
			defer l.guard(lc)
			lc.paused = false
			if l.serverMessages(lc) {
				l.rearm(lc)
			}
		})
	}()
	return true
}

func (l *evloop) flushUpstream(lc *loopConn) bool {
	if err := writeSome(lc.ufd, &lc.cp.out); err != nil {
		l.finish(lc, fmt.Errorf("%w: %v", errUpstreamGone, err))
		return false
	}
	return true
}

func (l *evloop) flushClient(lc *loopConn) bool {
	if err := writeSome(lc.cfd, &lc.sp.out); err != nil {
		l.finish(lc, fmt.Errorf("write to client: %w", err))
		return false
	}
	return true
}

// rearm sets what the loop waits for on each socket: to read it while its
// peer has taken everything sent its way, and to write it while output is
// owed to it. It makes a system call only when that changes.
func (l *evloop) rearm(lc *loopConn) {
	c, u := uint32(unix.EPOLLRDHUP), uint32(unix.EPOLLRDHUP)
	if len(lc.cp.out) == 0 {
		c |= unix.EPOLLIN
	} else {
		u |= unix.EPOLLOUT
	}
	if len(lc.sp.out) == 0 {
		u |= unix.EPOLLIN
	} else {
		c |= unix.EPOLLOUT
	}
	if c != lc.cEv {
		lc.cEv = c
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, lc.cfd, &unix.EpollEvent{Events: c, Fd: int32(lc.cfd)}); err != nil {
			l.finish(lc, fmt.Errorf("event loop: watch client socket: %w", err))
			return
		}
	}
	if lc.paused {
		return // its socket is out of epoll until the catalog is loaded
	}
	if u != lc.uEv {
		op := unix.EPOLL_CTL_MOD
		if lc.uEv == 0 {
			op = unix.EPOLL_CTL_ADD // after a pause
		}
		lc.uEv = u
		if err := unix.EpollCtl(l.ep, op, lc.ufd, &unix.EpollEvent{Events: u, Fd: int32(lc.ufd)}); err != nil {
			l.finish(lc, fmt.Errorf("event loop: watch upstream socket: %w", err))
		}
	}
}

// writeSome writes as much of *out as the socket takes now and keeps the
// rest at the front of *out.
func writeSome(fd int, out *[]byte) error {
	b := *out
	for len(b) > 0 {
		n, err := rawSend(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	*out = (*out)[:copy(*out, b)]
	return nil
}

// The loop's sockets are non-blocking, so its reads and writes never wait:
// they go straight to the kernel, without the scheduler's bookkeeping
// around a call that might block. rawRead uses recvfrom rather than read:
// read goes through the file layer (taking the file position lock, which a
// socket has no use for) before it reaches the socket, recvfrom goes to the
// socket directly, as pgbouncer's reads do. perf put that layer at about a
// microsecond of kernel time per pgbench -S transaction (bench/README.md,
// session 5); pgbench's own figures are too noisy to show the difference.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawSend writes with MSG_NOSIGNAL: a peer that hung up is an error, not
// a SIGPIPE.
func rawSend(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// loopable reports whether both of a session's connections are plain
// sockets the loop can drive.
func loopable(c net.Conn) bool {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// detachFD takes a connection's socket out of Go's netpoller: it keeps a
// close-on-exec duplicate (non-blocking, as the net package left it) and
// closes the net.Conn.
func detachFD(c net.Conn) (int, error) {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	c.Close()
	return fd, nil
}

// attachFD gives a socket back to the net package.
func attachFD(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "socket")
	c, err := net.FileConn(f)
	f.Close()
	return c, err
}

// getReadBuf gives a frameBuf a pooled buffer (whole: it reads into its
// length, not its capacity).
func getReadBuf() []byte {
	b := getOutBuf()
	if cap(b) < frameBufSize {
		return make([]byte, frameBufSize)
	}
	return b[:cap(b)]
}

// relayOnLoop runs the relay on an event loop when the session allows it;
// onLoop false means it did not, and nothing was changed.
func (s *session) relayOnLoop(ctx context.Context, cp *clientPump, sp *serverPump) (first error, reusable, onLoop bool) {
	cfg := &s.srv.cfg
	if cfg.GoroutineRelay || cfg.AuditBeforeAnswer || !loopable(s.client) || !loopable(cp.up.conn) {
		return nil, false, false
	}
	l := pickLoop(s.srv.log)
	if l == nil {
		return nil, false, false
	}
	s.upMu.Lock()
	cfd, err := detachFD(s.client)
	if err != nil { // closed already (a policy reload): the goroutines will say so
		s.upMu.Unlock()
		return nil, false, false
	}
	ufd, err := detachFD(cp.up.conn)
	if err != nil {
		s.upMu.Unlock()
		unix.Close(cfd)
		return fmt.Errorf("%w: %v", errUpstreamGone, err), false, true
	}
	lc := &loopConn{s: s, cp: cp, sp: sp, cfd: cfd, ufd: ufd, idle: cfg.IdleTimeout,
		cin: frameBuf{max: cfg.MaxMessageBytes, buf: getReadBuf()}, uin: frameBuf{max: cfg.MaxServerMessageBytes, buf: getReadBuf()},
		done: make(chan loopResult, 1)}
	cp.out, sp.out = getOutBuf(), getOutBuf()
	s.loopAbort = func(err error) { l.post(func() { l.finish(lc, err) }) }
	s.upMu.Unlock()
	l.n.Add(1)
	l.post(func() { l.add(lc) })
	stop := context.AfterFunc(ctx, func() { l.post(func() { l.finish(lc, fmt.Errorf("session stopped: %w", ctx.Err())) }) })
	res := <-lc.done
	stop()
	sp.observeFinished()
	for _, b := range [][]byte{lc.cin.buf, lc.uin.buf} {
		if cap(b) >= frameBufSize {
			putOutBuf(b[:0])
		}
	}

	// Take the sockets back as net.Conns where they are still needed:
	// the client's to tell it something (what it is still owed, a
	// farewell, why the session ends), the upstream's to reset and pool it.
	// The others are just closed, which saves a connection-per-request
	// prototype the work of making them net.Conns again.
	var fw *farewell
	if errors.As(res.err, &fw) {
		sp.out = append(sp.out, fw.msg...)
		res.err = io.EOF
	}
	clean := errors.Is(res.err, errTerminate) || errors.Is(res.err, io.EOF)
	if clean && len(sp.out) == 0 {
		unix.Close(cfd) // s.client is the closed net.Conn it was
	} else if client, err := attachFD(cfd); err != nil {
		unix.Close(cfd)
		s.log.Warn("could not take the client socket back from the event loop", "err", err)
	} else {
		s.upMu.Lock()
		s.client = client
		s.upMu.Unlock()
		if len(sp.out) > 0 {
			s.writeMu.Lock()
			client.SetWriteDeadline(time.Now().Add(time.Second))
			client.Write(sp.out)
			client.SetWriteDeadline(time.Time{})
			s.writeMu.Unlock()
			sp.out = sp.out[:0]
		}
		if fw != nil {
			client.Close()
		}
	}
	s.upMu.Lock()
	s.loopAbort = nil
	s.upMu.Unlock()
	if !res.reusable || s.srv.cfg.PoolIdlePerKey == 0 {
		unix.Close(ufd) // cp.up.conn is the closed net.Conn it was
	} else if upc, err := attachFD(ufd); err == nil {
		cp.up.conn = upc
	} else {
		unix.Close(ufd)
		res.reusable = false
	}
	return res.err, res.reusable, true
}
