package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandgate/sandgate/telemetry/audit"
)

// writeAuditFixture writes a small log for sandbox diabetes_dash over two
// days and returns its directory.
func writeAuditFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := audit.Open(audit.Config{Dir: dir, Durability: audit.SyncEach})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	recs := []audit.Record{
		{Time: day, Kind: audit.KindSession, Sandbox: "diabetes_dash", User: "dr_example", Decision: audit.Allow},
		{Time: day.Add(time.Minute), Kind: audit.KindStatement, Sandbox: "diabetes_dash", User: "dr_example", Decision: audit.Transform,
			Relations: []string{"public.patients"}, Rows: 12, Bytes: 900,
			Columns: []audit.Column{{Relation: "public.patients", Name: "nhs_number", Transform: "hash"}, {Relation: "public.patients", Name: "sex", Transform: "allow"}}},
		{Time: day.Add(2 * time.Minute), Kind: audit.KindStatement, Sandbox: "diabetes_dash", User: "dr_example", Decision: audit.Deny,
			Rules: []string{"deny-write"}, Relations: []string{"public.patients"}, ErrorClass: "policy_denied"},
		{Time: day.Add(24 * time.Hour), Kind: audit.KindEgress, Sandbox: "diabetes_dash", User: "dr_example", Decision: audit.Allow, Destination: "api.nhs.example:443"},
		{Time: day.Add(25 * time.Hour), Kind: audit.KindEgress, Sandbox: "diabetes_dash", User: "dr_example", Decision: audit.Deny, Destination: "pastebin.example:443"},
		{Time: day.Add(26 * time.Hour), Kind: audit.KindStatement, Sandbox: "other", User: "someone", Decision: audit.Allow, Relations: []string{"public.visits"}},
	}
	for _, r := range recs {
		if err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCmd(t *testing.T, fn func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := fn(t.Context(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestAuditVerifyCmd(t *testing.T) {
	dir := writeAuditFixture(t)
	out, err := runCmd(t, auditCmd, "verify", dir)
	if err != nil || !strings.Contains(out, "chain intact") || !strings.Contains(out, "6 records") {
		t.Fatalf("got %v:\n%s", err, out)
	}
	files, _ := audit.Files(dir, "")
	b, _ := os.ReadFile(files[0])
	b = bytes.Replace(b, []byte(`"rows":12`), []byte(`"rows":2`), 1)
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, auditCmd, "verify", dir)
	if err == nil || !strings.Contains(out, filepath.Base(files[0])+":2: seq 2: edited") {
		t.Fatalf("after an edit: got %v:\n%s\nwant a failure located at line 2, seq 2", err, out)
	}
}

func TestAuditQueryCmd(t *testing.T) {
	dir := writeAuditFixture(t)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-sandbox", "diabetes_dash"}, 5},
		{[]string{"-decision", "deny"}, 2},
		{[]string{"-table", "patients"}, 2},
		{[]string{"-column", "nhs_number"}, 1},
		{[]string{"-user", "someone"}, 1},
		{[]string{"-from", "2026-03-02", "-kind", "egress"}, 2},
		{[]string{"-to", "2026-03-01T09:01:00Z"}, 1},
	} {
		out, err := runCmd(t, auditCmd, append(append([]string{"query"}, tc.args...), dir)...)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out, "\n"); got != tc.want {
			t.Errorf("query %v: got %d lines, want %d:\n%s", tc.args, got, tc.want, out)
		}
	}
	out, err := runCmd(t, auditCmd, "query", "-format", "table", "-decision", "deny", dir)
	if err != nil || !strings.HasPrefix(out, "TIME") || !strings.Contains(out, "pastebin.example:443") {
		t.Fatalf("table: got %v:\n%s", err, out)
	}
	if _, err := runCmd(t, auditCmd, "query", "-from", "yesterday", dir); err == nil {
		t.Fatal("bad -from: got nil error")
	}
}
