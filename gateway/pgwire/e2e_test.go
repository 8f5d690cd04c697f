package pgwire

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/lib/pq"
	"github.com/sandgate/sandgate/internal/pgcluster"
	"github.com/sandgate/sandgate/synth"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestPsqlThroughGateway(t *testing.T) {
	w := newWorld(t, worldOpts{tls: true})
	run := func(sql string) string {
		cmd := exec.Command(filepath.Join(cluster.BinDir, "psql"), "-X", "-A", "-t",
			"host=127.0.0.1 port="+w.port()+" user=tester dbname=clinic sslmode=require", "-c", sql)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+testPassword)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if got := run("select patient_id, dob from patients order by 1"); !strings.Contains(got, "1|1950-01-02") {
		t.Fatalf("allowed query: got %q, want a row 1|1950-01-02", got)
	}
	got := run("select nhs_number from patients where patient_id = 1")
	if !strings.HasPrefix(got, "h_") || strings.Contains(got, secretNHS) {
		t.Fatalf("hashed column: got %q, want an h_ pseudonym", got)
	}
	got = run("select family_name from patients")
	if !strings.Contains(got, "column public.patients.family_name is denied") || strings.Contains(got, secretFamily) {
		t.Fatalf("denied column: got %q", got)
	}
	got = run("select * from secrets")
	if !strings.Contains(got, "table public.secrets is not in the policy") {
		t.Fatalf("unnamed table: got %q", got)
	}
	// psql's own catalog queries keep working.
	if got := run(`\dt`); !strings.Contains(got, "patients") {
		t.Fatalf(`\dt: got %q`, got)
	}
}

