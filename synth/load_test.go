package synth

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// integrityQueries must each return 0 after a load of the ehr spec.
var integrityQueries = map[string]string{
	"orphan encounters":           `select count(*) from encounters e left join patients p using (patient_id) where p.patient_id is null`,
	"orphan conditions":           `select count(*) from conditions c left join patients p using (patient_id) where p.patient_id is null`,
	"orphan observations":         `select count(*) from observations o left join patients p using (patient_id) where p.patient_id is null`,
	"orphan medications":          `select count(*) from medications m left join conditions c using (condition_id) where c.condition_id is null`,
	"medication patient mismatch": `select count(*) from medications m join conditions c using (condition_id) where c.patient_id <> m.patient_id`,
	"bad nhs numbers":             `select count(*) from patients where nhs_number !~ '^999[0-9]{7}$'`,
	"dated before birth":          `select count(*) from conditions c join patients p using (patient_id) where c.onset_date < p.date_of_birth`,
	"duplicate nhs":               `select count(*) - count(distinct nhs_number) from patients`,
}

func TestLoadEHR(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := newDB(t, ctx, "load_ehr")
	spec, err := Builtin("ehr")
	if err != nil {
		t.Fatal(err)
	}
	var calls, last int
	sum, err := Load(ctx, conn, spec, LoadOptions{Seed: 7, Rows: 3000, ProgressEvery: 1000,
		Progress: func(p Progress) { calls++; last = int(p.Slots) }})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last == 0 {
		t.Errorf("progress called %d times, last slots %d; want calls", calls, last)
	}
	for _, ts := range sum.Tables {
		var n int64
		if err := conn.QueryRow(ctx, "select count(*) from "+ts.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != ts.Rows || n == 0 {
			t.Errorf("table %s: got %d rows in the database, summary says %d", ts.Name, n, ts.Rows)
		}
	}
	if sum.Tables[0].Rows != 3000 {
		t.Errorf("patients: got %d rows, want 3000", sum.Tables[0].Rows)
	}
	for name, q := range integrityQueries {
		var n int64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n != 0 {
			t.Errorf("%s: got %d, want 0", name, n)
		}
	}
	var fks int
	if err := conn.QueryRow(ctx, `select count(*) from pg_constraint where contype = 'f'`).Scan(&fks); err != nil {
		t.Fatal(err)
	}
	if fks != 5 {
		t.Errorf("got %d foreign keys, want 5", fks)
	}
}

// TestLoadMatchesGenerator checks that what COPY stored is what the text
// generator emits: the binary path and the text path agree.
func TestLoadMatchesGenerator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := newDB(t, ctx, "load_match")
	spec, _ := Builtin("ehr")
	if _, err := Load(ctx, conn, spec, LoadOptions{Seed: 3, Rows: 50}); err != nil {
		t.Fatal(err)
	}
	g, _ := spec.GeneratorFor("patients", 3)
	g.Gen(41)
	var csv string
	err := conn.QueryRow(ctx, `select concat_ws(',', patient_id, nhs_number, given_name, family_name, sex,
		date_of_birth, address_line, town, postcode, phone, email, gp_practice, ethnicity) from patients where patient_id = 42`).Scan(&csv)
	if err != nil {
		t.Fatal(err)
	}
	if want := string(g.AppendCSV(nil)); csv+"\n" != want {
		t.Errorf("row 42: database has %q, generator gives %q", csv, want)
	}
	g, _ = spec.GeneratorFor("observations", 3)
	for s := int64(0); ; s++ {
		if g.Gen(s) {
			var v float64
			if err := conn.QueryRow(ctx, `select value from observations where observation_id = $1`, s+1).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if want := float64(g.Row().Observation.Value) / 10; v != want {
				t.Errorf("observation %d: got %v, want %v", s+1, v, want)
			}
			break
		}
	}
}

func TestLoadExistingTableFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := newDB(t, ctx, "load_twice")
	spec, _ := Builtin("ehr")
	if _, err := Load(ctx, conn, spec, LoadOptions{Rows: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, conn, spec, LoadOptions{Rows: 10}); err == nil {
		t.Fatal("second load without Drop: got nil error, want one")
	}
	if _, err := Load(ctx, conn, spec, LoadOptions{Rows: 20, Drop: true}); err != nil {
		t.Fatalf("load with Drop: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "select count(*) from patients").Scan(&n); err != nil || n != 20 {
		t.Fatalf("after reload: got %d patients (%v), want 20", n, err)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := newDB(t, ctx, "load_cancel")
	spec, _ := Builtin("ehr")
	lctx, lcancel := context.WithCancel(ctx)
	_, err := Load(lctx, conn, spec, LoadOptions{Rows: 100000, ProgressEvery: 1000,
		Progress: func(Progress) { lcancel() }})
	if err == nil {
		t.Fatal("cancelled load: got nil error")
	}
	conn2, err := pgx.Connect(ctx, cluster.DSN("load_cancel"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	var left bool
	if err := conn2.QueryRow(ctx, "select to_regclass('patients') is not null").Scan(&left); err != nil || left {
		t.Errorf("after a cancelled load: patients table left behind = %v (%v), want none", left, err)
	}
}
