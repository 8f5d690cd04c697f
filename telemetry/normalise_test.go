package telemetry

import (
	"strings"
	"testing"
)

// raw is a valid-looking NHS number: it must never appear in telemetry.
const raw = "9434765919"

func TestNormaliseSQL(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"where literal", "SELECT * FROM patients WHERE nhs_number = '" + raw + "'", "SELECT * FROM patients WHERE nhs_number = $1"},
		{"comments", "SELECT 1 /* " + raw + " */ -- " + raw + "\nFROM t", "SELECT $1 FROM t"},
		{"many kinds", "SELECT " + raw + ", E'" + raw + "', $$" + raw + "$$, B'101', 1.5e3, ARRAY[" + raw + "]", "SELECT $1, $2, $3, $4, $5, ARRAY[$6]"},
		{"prepare", "PREPARE p AS SELECT " + raw + "; EXECUTE p('" + raw + "')", "PREPARE p AS SELECT ?; EXECUTE p(?)"},
		{"ddl", "CREATE TABLE x (a bigint DEFAULT " + raw + ")", "CREATE TABLE x (a bigint DEFAULT ?)"},
		{"set", "SET application_name = '" + raw + "'", "SET application_name = $1"},
		{"typed", "SELECT interval '" + raw + " days', date '2020-01-01'", "SELECT interval $1, date $2"},
		{"parameters stay", "SELECT * FROM t WHERE a = $1", "SELECT * FROM t WHERE a = $1"},
		{"unterminated", "SELECT '" + raw, Unparsable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NormaliseSQL(tc.in)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if strings.Contains(got, raw) {
				t.Errorf("raw value in %q", got)
			}
		})
	}
}

func BenchmarkNormaliseSQL(b *testing.B) {
	q := "SELECT patient_id, nhs_number FROM public.patients WHERE nhs_number = '" + raw + "' AND date_of_birth > '1970-01-01'"
	b.ReportAllocs()
	var out string
	for b.Loop() {
		out = NormaliseSQL(q)
	}
	if strings.Contains(out, raw) {
		b.Fatal(out)
	}
}