func TestPgxModesAgree(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	modes := map[string]pgx.QueryExecMode{
		"simple": pgx.QueryExecModeSimpleProtocol, "cache-statement": pgx.QueryExecModeCacheStatement,
		"describe-exec": pgx.QueryExecModeDescribeExec, "exec": pgx.QueryExecModeExec,
	}
	results := map[string][]string{}
	for name, mode := range modes {
		rows, err := c.Query(ctx, "select patient_id, nhs_number, mrn, note from patients where patient_id >= $1 order by patient_id", mode, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for rows.Next() {
			var id int32
			var nhs, mrn, note *string
			if err := rows.Scan(&id, &nhs, &mrn, &note); err != nil {
				t.Fatalf("%s: scan: %v", name, err)
			}
			got = append(got, deref(nhs)+"|"+deref(mrn)+"|"+deref(note))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		results[name] = got
	}
	want := results["simple"]
	if len(want) != 3 || !strings.HasPrefix(want[0], "h_") || !strings.Contains(want[0], "|h_") {
		t.Fatalf("simple: got %q, want hashed nhs_number and mrn", want)
	}
	if !strings.HasPrefix(want[2], "<null>|<null>|") {
		t.Fatalf("NULLs must stay NULL: got %q", want[2])
	}
	for name, got := range results {
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s disagrees with simple protocol:\n got %q\nwant %q", name, got, want)
		}
		for _, r := range got {
			if strings.Contains(r, secretNHS) || strings.Contains(r, secretMRN) {
				t.Fatalf("%s leaked a protected value: %q", name, r)
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func TestHashDiffersAcrossSandboxes(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	var a, b string
	if err := connect(t, w.dsn("tester", testPassword, "disable")).QueryRow(ctx, "select nhs_number from patients where patient_id = 1").Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := connect(t, w.dsn("other", testPassword, "disable")).QueryRow(ctx, "select nhs_number from patients where patient_id = 1").Scan(&b); err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("sandboxes tester and other got the same pseudonym %q", a)
	}
}

func TestDeniedColumnKeepsSessionUsable(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		var s string
		err := c.QueryRow(ctx, "select family_name from patients where patient_id = $1", mode, 1).Scan(&s)
		if pgCode(err) != "42501" {
			t.Fatalf("mode %v: got %v, want SQLSTATE 42501", mode, err)
		}
		var pe *pgconn.PgError
		errors.As(err, &pe)
		if !strings.Contains(pe.Message, "family_name") || pe.Hint == "" {
			t.Fatalf("denial should name the column and give a hint: %+v", pe)
		}
		ensureUsable(t, c)
	}
	// A pipeline: the denial fails its statement and the rest of the
	// pipeline, as PostgreSQL does; the connection stays usable.
	b := &pgconn.Batch{}
	b.ExecParams("select name from wards where ward_id = 1", nil, nil, nil, nil)
	b.ExecParams("select family_name from patients", nil, nil, nil, nil)
	b.ExecParams("select name from wards where ward_id = 2", nil, nil, nil, nil)
	results, err := c.PgConn().ExecBatch(ctx, b).ReadAll()
	if pgCode(err) != "42501" {
		t.Fatalf("pipeline: got %v, want 42501", err)
	}
	if len(results) < 1 || len(results[0].Rows) != 1 || string(results[0].Rows[0][0]) != "Aire" {
		t.Fatalf("pipeline: first statement should have succeeded: %+v", results)
	}
	ensureUsable(t, c)
}

func ensureUsable(t testing.TB, c *pgx.Conn) {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), "select count(ward_id) from wards").Scan(&n); err != nil || n != 2 {
		t.Fatalf("connection not usable after an error: got %d, %v", n, err)
	}
}

func TestWritesAndSidePathsDenied(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	for _, q := range []string{
		"delete from patients",
		"insert into wards values (3, 'x')",
		"create table t (x int)",
		"select * from pg_stats",
		"select pg_read_file('/etc/passwd')",
		"copy patients from stdin",
		"copy patients to '/tmp/x'",
		"set search_path = evil",
		"select nhs_number || '' from patients",
		"select row_to_json(p) from patients p",
		"select * from patients for update",
		"select query_to_xml('select * from patients', true, false, '')",
		"listen patient_updates",
		"notify patient_updates, 'x'",
		"select pg_notify('patient_updates', 'x')",
	} {
		_, err := c.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		if code := pgCode(err); code != "42501" && code != "0A000" {
			t.Errorf("%q: got %v, want a policy denial", q, err)
		}
	}
	ensureUsable(t, c)
}

// TestOrdinaryWorkKeepsWorking: aggregates and expressions over allowed
// columns, joins on a protected column, and psql's catalog queries.
func TestOrdinaryWorkKeepsWorking(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	var n int64
	var upper string
	if err := c.QueryRow(ctx, "select count(*), max(upper(note)) from patients").Scan(&n, &upper); err != nil || n != 3 || !strings.HasPrefix(upper, "TAB") {
		t.Fatalf("aggregates over allowed columns: %d %q %v", n, upper, err)
	}
	rows, err := c.Query(ctx, "select p.patient_id from patients p join patients q on p.nhs_number = q.nhs_number")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(ids) != 2 {
		t.Fatalf("join on a protected column: %v %v", ids, err)
	}
	if err := c.QueryRow(ctx, "select count(*) from pg_catalog.pg_class where relname = 'patients'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("catalog query: %d %v", n, err)
	}
}

func TestLibPQ(t *testing.T) {
	w := newWorld(t, worldOpts{})
	db, err := sql.Open("postgres", w.dsn("tester", testPassword, "disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var nhs string
	if err := db.QueryRow("select nhs_number from patients where patient_id = $1", 1).Scan(&nhs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nhs, "h_") {
		t.Fatalf("got %q, want a pseudonym", nhs)
	}
	st, err := db.Prepare("select name from wards where ward_id = $1")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[int]string{1: "Aire", 2: "Calder"} {
		var got string
		if err := st.QueryRow(id).Scan(&got); err != nil || got != want {
			t.Fatalf("ward %d: got %q, %v; want %q", id, got, err, want)
		}
	}
	if _, err := db.Exec("select family_name from patients"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("lib/pq denied column: got %v", err)
	}
}

func TestCopyOut(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	copyTo := func(sql string) (string, error) {
		var buf bytes.Buffer
		_, err := c.PgConn().CopyTo(ctx, &buf, sql)
		return buf.String(), err
	}
	var want string
	if err := c.QueryRow(ctx, "select nhs_number from patients where patient_id = 1").Scan(&want); err != nil {
		t.Fatal(err)
	}
	got, err := copyTo("COPY patients (patient_id, nhs_number, mrn, note) TO STDOUT")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "1\t"+want+"\t") || strings.Contains(got, secretNHS) || strings.Contains(got, secretMRN) {
		t.Fatalf("COPY text: got %q, want nhs_number as %s", got, want)
	}
	if !strings.Contains(got, `tab\tand\\nnewline`) || !strings.Contains(got, "\\N") {
		t.Fatalf("COPY text: escapes and NULLs must survive: %q", got)
	}
	got, err = copyTo("COPY patients (patient_id, nhs_number) TO STDOUT WITH (FORMAT csv, HEADER)")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "patient_id,nhs_number\n") || !strings.Contains(got, `1,"`+want+`"`) {
		t.Fatalf("COPY csv: got %q", got)
	}
	for _, q := range []string{"COPY patients TO STDOUT", "COPY (select nhs_number from patients) TO STDOUT",
		"COPY patients (nhs_number) TO STDOUT WITH (FORMAT binary)"} {
		if out, err := copyTo(q); pgCode(err) == "" || strings.Contains(out, secretNHS) {
			t.Errorf("%q: got %v (output %q), want a denial", q, err, out)
		}
	}
	ensureUsable(t, c)
}

func TestCancelRequest(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "select pg_sleep(30)")
		errc <- err
	}()
	// Cancel until the query is gone: the first request may arrive before
	// the query starts.
	for {
		if err := c.PgConn().CancelRequest(context.Background()); err != nil {
			t.Fatalf("cancel request: %v", err)
		}
		select {
		case err := <-errc:
			if pgCode(err) != "57014" {
				t.Fatalf("got %v, want SQLSTATE 57014 (query_canceled)", err)
			}
			ensureUsable(t, c)
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestTLS(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, worldOpts{tls: true})
	c := connect(t, w.dsn("tester", testPassword, "require"))
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("sslmode=require: connection is %T, want *tls.Conn", c.PgConn().Conn())
	}
	ensureUsable(t, c)

	plain := newWorld(t, worldOpts{})
	if _, err := pgx.Connect(ctx, plain.dsn("tester", testPassword, "require")); err == nil {
		t.Fatal("sslmode=require against a gateway without TLS should fail")
	}
	ensureUsable(t, connect(t, plain.dsn("tester", testPassword, "disable")))

	strict := newWorld(t, worldOpts{tls: true, mutate: func(c *Config) { c.RequireTLS = true }})
	_, err := pgx.Connect(ctx, strict.dsn("tester", testPassword, "disable"))
	if err == nil || !strings.Contains(err.Error(), "requires TLS") {
		t.Fatalf("plain client against RequireTLS: got %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	for _, tc := range []struct{ name, user, pass, db, code string }{
		{"wrong password", "tester", "not-the-password", "clinic", "28P01"},
		{"unknown sandbox", "nobody", testPassword, "clinic", "28P01"},
		{"wrong database", "tester", testPassword, "postgres", "28000"},
		{"expired sandbox", "lapsed", testPassword, "clinic", "28000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := strings.Replace(w.dsn(tc.user, tc.pass, "disable"), "/clinic?", "/"+tc.db+"?", 1)
			_, err := pgx.Connect(ctx, dsn)
			if pgCode(err) != tc.code {
				t.Fatalf("got %v, want SQLSTATE %s", err, tc.code)
			}
		})
	}
}

