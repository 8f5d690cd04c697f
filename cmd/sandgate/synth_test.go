package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/internal/pgcluster"
)

func TestSynthGenCSV(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"gen", "--spec", "ehr", "--table", "patients", "--rows", "300", "--seed", "5", "--format", "csv"}
	if err := synthCmd(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 301 || recs[0][1] != "nhs_number" {
		t.Fatalf("got %d records, header %v", len(recs), recs[0])
	}
	var again bytes.Buffer
	if err := synthCmd(context.Background(), args, &again, &errb); err != nil || again.String() != out.String() {
		t.Fatalf("second run differs (err %v)", err)
	}
}

func TestSynthGenNDJSONAndFHIR(t *testing.T) {
	var out, errb bytes.Buffer
	if err := synthCmd(context.Background(), []string{"gen", "--table", "observations", "--rows", "50", "--format", "ndjson"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 50 || !json.Valid([]byte(lines[0])) {
		t.Fatalf("got %d lines, first %q", len(lines), lines[0])
	}
	out.Reset()
	if err := synthCmd(context.Background(), []string{"gen", "--table", "conditions", "--rows", "20", "--format", "fhir"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var b struct{ Entry []json.RawMessage }
	if err := json.Unmarshal(out.Bytes(), &b); err != nil || len(b.Entry) != 20 {
		t.Fatalf("fhir bundle: %v, %d entries", err, len(b.Entry))
	}
}

func TestSynthErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ntables:\n  - name: p\n    entity: persons\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "missing subcommand"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"gen", "--table", "nope"}, `no table "nope"; tables are: patients`},
		{[]string{"gen", "--format", "xml"}, `--format "xml"`},
		{[]string{"gen", "--seed", "x"}, `--seed "x"`},
		{[]string{"gen", "--table", "encounters", "--format", "fhir"}, "has no FHIR form"},
		{[]string{"gen", "--spec", "/no/such.yaml"}, "neither a built-in"},
		{[]string{"gen", "--spec", bad}, "bad.yaml:4: table p: unknown entity \"persons\""},
		{[]string{"load", "--spec", "ehr"}, "--dsn is required"},
		{[]string{"load", "--bogus"}, "flag provided but not defined"},
	} {
		var out, errb bytes.Buffer
		err := synthCmd(context.Background(), c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("synth %v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// TestSynthLoad loads into a real PostgreSQL through the CLI and checks
// the summary and the data. It starts its own cluster rather than using
// TestMain, which this package's other tests may own.
func TestSynthLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	var out, errb bytes.Buffer
	args := []string{"load", "--spec", "ehr", "--rows", "500", "--dsn", c.DSN("postgres"), "--seed", "9"}
	if err := synthCmd(ctx, args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"patients", "500", "observations", "rows/s", "total"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, errb.String())
		}
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var orphans int
	err = conn.QueryRow(ctx, `select count(*) from encounters e left join patients p using (patient_id) where p.patient_id is null`).Scan(&orphans)
	if err != nil || orphans != 0 {
		t.Fatalf("orphan encounters: %d (%v)", orphans, err)
	}
	if err := synthCmd(ctx, args, &out, &errb); err == nil {
		t.Error("second load without --drop: got nil error")
	}
	if err := synthCmd(ctx, append(args, "--drop"), &out, &errb); err != nil {
		t.Errorf("load --drop: %v", err)
	}
}
