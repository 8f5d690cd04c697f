package pgwire

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRowFilter: sandbox early_years sees only patients born before 1980
// (ids 1 and 2 of 3), whatever the statement, driver or protocol.
func TestRowFilter(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("early_years", testPassword, "disable"))
	ctx := context.Background()
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec}
	for _, mode := range modes {
		for q, want := range map[string]string{
			"select count(*) from patients":                                                    "2",
			"select string_agg(patient_id::text, ',' order by patient_id) from patients":       "1,2",
			"select count(*) from patients p join patients q on p.patient_id = q.patient_id":   "2",
			"select count(*) from (select patient_id from patients) t":                         "2",
			"select count(*) from patients where patient_id = 3":                               "0",
			"select max(patient_id) from public.patients where note is null or note = 'first'": "2",
			"with c as (select patient_id from patients) select count(*) from c":               "2",
			// The statement's own condition runs only over the filter's
			// rows: 1/0 on a hidden row would otherwise raise an error, a
			// yes/no oracle on rows the sandbox must not see.
			"select count(*) from patients where 1 / (case when patient_id = 3 then 0 else 1 end) = 1": "2",
		} {
			var got string
			if err := c.QueryRow(ctx, "select ("+q+")::text", mode).Scan(&got); err != nil || got != want {
				t.Errorf("mode %v: %s: got %q, %v; want %s", mode, q, got, err, want)
			}
		}
	}
	// lib/pq over the extended protocol, and psql over the simple one.
	db, err := sql.Open("postgres", w.dsn("early_years", testPassword, "disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("select count(*) from patients where dob < $1", "2100-01-01").Scan(&n); err != nil || n != 2 {
		t.Errorf("lib/pq: got %d, %v; want 2", n, err)
	}
	cmd := exec.Command(filepath.Join(cluster.BinDir, "psql"), "-X", "-A", "-t",
		"host=127.0.0.1 port="+w.port()+" user=early_years dbname=clinic sslmode=disable", "-c", "select patient_id from patients order by 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+testPassword)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1\n2" {
		t.Errorf("psql: got %q, %v", out, err)
	}
	// COPY of the whole table cannot carry the filter; COPY of a query can.
	var buf strings.Builder
	if _, err := c.PgConn().CopyTo(ctx, &buf, "copy patients to stdout"); pgCode(err) != "0A000" {
		t.Errorf("COPY of a filtered table: got %v, want 0A000", err)
	}
	if _, err := c.PgConn().CopyTo(ctx, &buf, "copy (select patient_id from patients order by 1) to stdout"); err != nil || buf.String() != "1\n2\n" {
		t.Errorf("COPY (query): got %q, %v", buf.String(), err)
	}
	if _, err := c.Exec(ctx, "update patients set note = 'x'"); pgCode(err) != "42501" {
		t.Errorf("write to a filtered table: got %v, want 42501", err)
	}
}

// TestWritesWhereThePolicyAllows: early_years may insert, update and delete
// notes, but only the columns its policy allows, and a constraint error
// keeps its SQLSTATE without the row's values.
func TestWritesWhereThePolicyAllows(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("early_years", testPassword, "disable"))
	ctx := context.Background()
	t.Cleanup(func() { cluster.Exec(context.Background(), "clinic", "DELETE FROM notes") })
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		id := 100 + i
		var got int
		if err := c.QueryRow(ctx, "insert into notes (note_id, patient_id, body) values ($1, 1, 'seen in clinic') returning note_id", mode, id).Scan(&got); err != nil || got != id {
			t.Fatalf("mode %v: insert: %d %v", mode, got, err)
		}
		tag, err := c.Exec(ctx, "update notes set body = 'reviewed' where note_id = $1", mode, id)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("mode %v: update: %v %v", mode, tag, err)
		}
		var body string
		if err := c.QueryRow(ctx, "select body from notes where note_id = $1", mode, id).Scan(&body); err != nil || body != "reviewed" {
			t.Fatalf("mode %v: read back: %q %v", mode, body, err)
		}
		_, err = c.Exec(ctx, "insert into notes (note_id, body) values ($1, 'twice')", mode, id)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" {
			t.Fatalf("mode %v: duplicate key: got %v, want SQLSTATE 23505", mode, err)
		}
		if strings.Contains(pe.Detail+pe.Message, "twice") || strings.Contains(pe.Detail, "(note_id)") {
			t.Errorf("mode %v: the server's error text reached the client: %+v", mode, pe)
		}
		for _, q := range []string{
			"insert into notes (note_id, author) values (1, 'me')",
			"insert into notes values (1, 1, 'x', 'me')",
			"update notes set author = 'me'",
			"insert into patients (patient_id) values (9)",
			"insert into notes (note_id, patient_id, body) select patient_id, patient_id, family_name from patients",
		} {
			if _, err := c.Exec(ctx, q, mode); pgCode(err) != "42501" {
				t.Errorf("mode %v: %s: got %v, want 42501", mode, q, err)
			}
		}
		if tag, err := c.Exec(ctx, "delete from notes where note_id = $1", mode, id); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("mode %v: delete: %v %v", mode, tag, err)
		}
	}
	var n int
	direct := connect(t, cluster.DSN("clinic"))
	if err := direct.QueryRow(ctx, "select count(*) from notes").Scan(&n); err != nil || n != 0 {
		t.Fatalf("notes left behind: %d %v", n, err)
	}
	// Another sandbox without a writes section stays read-only.
	o := connect(t, w.dsn("tester", testPassword, "disable"))
	if _, err := o.Exec(ctx, "insert into wards (ward_id, name) values (9, 'x')"); pgCode(err) != "42501" {
		t.Errorf("read-only sandbox wrote: %v", err)
	}
}

// TestUnsafeClientEncodingRefused: an encoding whose characters can hold a
// quote or backslash byte would let sandgate and the server read one
// statement differently; it is refused at start-up and by SET.
func TestUnsafeClientEncodingRefused(t *testing.T) {
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(w.dsn("tester", testPassword, "disable"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["client_encoding"] = "SJIS"
	_, err = pgx.ConnectConfig(ctx, cfg)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22023" || !strings.Contains(pe.Message, "client_encoding") {
		t.Fatalf("start-up with SJIS: got %v, want SQLSTATE 22023 naming client_encoding", err)
	}
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	if _, err := c.Exec(ctx, "set client_encoding = 'BIG5'"); pgCode(err) != "42501" {
		t.Fatalf("SET client_encoding BIG5: got %v", err)
	}
	if _, err := c.Exec(ctx, "set client_encoding = 'UTF8'"); err != nil {
		t.Fatalf("SET client_encoding UTF8: %v", err)
	}
	ensureUsable(t, c)
}