func TestConnectionLimitPerSandbox(t *testing.T) {
	w := newWorld(t, worldOpts{})
	for i := 0; i < 12; i++ {
		connect(t, w.dsn("tester", testPassword, "disable"))
	}
	_, err := pgx.Connect(context.Background(), w.dsn("tester", testPassword, "disable"))
	if pgCode(err) != "53300" {
		t.Fatalf("13th connection: got %v, want 53300", err)
	}
	// Another sandbox is not affected.
	ensureUsable(t, connect(t, w.dsn("other", testPassword, "disable")))
}

func TestPoolReusesAndResets(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	c1 := connect(t, w.dsn("tester", testPassword, "disable"))
	var pid1, pid2 int
	if err := c1.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid1); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Exec(ctx, "set statement_timeout = '4321'"); err != nil {
		t.Fatal(err)
	}
	c1.Close(ctx)
	waitFor(t, func() bool { return w.srv.pool.idleCount() == 1 })
	c2 := connect(t, w.dsn("tester", testPassword, "disable"))
	if err := c2.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2); err != nil {
		t.Fatal(err)
	}
	if pid1 != pid2 || w.srv.pool.reuses.Load() != 1 || w.srv.pool.dials.Load() != 1 {
		t.Fatalf("second session got backend %d, want the pooled %d (dials %d, reuses %d)", pid2, pid1,
			w.srv.pool.dials.Load(), w.srv.pool.reuses.Load())
	}
	var timeout string
	if err := c2.QueryRow(ctx, "show statement_timeout").Scan(&timeout); err != nil || timeout != "0" {
		t.Fatalf("statement_timeout leaked into the next session: got %q, %v", timeout, err)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met")
}

