package pgwire

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// probeOutput runs a client program and returns its key=value lines.
func probeOutput(t *testing.T, cmd *exec.Cmd) map[string]string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Path, err, out)
	}
	if bytes.Contains(out, []byte(secretNHS)) || bytes.Contains(out, []byte(secretFamily)) {
		t.Errorf("a protected value reached the client:\n%s", out)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			got[k] = v
		}
	}
	return got
}

// checkProbe checks what both driver probes report for sandbox tester.
func checkProbe(t *testing.T, got map[string]string) {
	t.Helper()
	if !strings.Contains(","+got["tables"]+",", ",patients,") || !strings.Contains(","+got["tables"]+",", ",wards,") {
		t.Errorf("catalog: tables = %q", got["tables"])
	}
	pats := strings.Split(got["patients"], ",")
	if len(pats) != 3 || !strings.HasPrefix(pats[0], "1:h_") || !strings.HasPrefix(pats[2], "3:") || strings.Contains(pats[2], "h_") {
		t.Errorf("patients with nhs_number hashed: %q", got["patients"])
	}
	if got["denied"] != "42501" || got["denied_names_column"] != "true" || got["after_denial"] != "2" {
		t.Errorf("denial: %v", got)
	}
}

func TestJDBC(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatal("java is not installed: run make test-deps, or apt-get install default-jre-headless libpostgresql-jdbc-java")
	}
	const jar = "/usr/share/java/postgresql.jar"
	if _, err := os.Stat(jar); err != nil {
		t.Fatal("the PostgreSQL JDBC driver is not installed: run make test-deps, or apt-get install libpostgresql-jdbc-java")
	}
	w := newWorld(t, worldOpts{})
	url := "jdbc:postgresql://127.0.0.1:" + w.port() + "/clinic"
	got := probeOutput(t, exec.Command(java, "-cp", jar, "testdata/clients/Probe.java", url, "tester", testPassword))
	checkProbe(t, got)
	if got["wards_columns"] != "ward_id,name" || got["prepared_last"] != "Aire/1" {
		t.Errorf("metadata and prepared statements: %v", got)
	}
	t.Cleanup(func() { cluster.Exec(context.Background(), "clinic", "DELETE FROM notes") })
	got = probeOutput(t, exec.Command(java, "-cp", jar, "testdata/clients/Probe.java", url, "early_years", testPassword, "write"))
	if got["notes"] != "901" || got["patients_visible"] != "2" {
		t.Errorf("writes and row filter through JDBC: %v", got)
	}
}

func TestPsycopg(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, where python3-psycopg2 installs
	if err := exec.Command(python, "-c", "import psycopg2").Run(); err != nil {
		t.Fatal("psycopg2 is not installed for /usr/bin/python3: run make test-deps, or apt-get install python3-psycopg2")
	}
	w := newWorld(t, worldOpts{})
	dsn := func(user string) string {
		return "host=127.0.0.1 port=" + w.port() + " dbname=clinic sslmode=disable user=" + user + " password=" + testPassword
	}
	got := probeOutput(t, exec.Command(python, "testdata/clients/probe.py", dsn("tester")))
	checkProbe(t, got)
	if got["param"] != "Calder" {
		t.Errorf("parameter: %v", got)
	}
	t.Cleanup(func() { cluster.Exec(context.Background(), "clinic", "DELETE FROM notes") })
	got = probeOutput(t, exec.Command(python, "testdata/clients/probe.py", dsn("early_years"), "write"))
	if got["notes"] != "801" || got["patients_visible"] != "2" {
		t.Errorf("writes and row filter through psycopg: %v", got)
	}
}
