package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/internal/pgcluster"
	"github.com/sandgate/sandgate/telemetry/audit"
)

// TestMain lets a test run the real binary's main in a child process (the
// crash test kills it): SANDGATE_TEST_MAIN holds its arguments.
func TestMain(m *testing.M) {
	if args := os.Getenv("SANDGATE_TEST_MAIN"); args != "" {
		os.Exit(run(context.Background(), strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestAuditSurvivesSIGKILL kills `sandgate serve` (fsync per record) with
// SIGKILL while clients run statements, then checks the audit chain is
// intact and holds a record for every statement a client saw complete.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	ctx := context.Background()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	seed, _ := os.ReadFile("../../configs/demo.sql")
	if err := pg.Exec(ctx, "postgres", "CREATE ROLE sandgate LOGIN PASSWORD 'up-pw'; CREATE DATABASE clinic;"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "clinic", string(seed)+"\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO sandgate;"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	policy, _ := os.ReadFile("../../configs/demo-policy.yaml")
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600)
	listen := freeAddr(t)
	cfg := fmt.Sprintf(`version: 1
listen: %s
data_dir: data
policy: [policy.yaml]
tls: {mode: "off"}
upstream: {host: 127.0.0.1, port: %d, user: sandgate, password_env: TEST_UPSTREAM_PW, sslmode: disable}
audit: {dir: audit, durability: fsync}
log: {level: error}
`, listen, pg.Port)
	os.WriteFile(filepath.Join(dir, "sandgate.yaml"), []byte(cfg), 0o600)
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), "TEST_UPSTREAM_PW=up-pw", "SANDGATE_TEST_MAIN=serve -config "+filepath.Join(dir, "sandgate.yaml"))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()

	dsn := fmt.Sprintf("postgres://diabetes_dash:%s@%s/clinic?sslmode=disable", demoPassword, listen)
	var completed atomic.Int64
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			var conn *pgx.Conn
			var err error
			for i := 0; i < 200; i++ {
				if conn, err = pgx.Connect(ctx, dsn); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				return
			}
			for i := 0; i < 100000; i++ {
				var id int32
				if conn.QueryRow(ctx, "select patient_id from patients where patient_id = 1", pgx.QueryExecModeSimpleProtocol).Scan(&id) != nil {
					return // the gateway is gone
				}
				completed.Add(1)
			}
		}()
	}
	for i := 0; i < 500 && completed.Load() < 200; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	for w := 0; w < 4; w++ {
		<-done
	}
	if completed.Load() == 0 {
		t.Fatal("no statement completed before the kill")
	}

	files, err := audit.Files(filepath.Join(dir, "audit"), "")
	if err != nil || len(files) == 0 {
		t.Fatalf("audit files: %v %v", files, err)
	}
	res, err := audit.Verify(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		if p.Kind != audit.Truncated && p.Kind != audit.Interrupted { // what a kill may leave at the end
			t.Errorf("audit chain broken after SIGKILL: %+v", p)
		}
	}
	var statements int64
	audit.ReadFiles(files, func(_ string, _ int, r audit.Record) error {
		if r.Kind == audit.KindStatement {
			statements++
		}
		return nil
	})
	if statements < completed.Load() {
		t.Fatalf("%d statements completed for clients, only %d audited: fsync per record promises every one", completed.Load(), statements)
	}
}