func TestKilledUpstream(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ensureUsable(t, c)
	cluster.Kill()
	restarted := false
	defer func() {
		if !restarted {
			cluster.Restart(ctx)
		}
	}()
	if _, err := c.Exec(ctx, "select 1"); err == nil {
		t.Fatal("query on a killed upstream succeeded")
	}
	// While the database is down, a new client gets a clear error.
	_, err := pgx.Connect(ctx, w.dsn("tester", testPassword, "disable"))
	if pgCode(err) != "08001" {
		t.Fatalf("connect while down: got %v, want 08001", err)
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ensureUsable(t, connect(t, w.dsn("tester", testPassword, "disable")))
}

// TestProtocolViolations plays a hostile client: after a real login it
// sends malformed messages. The session ends with 08P01; others carry on.
func TestProtocolViolations(t *testing.T) {
	w := newWorld(t, worldOpts{mutate: func(c *Config) { c.MaxMessageBytes = 4096 }})
	bystander := connect(t, w.dsn("tester", testPassword, "disable"))
	for name, msg := range map[string][]byte{
		"oversized":      {'Q', 0x7f, 0, 0, 0},
		"one over limit": append([]byte{'Q', 0, 0, 0x10, 0x05}, make([]byte, 4097)...),
		"negative len":   {'Q', 0xff, 0xff, 0xff, 0xf0},
		"unknown type":   {'z', 0, 0, 0, 4},
		"query no NUL":   {'Q', 0, 0, 0, 7, 'a', 'b', 'c'},
		"bad bind":       {'B', 0, 0, 0, 6, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			conn := hijacked(t, w)
			conn.Write(msg)
			reply, _ := io.ReadAll(conn)
			if !bytes.Contains(reply, []byte("08P01")) {
				t.Fatalf("got %q, want an ErrorResponse with 08P01", reply)
			}
		})
	}
	// A message exactly at the limit is accepted (and refused by policy).
	conn := hijacked(t, w)
	prefix := "select 1 from patients where note = '"
	q := append([]byte(prefix), bytes.Repeat([]byte{'x'}, 4096-len(prefix)-2)...)
	q = append(q, '\'', 0)
	msg := appendMsg(nil, 'Q', q)
	conn.Write(msg)
	buf := make([]byte, 1024)
	n, _ := conn.Read(buf)
	if bytes.Contains(buf[:n], []byte("08P01")) {
		t.Fatalf("a message at exactly the limit was refused as a protocol violation: %q", buf[:n])
	}
	ensureUsable(t, bystander)
}

