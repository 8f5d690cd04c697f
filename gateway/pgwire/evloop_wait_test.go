//go:build linux

package pgwire

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// How the event loops wait (evloop_linux.go, "Waiting") depends on
// GOMAXPROCS, which is fixed per process for the loops' lifetime, so these
// tests run the package's own test binary again in a child process with the
// setting they need. The child's tests skip unless SANDGATE_TEST_CHILD
// names them.

// loopWaits reports, for each loop, whether it waits in epoll holding its
// processor (true) or in the netpoller (false), asked on the loop itself.
func loopWaits(t *testing.T) []bool {
	t.Helper()
	loopsOnce.Do(func() {}) // the loops, if made, are visible after this
	var out []bool
	for _, l := range loops {
		ch := make(chan bool, 1)
		l.post(func() { ch <- l.raw })
		select {
		case raw := <-ch:
			out = append(out, raw)
		case <-time.After(10 * time.Second):
			t.Fatal("an event loop did not run posted work within 10s")
		}
	}
	if len(out) == 0 {
		t.Fatal("no event loop was made")
	}
	return out
}

func runChild(t *testing.T, child string, env []string, tests ...string) {
	t.Helper()
	if os.Getenv("SANDGATE_TEST_CHILD") != "" {
		t.Skip("already a child")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^("+strings.Join(tests, "|")+")$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), append(env, "SANDGATE_TEST_CHILD="+child)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test process (%s): %v\n%s", strings.Join(env, " "), err, out)
	}
	for _, name := range tests {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Fatalf("child test process (%s) did not pass %s:\n%s", strings.Join(env, " "), name, out)
		}
	}
}

func childOnly(t *testing.T, child string) {
	if os.Getenv("SANDGATE_TEST_CHILD") != child {
		t.Skip("runs in a child process of TestLoopWaitModes")
	}
}

// TestLoopWaitModes: with one processor the loops wait in the netpoller,
// and the relay tests pass there too; with two they wait in epoll, and move
// to the netpoller, still relaying, when GOMAXPROCS drops to 1.
func TestLoopWaitModes(t *testing.T) {
	needCluster(t) // fail here, not in a child, if there is no PostgreSQL
	t.Run("one processor", func(t *testing.T) {
		runChild(t, "netpoller", []string{"GOMAXPROCS=1"},
			"TestChildWaitsInNetpoller", "TestRelaysAgree", "TestLoopSlowReader", "TestShutdownEndsSessions")
	})
	twoProcs := []string{"GOMAXPROCS=2", "GODEBUG=" + strings.ReplaceAll(os.Getenv("GODEBUG"), "asyncpreemptoff=1", "")}
	t.Run("processors taken away", func(t *testing.T) {
		runChild(t, "switch", twoProcs, "TestChildLeavesEpollWait")
	})
	// Two processors, whatever the machine has: the collector's mark CPU,
	// which TestChildCollectorDoesNotWaitForLoop counts, grows with them.
	t.Run("collector", func(t *testing.T) {
		runChild(t, "collector", twoProcs, "TestChildCollectorDoesNotWaitForLoop")
	})
}

// sessionOnLoop opens a session through a new gateway, so that the loops
// exist, and checks how they wait (raw: in epoll).
func sessionOnLoop(t *testing.T, wantRaw bool) (*world, *pgx.Conn) {
	t.Helper()
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ensureUsable(t, c)
	name := map[bool]string{true: "epoll", false: "the netpoller"}
	for i, raw := range loopWaits(t) {
		if raw != wantRaw {
			t.Fatalf("GOMAXPROCS=%d: loop %d waits in %s, want %s", runtime.GOMAXPROCS(0), i, name[raw], name[wantRaw])
		}
	}
	return w, c
}

func TestChildWaitsInNetpoller(t *testing.T) {
	childOnly(t, "netpoller")
	sessionOnLoop(t, false)
}

func TestChildLeavesEpollWait(t *testing.T) {
	childOnly(t, "switch")
	w, before := sessionOnLoop(t, true)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	deadline := time.Now().Add(10 * time.Second)
	for {
		moved := true
		for _, raw := range loopWaits(t) {
			moved = moved && !raw
		}
		if moved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("with GOMAXPROCS=1 the loops still wait in epoll after 10s; their check runs each second")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ensureUsable(t, before) // a session that was on the loop when it moved
	after := connect(t, w.dsn("tester", testPassword, "disable"))
	ensureUsable(t, after)
	if loop, all := onLoop(w.srv); loop != 2 || all != 2 {
		t.Fatalf("%d of %d sessions on the event loop after it moved, want 2 of 2", loop, all)
	}
}

// TestChildCollectorDoesNotWaitForLoop: while a loop with a session waits
// in epoll, the garbage collector can still stop its goroutine to scan its
// stack. When the loop only yielded on the runtime's signal
// (runtime.Gosched) instead of parking as asked, the collector's mark
// worker spun until the wait ended by itself: 0.46-1.0 s of mark CPU over
// these 50 cycles, against 0.07-0.08 s (GOMAXPROCS=2). The test counts CPU,
// not elapsed time.
func TestChildCollectorDoesNotWaitForLoop(t *testing.T) {
	childOnly(t, "collector")
	_, c := sessionOnLoop(t, true) // the session stays open, so its loop waits in epoll
	before := markCPU()
	for range 50 {
		time.Sleep(10 * time.Millisecond) // let the loop go back to its wait
		runtime.GC()
	}
	spent := markCPU() - before
	t.Logf("50 collections: %.3f s of mark CPU", spent)
	if spent > 0.25 {
		t.Fatalf("50 collections took %.2f s of mark CPU: the collector waited for the event loop", spent)
	}
	ensureUsable(t, c)
}

func markCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/assist:cpu-seconds"}}
	metrics.Read(s)
	sum := 0.0
	for _, v := range s {
		sum += v.Value.Float64()
	}
	return sum
}
