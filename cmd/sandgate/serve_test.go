package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/internal/pgcluster"
	"github.com/sandgate/sandgate/telemetry/audit"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeEndToEnd runs `sandgate serve` on the demo policy in front of a
// real PostgreSQL, with the audit log, a trace file and the admin listener
// on, and checks each: the statement is answered, audited, traced and
// counted, and the protected value appears in none of them.
func TestServeEndToEnd(t *testing.T) {
	ctx := context.Background()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	seed, err := os.ReadFile("../../configs/demo.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "postgres", "CREATE ROLE sandgate LOGIN PASSWORD 'up-pw'; CREATE DATABASE clinic;"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "clinic", string(seed)+"\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO sandgate;"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The backend the sandbox may reach through the egress proxy.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the allowed API")
	}))
	defer backend.Close()
	bu, _ := url.Parse(backend.URL)
	// A FHIR server the sandbox reads through the data proxy.
	fhir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Patient","id":"p1","gender":"female",`+
			`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],`+
			`"name":[{"family":"Hartley","given":["Amelia"]}],"birthDate":"1948-03-12"}`)
	}))
	defer fhir.Close()
	policy, _ := os.ReadFile("../../configs/demo-policy.yaml")
	policy = append(policy, fmt.Sprintf(`        - id: test-backend
          hosts: [127.0.0.1]
          ports: [%s]
      allow_cidrs: [127.0.0.1/32]
    http_sources:
      - name: fhir
        upstream: %s
        fields:
          - {path: "Patient.identifier[system=https://fhir.nhs.uk/Id/nhs-number].value", transform: nhs_number, domain: nhs_number}
          - {path: Patient.gender, action: keep}
          - {path: Patient.birthDate, transform: generalise, params: {to: year}}
`, bu.Port(), fhir.URL)...)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), policy, 0o600)
	listen, admin, proxy, synthAddr, dataAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`version: 1
listen: %s
data_dir: data
policy: [policy.yaml]
tls: {mode: self-signed}
upstream: {host: 127.0.0.1, port: %d, user: sandgate, password_env: TEST_UPSTREAM_PW, sslmode: disable}
telemetry: {traces: file, trace_file: traces.jsonl, admin_listen: %s}
audit: {dir: audit}
egress: {listen: %s}
synth: {listen: %s}
http_data: {listen: %s}
log: {level: warn}
`, listen, pg.Port, admin, proxy, synthAddr, dataAddr)
	os.WriteFile(filepath.Join(dir, "sandgate.yaml"), []byte(cfg), 0o600)
	t.Setenv("TEST_UPSTREAM_PW", "up-pw")

	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- serveCmd(sctx, []string{"-config", filepath.Join(dir, "sandgate.yaml")}, io.Discard, io.Discard)
	}()
	dsn := fmt.Sprintf("postgres://diabetes_dash:%s@%s/clinic?sslmode=require", demoPassword, listen)
	var conn *pgx.Conn
	for i := 0; i < 200; i++ {
		if conn, err = pgx.Connect(ctx, dsn); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("connect through sandgate serve: %v", err)
	}
	var nhs string
	if err := conn.QueryRow(ctx, "select nhs_number from patients where patient_id = 1").Scan(&nhs); err != nil || !strings.HasPrefix(nhs, "h_") {
		t.Fatalf("got %q, %v; want a pseudonym", nhs, err)
	}
	if _, err := conn.Exec(ctx, "select family_name from patients"); err == nil {
		t.Fatal("denied column was returned")
	}
	// Egress: the allowed backend through the proxy, and a refused host.
	pu, _ := url.Parse("http://diabetes_dash:" + demoPassword + "@" + proxy)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	eresp, err := client.Get(backend.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(eresp.Body)
	eresp.Body.Close()
	if eresp.StatusCode != 200 || string(body) != "hello from the allowed API" {
		t.Fatalf("allowed egress: %d %q", eresp.StatusCode, body)
	}
	eresp, err = client.Get("http://169.254.169.254/latest/meta-data/")
	if err != nil {
		t.Fatal(err)
	}
	eresp.Body.Close()
	if eresp.StatusCode != http.StatusForbidden {
		t.Fatalf("metadata address through the proxy: got %d, want 403", eresp.StatusCode)
	}
	// The HTTP data proxy: authenticated as the sandbox, fields pseudonymised.
	dreq, _ := http.NewRequest("GET", "http://"+dataAddr+"/diabetes_dash/fhir/Patient/p1", nil)
	dreq.SetBasicAuth("diabetes_dash", demoPassword)
	dresp, err := http.DefaultClient.Do(dreq)
	if err != nil {
		t.Fatal(err)
	}
	dbody, _ := io.ReadAll(dresp.Body)
	dresp.Body.Close()
	if dresp.StatusCode != 200 || !bytes.Contains(dbody, []byte(`"gender":"female"`)) || !bytes.Contains(dbody, []byte(`"birthDate":"1948"`)) ||
		bytes.Contains(dbody, []byte("9990000018")) || bytes.Contains(dbody, []byte("Hartley")) {
		t.Fatalf("http data proxy: %d %s", dresp.StatusCode, dbody)
	}
	dreq.SetBasicAuth("diabetes_dash", "wrong password")
	if dresp, err = http.DefaultClient.Do(dreq); err != nil || dresp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("http data proxy with a wrong password: %v %v", dresp.StatusCode, err)
	}
	dresp.Body.Close()
	sresp, err := http.Get("http://" + synthAddr + "/synth/ehr/patients?rows=3&format=ndjson&seed=1")
	if err != nil {
		t.Fatal(err)
	}
	sbody, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	if sresp.StatusCode != 200 || bytes.Count(sbody, []byte("\n")) != 3 {
		t.Fatalf("synth endpoint: %d %q", sresp.StatusCode, sbody)
	}
	// Hot reload: a broken policy file is rejected and the old policy stays;
	// a fixed one that allows family_name takes effect without a restart.
	polPath := filepath.Join(dir, "policy.yaml")
	os.WriteFile(polPath, []byte("version: 1\nsandboxes: [ {name: 12"), 0o600)
	time.Sleep(3 * policyPollInterval / 2)
	if err := conn.QueryRow(ctx, "select nhs_number from patients where patient_id = 1").Scan(&nhs); err != nil {
		t.Fatalf("after a broken policy file: %v (the old policy should stay in force)", err)
	}
	// The same reload takes the backend's port out of the egress allowlist.
	reloaded := bytes.Replace(policy, []byte("family_name: deny"), []byte("family_name: allow"), 1)
	reloaded = bytes.Replace(reloaded, []byte("ports: ["+bu.Port()+"]"), []byte("ports: [1]"), 1)
	// … and stops the data proxy passing Patient.gender.
	reloaded = bytes.Replace(reloaded, []byte("{path: Patient.gender, action: keep}"), []byte("{path: Patient.gender, action: drop}"), 1)
	os.WriteFile(polPath, reloaded, 0o600)
	var family string
	for i := 0; i < 100; i++ {
		c2, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		err = c2.QueryRow(ctx, "select family_name from patients where patient_id = 1").Scan(&family)
		c2.Close(ctx)
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if family != "Hartley" {
		t.Fatalf("after a policy change allowing family_name: got %q", family)
	}
	var status int
	for i := 0; i < 50; i++ {
		eresp, err := client.Get(backend.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		eresp.Body.Close()
		if status = eresp.StatusCode; status == http.StatusForbidden {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != http.StatusForbidden {
		t.Fatalf("egress after the reload removed the backend's port: got %d, want 403", status)
	}
	dreq.SetBasicAuth("diabetes_dash", demoPassword)
	dresp, err = http.DefaultClient.Do(dreq)
	if err != nil {
		t.Fatal(err)
	}
	dbody, _ = io.ReadAll(dresp.Body)
	dresp.Body.Close()
	if dresp.StatusCode != 200 || bytes.Contains(dbody, []byte(`"gender"`)) {
		t.Fatalf("http data proxy after the reload dropped Patient.gender: %d %s", dresp.StatusCode, dbody)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close(ctx)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !bytes.Contains(metrics, []byte("sandgate_audit_write_lag")) {
		t.Errorf("/metrics lacks the audit write lag")
	}
	if !bytes.Contains(metrics, []byte("sandbox=\"diabetes_dash\"")) {
		t.Errorf("/metrics has no series for the sandbox:\n%.2000s", metrics)
	}
	traces, err := os.ReadFile(filepath.Join(dir, "traces.jsonl"))
	if err != nil || !bytes.Contains(traces, []byte("SELECT public.patients")) {
		t.Errorf("trace file lacks the statement span (%v):\n%.1000s", err, traces)
	}
	files, _ := audit.Files(filepath.Join(dir, "audit"), "")
	res, err := audit.Verify(files...)
	if err != nil || len(res.Problems) > 0 || res.Records < 5 {
		t.Fatalf("audit log: %+v, %v", res, err)
	}
	if b := readAll(t, files); !bytes.Contains(b, []byte(`"kind":"egress"`)) || !bytes.Contains(b, []byte(`"decision":"deny"`)) {
		t.Errorf("audit log lacks the egress records:\n%s", b)
	}
	for _, blob := range [][]byte{metrics, traces, readAll(t, files)} {
		if bytes.Contains(blob, []byte("9990000018")) || bytes.Contains(blob, []byte("Hartley")) {
			t.Fatal("a protected value reached telemetry or the audit log")
		}
	}
}

func readAll(t *testing.T, files []string) []byte {
	var b []byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, data...)
	}
	return b
}

// TestTuneGC: serve raises the collector's target unless GOGC is set,
// in which case the operator's choice stands.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	tuneGC()
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GOGC unset: collector target %d, want %d", got, defaultGCPercent)
	}
	t.Setenv("GOGC", "150")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: collector target changed to %d", got)
	}
}
