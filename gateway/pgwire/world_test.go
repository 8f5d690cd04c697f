package pgwire

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sandgate/sandgate/internal/pgcluster"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/synth"
)

// The fixture's protected values. No byte sequence of these may reach a
// client; tests look for them in everything a client receives.
const (
	secretNHS    = "9434765919"
	secretMRN    = "12345678901"
	secretFamily = "Zebedee-Unique"
	testPassword = "tester-password-1"
	upPassword   = "upstream-secret-pw"
)

// cluster is the test PostgreSQL, started on first use (fuzz workers, which
// run this binary many times over, never start one).
var (
	cluster     *pgcluster.Cluster
	clusterOnce sync.Once
	clusterErr  error
)

func needCluster(t testing.TB) {
	t.Helper()
	clusterOnce.Do(func() {
		ctx := context.Background()
		if cluster, clusterErr = pgcluster.Start(ctx, pgcluster.Options{}); clusterErr == nil {
			clusterErr = loadFixture(ctx, cluster)
		}
	})
	if clusterErr != nil {
		t.Fatalf("test PostgreSQL: %v", clusterErr)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

func loadFixture(ctx context.Context, cluster *pgcluster.Cluster) error {
	if err := cluster.Exec(ctx, "postgres", fmt.Sprintf(
		"CREATE ROLE sandgate LOGIN CREATEDB PASSWORD '%s'; CREATE DATABASE clinic;", upPassword)); err != nil {
		return err
	}
	return cluster.Exec(ctx, "clinic", fmt.Sprintf(`
CREATE TABLE patients (patient_id int PRIMARY KEY, nhs_number text, mrn bigint, family_name text, dob date, note text);
INSERT INTO patients VALUES
 (1, '%s', %s, '%s', '1950-01-02', 'first'),
 (2, '9990000026', 22, 'Brennan', '1975-11-02', NULL),
 (3, NULL, NULL, 'Raman', '1990-07-23', 'tab	and\nnewline');
CREATE TABLE wards (ward_id int, name text);
INSERT INTO wards VALUES (1, 'Aire'), (2, 'Calder');
CREATE TABLE notes (note_id int PRIMARY KEY, patient_id int, body text NOT NULL, author text);
CREATE TABLE secrets (x text);
INSERT INTO secrets VALUES ('top secret');
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sandgate;
GRANT INSERT, UPDATE, DELETE ON notes TO sandgate;
`, secretNHS, secretMRN, secretFamily))
}

// testPolicy: sandbox tester reads patients (nhs_number and mrn hashed,
// family_name denied) and wards; sandbox other reads the same with its own
// hash key.
func testPolicy(t testing.TB) *policy.Set { return policyWith(t, nil) }

// testVerifier is computed once, so that compiling the test policy twice
// gives the same text (and the same sandbox fingerprints).
var testVerifier = sync.OnceValues(func() (*policy.Verifier, error) { return policy.NewVerifier(testPassword, 4096) })

// policyWith compiles the test policy after edit (if any) rewrites its text.
func policyWith(t testing.TB, edit func(string) string) *policy.Set {
	t.Helper()
	v, err := testVerifier()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("version: 1\nsandboxes:\n")
	// synthetic is built against generated data: same table names as the
	// real schema would have, provisioned on first use.
	fmt.Fprintf(&b, `  - name: synthetic
    database: clinic
    source: {kind: synthetic, spec: ehr, rows: 25, seed: 7}
    password_verifier: %q
    tables:
      patients: {patient_id: allow, nhs_number: allow, family_name: allow, date_of_birth: allow}
      observations: {observation_id: allow, patient_id: allow, code: allow, value: allow, unit: allow}
`, v.String())
	fmt.Fprintf(&b, `  - name: lapsed
    database: clinic
    expires: "2020-01-01"
    password_verifier: %q
    tables:
      wards: {ward_id: allow, name: allow}
`, v.String())
	for _, name := range []string{"tester", "other"} {
		fmt.Fprintf(&b, `  - name: %s
    database: clinic
    password_verifier: %q
    max_connections: 12
    tables:
      public.patients: {patient_id: allow, nhs_number: hash, mrn: hash, family_name: deny, dob: allow, note: allow}
      wards: {ward_id: allow, name: allow}
`, name, v.String())
	}
	// early_years sees only patients born before 1980, and keeps notes.
	fmt.Fprintf(&b, `  - name: early_years
    database: clinic
    password_verifier: %q
    tables:
      public.patients: {patient_id: allow, nhs_number: hash, family_name: deny, dob: allow, note: allow}
      notes: {note_id: allow, patient_id: allow, body: allow, author: deny}
      wards: {ward_id: allow, name: allow}
    row_filters:
      public.patients: "dob < '1980-01-01'"
    writes:
      notes: [insert, update, delete]
`, v.String())
	// clinician sees patients through the Tink transforms.
	fmt.Fprintf(&b, `  - name: clinician
    database: clinic
    password_verifier: %q
    tables:
      public.patients:
        patient_id: allow
        nhs_number: {transform: nhs_number, domain: nhs_number, params: {on_invalid: "null"}}
        mrn: {transform: token, domain: mrn}
        dob: {transform: date_shift, domain: patient_id, subject: patient_id, params: {max_days: "30"}}
        note: {transform: redact}
        family_name: {transform: synthetic, domain: patient, params: {kind: family_name}}
`, v.String())
	keys, err := pseudonymise.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := pseudonymise.New(pseudonymise.Config{Keys: keys, Synthesiser: testSynth{}})
	if err != nil {
		t.Fatal(err)
	}
	text := b.String()
	if edit != nil {
		text = edit(text)
	}
	set, err := policy.Compile(policy.Options{HashKey: []byte(strings.Repeat("k", 32)), Engine: engine},
		policy.Source{Name: "test.yaml", Data: []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

type testSynth struct{}

func (testSynth) Replace(kind string, seed, dst []byte) []byte {
	out, err := synth.Replace(kind, seed, dst)
	if err != nil {
		return dst
	}
	return out
}

// world is a running gateway in front of the test cluster.
type world struct {
	srv  *Server
	addr string // the gateway's listener
	logs *logBuffer
}

type worldOpts struct {
	tls    bool
	mutate func(*Config)
}

func newWorld(t testing.TB, o worldOpts) *world {
	t.Helper()
	needCluster(t)
	set := testPolicy(t)
	logs := &logBuffer{}
	cfg := Config{
		Policy:   func() *policy.Set { return set },
		Upstream: Upstream{Host: cluster.Host, Port: cluster.Port, User: "sandgate", Password: upPassword, SSLMode: "disable"},
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.tls {
		cfg.TLS = testTLS(t)
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the gateway's client port
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() {
		cancel()
		sctx, c2 := context.WithTimeout(context.Background(), 5e9)
		defer c2()
		srv.Shutdown(sctx)
		<-done
	})
	return &world{srv: srv, addr: ln.Addr().String(), logs: logs}
}

func (w *world) dsn(user, password, sslmode string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/clinic?sslmode=%s", user, password, w.addr, sslmode)
}

func (w *world) port() string {
	_, p, _ := net.SplitHostPort(w.addr)
	return p
}

// logBuffer captures the gateway's log for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testTLS(t testing.TB) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	cert, key := dir+"/server.crt", dir+"/server.key"
	if err := WriteSelfSigned(cert, key); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}
}
