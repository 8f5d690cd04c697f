package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const reportPolicy = `version: 1
sandboxes:
  - name: diabetes_dash
    owner: Dr A. Example (diabetes clinic)
    purpose: Prototype dashboard of diabetes reviews due
    database: clinic
    password_verifier: "SCRAM-SHA-256$4096:K6cI4zRyjEzPIN3a3Nl0Ng==$6c2OaC0LGCMlyr0dA+HBBS2opiCPlquz1+/6W0qx9uM=:um+Ul3BmHHo1mJtTfgpRGX5g3fBHTkxLOlTcGbZQGIY="
    tables:
      public.patients:
        nhs_number: hash
        sex: allow
`

func TestReportCmd(t *testing.T) {
	dir := writeAuditFixture(t)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte(reportPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, reportCmd, "-sandbox", "diabetes_dash", "-format", "json", "-policy", pol, dir)
	if err != nil {
		t.Fatal(err, out)
	}
	var ev evidence
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatal(err, out)
	}
	if ev.Owner != "Dr A. Example (diabetes clinic)" || ev.DPIA != notRecorded || ev.Records != 5 ||
		len(ev.Columns) != 2 || ev.Columns[0].Column != "nhs_number" || ev.Columns[0].Transforms[0] != "hash" ||
		len(ev.Days) != 2 || len(ev.Denials) != 2 || len(ev.Egress) != 2 || ev.Egress[1].Denied != 1 ||
		!strings.HasPrefix(ev.Chain, "intact") {
		t.Fatalf("got %+v", ev)
	}
	md, err := runCmd(t, reportCmd, "-sandbox", "diabetes_dash", "-policy", pol, dir)
	if err != nil || !strings.Contains(md, "| public.patients | nhs_number | hash | 1 |") || !strings.Contains(md, "| pastebin.example:443 | 0 | 1 |") {
		t.Fatalf("markdown: got %v:\n%s", err, md)
	}
	html, err := runCmd(t, reportCmd, "-sandbox", "diabetes_dash", "-format", "html", "-from", "2026-03-01", "-to", "2026-03-03", dir)
	if err != nil || strings.Count(html, "<svg") != 2 || strings.Contains(html, "<script") || strings.Contains(html, "src=") ||
		!strings.Contains(html, "not recorded") {
		t.Fatalf("html: got %v:\n%s", err, html)
	}
}

func TestReportCmdUnknownSandbox(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte(reportPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, reportCmd, "-sandbox", "nope", "-policy", pol, writeAuditFixture(t)); err == nil {
		t.Fatal("got nil error for a sandbox not in the policy")
	}
}
