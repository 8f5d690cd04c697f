package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sandgate/sandgate/internal/pgcluster"
)

// The demo sandbox's password. It is public on purpose: the demo database
// holds fictional data only.
const demoPassword = "demo-password-not-secret"

// demoSession is what the demo shows through psql.
var demoSession = []struct{ title, sql string }{
	{"An allowed query: columns the policy allows come back as they are",
		"SELECT patient_id, sex, date_of_birth, diagnosis FROM patients ORDER BY patient_id LIMIT 3;"},
	{"A hashed column: nhs_number is replaced by a keyed pseudonym (same patient, same token)",
		"SELECT patient_id, nhs_number FROM patients ORDER BY patient_id LIMIT 3;"},
	{"A generalised column: postcode is cut to its outward code",
		"SELECT patient_id, postcode FROM patients ORDER BY patient_id LIMIT 3;"},
	{"Aggregates over allowed columns work as usual",
		"SELECT diagnosis, count(*) FROM patients GROUP BY diagnosis ORDER BY 2 DESC, 1;"},
	{"A condition on a protected column is refused: it would let a query test raw values",
		"SELECT patient_id FROM patients WHERE nhs_number LIKE '999%';"},
	{"A denied column: family_name is refused, with the rule and what to do",
		"SELECT patient_id, family_name FROM patients LIMIT 1;"},
	{"A write: sandboxes are read-only", "DELETE FROM patients;"},
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "configs/demo.yaml", "gateway configuration for the demo")
	exit := fs.Bool("exit", false, "exit after the scripted session instead of waiting for Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error(), try: "make demo"}
	}
	cfg, err := ReadConfigFile(*cfgPath)
	if err != nil {
		return err
	}
	slog.SetDefault(newLogger(LogConfig{Level: "warn", Format: "text"}, stderr))
	fmt.Fprintln(stdout, "==> starting a throwaway PostgreSQL (fictional data only)")
	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	defer pg.Stop()
	upPass := randomHex(16)
	seed, err := os.ReadFile(cfg.path("demo.sql"))
	if err != nil {
		return fmt.Errorf("read demo data: %w", err)
	}
	setup := fmt.Sprintf("CREATE ROLE sandgate LOGIN PASSWORD '%s'; CREATE DATABASE clinic OWNER sandgate;", upPass)
	if err := pg.Exec(ctx, "postgres", setup); err != nil {
		return err
	}
	if err := pg.Exec(ctx, "clinic", string(seed)+"\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO sandgate;"); err != nil {
		return err
	}
	cfg.Upstream.Port = pg.Port
	cfg.DataDir = filepath.Join(pg.Dir, "sandgate")
	os.Setenv(cfg.Upstream.PasswordEnv, upPass)
	gw, err := newGateway(cfg, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stdout, "==> %s is busy; using a free port instead\n", cfg.Listen)
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- gw.serve(gctx, ln) }()
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(stdout, "==> sandgate is listening on 127.0.0.1:%d, in front of PostgreSQL on port %d\n\n", port, pg.Port)
	for _, step := range demoSession {
		fmt.Fprintf(stdout, "-- %s\n", step.title)
		runPsql(ctx, pg.BinDir, port, step.sql, stdout)
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "Connect yourself (sandbox diabetes_dash, password %q):\n", demoPassword)
	fmt.Fprintf(stdout, "  PGPASSWORD=%s psql \"host=127.0.0.1 port=%d user=diabetes_dash dbname=clinic sslmode=require\"\n", demoPassword, port)
	if *exit {
		stop()
		return <-done
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop sandgate and remove the throwaway database.")
	<-ctx.Done()
	stop()
	<-done
	fmt.Fprintln(stdout, "\n==> stopped; the throwaway database is removed")
	return nil
}

func runPsql(ctx context.Context, binDir string, port int, sql string, w io.Writer) {
	psql := filepath.Join(binDir, "psql")
	cmd := exec.CommandContext(ctx, psql, "-X", "--no-psqlrc", "-e",
		fmt.Sprintf("host=127.0.0.1 port=%d user=diabetes_dash dbname=clinic sslmode=require", port), "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+demoPassword)
	out, _ := cmd.CombinedOutput()
	fmt.Fprint(w, indent(string(out)))
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "   " + strings.Join(lines, "\n   ") + "\n"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var _ = strconv.Itoa