// hijacked logs in and returns the raw connection.
func hijacked(t testing.TB, w *world) net.Conn {
	t.Helper()
	pc, err := pgconn.Connect(context.Background(), w.dsn("tester", testPassword, "disable"))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	hc.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { hc.Conn.Close() })
	return hc.Conn
}

var _ sync.Mutex

func TestUpstreamTLSVerifyFull(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "pg.crt"), filepath.Join(dir, "pg.key")
	if err := WriteSelfSigned(cert, key); err != nil {
		t.Fatal(err)
	}
	tlsPG, err := pgcluster.Start(ctx, pgcluster.Options{CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsPG.Stop()
	if err := loadFixture(ctx, tlsPG); err != nil {
		t.Fatal(err)
	}
	up := func(c *Config) {
		c.Upstream = Upstream{Host: tlsPG.Host, Port: tlsPG.Port, User: "sandgate", Password: upPassword,
			SSLMode: "verify-full", SSLRootCert: cert}
	}
	w := newWorld(t, worldOpts{mutate: up})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	var ssl bool
	if err := c.QueryRow(ctx, "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("upstream connection is not TLS: %v, %v", ssl, err)
	}
	// A server whose certificate does not chain to the configured root is
	// refused.
	otherCert, otherKey := filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	if err := WriteSelfSigned(otherCert, otherKey); err != nil {
		t.Fatal(err)
	}
	bad := newWorld(t, worldOpts{mutate: func(c *Config) { up(c); c.Upstream.SSLRootCert = otherCert }})
	if _, err := pgx.Connect(ctx, bad.dsn("tester", testPassword, "disable")); pgCode(err) != "08001" {
		t.Fatalf("untrusted upstream certificate: got %v, want 08001", err)
	}
}

func TestStartupAndIdleTimeouts(t *testing.T) {
	// Separate gateways: a short start-up timeout could fail a slow SCRAM
	// login on a loaded machine.
	w := newWorld(t, worldOpts{mutate: func(c *Config) { c.StartupTimeout = 300 * time.Millisecond }})
	idle := newWorld(t, worldOpts{mutate: func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }})
	// A client that connects and never speaks is disconnected.
	raw, err := net.Dial("tcp", w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(raw); err != nil {
		t.Fatalf("silent client: got %v, want the gateway to close the connection", err)
	}
	// A logged-in client that goes idle gets 57P05 and is disconnected.
	conn := hijacked(t, idle)
	reply, _ := io.ReadAll(conn)
	if !bytes.Contains(reply, []byte("57P05")) {
		t.Fatalf("idle session: got %q, want an ErrorResponse with 57P05", reply)
	}
}

// TestTinkTransforms reads the fixture as sandbox clinician, whose rules use
// the pseudonymise transforms, in text and binary formats and through COPY.
func TestTinkTransforms(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("clinician", testPassword, "disable"))
	ctx := context.Background()
	const q = "select patient_id, nhs_number, mrn, dob, note, family_name from patients where patient_id = 1"
	var rows [][]string
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		var id int32
		var nhs, mrn, dob, family string
		var note *string
		if err := c.QueryRow(ctx, q, mode).Scan(&id, &nhs, &mrn, &dob, &note, &family); err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		if note != nil {
			t.Errorf("redact: got %q, want NULL", *note)
		}
		rows = append(rows, []string{nhs, mrn, dob, family})
	}
	if strings.Join(rows[0], "|") != strings.Join(rows[1], "|") {
		t.Fatalf("text and binary formats disagree: %q vs %q", rows[0], rows[1])
	}
	nhs, mrn, dob, family := rows[0][0], rows[0][1], rows[0][2], rows[0][3]
	if nhs == secretNHS || !synth.ValidNHSNumber(nhs) {
		t.Errorf("nhs_number: got %q, want a different valid NHS number", nhs)
	}
	if !strings.HasPrefix(mrn, "tok_") {
		t.Errorf("token: got %q", mrn)
	}
	shifted, err := time.Parse("2006-01-02", dob)
	if err != nil {
		t.Fatalf("date_shift: got %q: %v", dob, err)
	}
	if d := shifted.Sub(time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC)).Hours() / 24; d < -30 || d > 30 {
		t.Errorf("date_shift moved the date %v days, want within ±30", d)
	}
	if family == "" || family == secretFamily {
		t.Errorf("synthetic: got %q", family)
	}
	// date_shift needs its subject in the same result.
	var d string
	if err := c.QueryRow(ctx, "select dob from patients where patient_id = 1").Scan(&d); pgCode(err) != "42501" {
		t.Fatalf("date_shift without patient_id: got %v, want 42501", err)
	}
	// COPY applies the same transforms.
	var buf bytes.Buffer
	if _, err := c.PgConn().CopyTo(ctx, &buf, "COPY patients (patient_id, nhs_number, dob, note) TO STDOUT WITH (FORMAT csv)"); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("1,%q,%q,\n", nhs, dob); !strings.Contains(buf.String(), want) {
		t.Fatalf("COPY csv: got %q, want a line %q", buf.String(), want)
	}
}

