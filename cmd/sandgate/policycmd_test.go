package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandgate/sandgate/internal/pgcluster"
)

func TestPolicyCheckAndExplain(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if err := policyCmd(ctx, []string{"check", "../../configs/demo-policy.yaml"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ok (1 sandbox: diabetes_dash)") {
		t.Fatalf("check: %v, %q", err, out.String())
	}
	err := policyCmd(ctx, []string{"check", "../../policy/testdata/bad_rule.yaml"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bad_rule.yaml:8:21:") {
		t.Fatalf("check of a bad file: got %v, want a file:line:column error", err)
	}

	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	seed, _ := os.ReadFile("../../configs/demo.sql")
	if err := pg.Exec(ctx, "postgres", string(seed)); err != nil {
		t.Fatal(err)
	}
	dsn := pg.DSN("postgres")
	// A policy naming a column the database does not have fails the check.
	bad := filepath.Join(t.TempDir(), "p.yaml")
	policy, _ := os.ReadFile("../../configs/demo-policy.yaml")
	os.WriteFile(bad, bytes.Replace(policy, []byte("diagnosis: allow"), []byte("diagnoses: allow"), 1), 0o600)
	err = policyCmd(ctx, []string{"check", "-dsn", dsn, bad}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "column public.patients.diagnoses does not exist") {
		t.Fatalf("check -dsn: got %v", err)
	}

	// A row filter must run on the database.
	filtered := func(cond string) string {
		p := filepath.Join(t.TempDir(), "f.yaml")
		os.WriteFile(p, bytes.Replace(policy, []byte("    # HTTP egress"), []byte("    row_filters:\n      public.patients: \""+cond+"\"\n    # HTTP egress"), 1), 0o600)
		return p
	}
	err = policyCmd(ctx, []string{"check", "-dsn", dsn, filtered("no_such_column = 1")}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the row filter of public.patients does not run on this database") {
		t.Fatalf("check -dsn of a broken row filter: got %v", err)
	}
	good := filtered("sex = 'F'")
	if err := policyCmd(ctx, []string{"check", "-dsn", dsn, good}, io.Discard, io.Discard); err != nil {
		t.Fatalf("check -dsn of a good row filter: %v", err)
	}
	var b bytes.Buffer
	if err := policyCmd(ctx, []string{"explain", "-sandbox", "diabetes_dash", "-policy", good, "-dsn", dsn, "select count(*) from patients"}, &b, io.Discard); err != nil ||
		!strings.Contains(b.String(), "statement as sent upstream: select count(*) from (SELECT * FROM public.patients WHERE sex = 'F' OFFSET 0) AS \"patients\"") ||
		!strings.Contains(b.String(), "row filters: public.patients") {
		t.Fatalf("explain with a row filter: %v\n%s", err, b.String())
	}

	explain := func(sql string) string {
		var b bytes.Buffer
		if err := policyCmd(ctx, []string{"explain", "-sandbox", "diabetes_dash", "-policy", "../../configs/demo-policy.yaml", "-dsn", dsn, sql}, &b, io.Discard); err != nil {
			t.Fatalf("explain %q: %v", sql, err)
		}
		return b.String()
	}
	got := explain("select patient_id, nhs_number, postcode from patients")
	for _, want := range []string{"public.patients.nhs_number", "hash", "generalise", "public.patients.patient_id"} {
		if !strings.Contains(got, want) {
			t.Errorf("explain: %q lacks %q", got, want)
		}
	}
	if got := explain("select family_name from patients"); !strings.Contains(got, "decision: deny (rule column-deny)") {
		t.Errorf("explain of a denied column: %q", got)
	}
	if got := explain("delete from patients"); !strings.Contains(got, "decision: deny (rule write") {
		t.Errorf("explain of a write: %q", got)
	}
}
