package pgcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestStartQueryKillRestart(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	query := func() string {
		out, err := exec.Command(filepath.Join(c.BinDir, "psql"), "-X", "-At", "-h", c.Host,
			"-p", strconv.Itoa(c.Port), "-U", Superuser, "-d", "postgres", "-c", "select 40+2").CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := query(); got != "42" {
		t.Fatalf("got %q, want 42", got)
	}
	if err := c.Exec(ctx, "postgres", "create table t(x int); insert into t values (1);"); err != nil {
		t.Fatal(err)
	}
	children := childrenOf(c.cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatal("found no server processes under the postmaster")
	}
	c.Kill()
	for _, ch := range children {
		if syscall.Kill(ch, 0) == nil {
			t.Errorf("server process %d survived Kill", ch)
		}
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := query(); got != "42" {
		t.Fatalf("after restart got %q, want 42", got)
	}
	dir := c.Dir
	c.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cluster dir %s still exists after Stop (err %v)", dir, err)
	}
}