// TestSyntheticSource connects a sandbox whose source is synthetic: it asks
// for database clinic, as a prototype would, and is served a generated
// dataset (provisioned on first use) with the same table names.
func TestSyntheticSource(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	w := newWorld(t, worldOpts{mutate: func(c *Config) {
		c.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	}})
	ctx := context.Background()
	c := connect(t, w.dsn("synthetic", testPassword, "disable"))
	rows, err := c.Query(ctx, "select p.nhs_number, o.unit from patients p join observations o using (patient_id) order by o.observation_id limit 5")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var nhs, unit string
		if err := rows.Scan(&nhs, &unit); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(nhs, "999") || !synth.ValidNHSNumber(nhs) || unit == "" {
			t.Errorf("synthetic row: nhs %q unit %q", nhs, unit)
		}
		n++
	}
	if rows.Err() != nil || n == 0 {
		t.Fatalf("got %d rows, %v", n, rows.Err())
	}
	// A second session (and the real sandbox) see their own databases.
	var count int64
	if err := connect(t, w.dsn("synthetic", testPassword, "disable")).QueryRow(ctx, "select count(patient_id) from patients").Scan(&count); err != nil || count != 25 {
		t.Fatalf("synthetic patients: got %d, %v; want 25", count, err)
	}
	ensureUsable(t, connect(t, w.dsn("tester", testPassword, "disable")))
	loaded := false
	for _, sp := range spans.GetSpans() {
		loaded = loaded || sp.Name == "sandgate.synth_load"
	}
	if !loaded {
		t.Error("no sandgate.synth_load span for the provisioning")
	}
}

// TestLookupByToken: a prototype that only ever holds tokens can look rows
// up by token; sandgate reveals the token before the statement goes
// upstream, in literals (simple protocol) and bound parameters (extended).
func TestLookupByToken(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("clinician", testPassword, "disable"))
	ctx := context.Background()
	var tok1, tok2 string
	if err := c.QueryRow(ctx, "select mrn from patients where patient_id = 1").Scan(&tok1); err != nil || !strings.HasPrefix(tok1, "tok_") {
		t.Fatalf("token: %q %v", tok1, err)
	}
	if err := c.QueryRow(ctx, "select mrn from patients where patient_id = 2").Scan(&tok2); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]pgx.QueryExecMode{"simple": pgx.QueryExecModeSimpleProtocol,
		"prepared": pgx.QueryExecModeCacheStatement, "exec": pgx.QueryExecModeExec} {
		var id int32
		if err := c.QueryRow(ctx, "select patient_id from patients where mrn = $1", mode, tok1).Scan(&id); err != nil || id != 1 {
			t.Errorf("%s: lookup by token: got %d, %v", name, id, err)
		}
		rows, err := c.Query(ctx, "select patient_id from patients where mrn in ($1, $2) order by patient_id", mode, tok1, tok2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(ids) != 2 {
			t.Errorf("%s: IN list of tokens: got %v, %v", name, ids, err)
		}
		var x int32
		err = c.QueryRow(ctx, "select patient_id from patients where mrn = $1", mode, "tok_notatoken").Scan(&x)
		if pgCode(err) != "42501" || !strings.Contains(err.Error(), "not a token") {
			t.Errorf("%s: a value that is not a token: got %v", name, err)
		}
	}
	// A column under another transform cannot be used in a condition.
	if _, err := c.Exec(ctx, "select patient_id from patients where nhs_number = '9434765919'"); pgCode(err) != "42501" {
		t.Fatalf("condition on an nhs_number column: got %v", err)
	}
	ensureUsableClinician(t, c)
}

