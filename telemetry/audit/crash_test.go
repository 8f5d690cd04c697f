package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

const crashEnv = "SANDGATE_AUDIT_CRASH_CHILD"

// crashChild appends records from four goroutines until killed, printing
// each acknowledged sequence number on stdout: with SyncEach when Append
// returns, with group commit when its group's fsync is reported.
func crashChild(dir, mode string) {
	cfg := Config{Dir: dir, MaxFileBytes: 64 << 10}
	out := os.Stdout
	var mu sync.Mutex
	ack := func(seq uint64) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%d\n", seq)
	}
	if mode == "sync" {
		cfg.Durability = SyncEach
	} else {
		cfg.OnDurable = ack
	}
	l, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				seq, err := l.AppendSeq(context.Background(), sampleRecord(g*1_000_000+i))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				if mode == "sync" {
					ack(seq)
				}
			}
		})
	}
	wg.Wait()
}

func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir, os.Getenv(crashEnv+"_MODE"))
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, mode := range []string{"sync", "group"} {
		t.Run(mode, func(t *testing.T) { testCrash(t, mode) })
	}
}

func testCrash(t *testing.T, mode string) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_MODE="+mode)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var acked uint64
	killed := false
	for n := 1; sc.Scan(); n++ { // n counts acknowledgements
		s, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked = max(acked, s)
		if !killed && (n >= 2000 || acked >= 20000) {
			killed = true
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait() // killed: the error says so
	checkAfterCrash(t, dir, acked)
}

// checkAfterCrash verifies the chain after a kill: intact up to a clean
// prefix, every acknowledged record present, and a reopened log continues
// the chain so that the torn line (if any) is only an interruption.
func checkAfterCrash(t *testing.T, dir string, acked uint64) {
	files := mustFiles(t, dir)
	res, err := Verify(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		last := files[len(files)-1]
		if p.Kind != Truncated || p.File != last || len(res.Problems) != 1 {
			t.Fatalf("got problems %v, want at most one torn line at the end of %s", res.Problems, last)
		}
		t.Logf("torn line reported: %v", p)
	}
	if res.LastSeq < acked || res.Records != int(res.LastSeq) {
		t.Fatalf("got records 1 to %d (%d of them), want every acknowledged record up to %d", res.LastSeq, res.Records, acked)
	}
	t.Logf("acknowledged %d, on disk %d", acked, res.LastSeq)
	writeLog(t, Config{Dir: dir}, 10)
	res, err = Verify(mustFiles(t, dir)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil || res.Records != int(res.LastSeq) {
		t.Fatalf("after reopening: got %s, err %v; want an intact chain", describe(res), err)
	}
}