func ensureUsableClinician(t *testing.T, c *pgx.Conn) {
	t.Helper()
	var id int32
	if err := c.QueryRow(context.Background(), "select patient_id from patients where patient_id = 3").Scan(&id); err != nil || id != 3 {
		t.Fatalf("connection not usable: %d %v", id, err)
	}
}

// TestNodePostgres runs node-postgres (npm `pg`, installed once into a cache
// directory) as a real client.
func TestNodePostgres(t *testing.T) {
	w := newWorld(t, worldOpts{})
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run make deps, or apt-get install nodejs npm")
	}
	dir := nodeModules(t)
	cmd := exec.Command(node, filepath.Join(dir, "client.js"))
	cmd.Env = append(os.Environ(), "DSN="+w.dsn("tester", testPassword, "disable"), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node-postgres: %v\n%s", err, out)
	}
	var got struct {
		Simple   []*string `json:"simple"`
		Extended string    `json:"extended"`
		Denied   string    `json:"denied"`
		After    int       `json:"after"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &got); err != nil {
		t.Fatalf("node-postgres output %q: %v", out, err)
	}
	if len(got.Simple) != 3 || got.Simple[0] == nil || !strings.HasPrefix(*got.Simple[0], "h_") || got.Simple[2] != nil {
		t.Errorf("simple query: %v", got.Simple)
	}
	if got.Extended != "Calder" || got.Denied != "42501" || got.After != 2 {
		t.Errorf("node-postgres: %+v", got)
	}
	if bytes.Contains(out, []byte(secretNHS)) {
		t.Error("a protected value reached node-postgres")
	}
}

// nodeModules installs testdata/nodepg's dependencies once, into a cache
// keyed on its package.json, and returns a directory with the client and
// its node_modules.
func nodeModules(t *testing.T) string {
	t.Helper()
	pkg, err := os.ReadFile("testdata/nodepg/package.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "sandgate", "nodepg-"+hex.EncodeToString(sum[:6]))
	client, _ := os.ReadFile("testdata/nodepg/client.js")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "client.js"), client, 0o644)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "pg")); err == nil {
		return dir
	}
	os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644)
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install pg (needs the npm registry): %v\n%s", err, out)
	}
	return dir
}

// TestPoolDropsDeadConnection: a pooled connection whose backend was
// terminated while it sat idle is not handed to the next session; that
// session gets a new one and works.
func TestPoolDropsDeadConnection(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	c1 := connect(t, w.dsn("tester", testPassword, "disable"))
	var pid int
	if err := c1.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	c1.Close(ctx)
	waitFor(t, func() bool { return w.srv.pool.idleCount() == 1 })
	if err := cluster.Exec(ctx, "postgres", fmt.Sprintf("select pg_terminate_backend(%d)", pid)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the backend's goodbye reaches the pooled socket
	c2 := connect(t, w.dsn("tester", testPassword, "disable"))
	ensureUsable(t, c2)
	if d := w.srv.pool.dials.Load(); d != 2 {
		t.Fatalf("%d dials, want 2: the dead pooled connection was reused", d)
	}
}
