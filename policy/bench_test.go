package policy

import (
	"strconv"
	"testing"
)

// BenchmarkCheckStatementCached is the per-statement policy cost on the hot
// path: every pgbench -S statement has different literals, so the cache is
// keyed on the normalised text.
func BenchmarkCheckStatementCached(b *testing.B) {
	sb := testSandbox(b)
	sb.tables[relName{"public", "pgbench_accounts"}] = &table{columns: map[string]columnRule{"abalance": {rule: Allow}, "aid": {rule: Allow}}}
	qs := make([]string, 1024)
	for i := range qs {
		qs[i] = "SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(i*7919%100000) + ";"
	}
	if _, err := sb.CheckStatement(qs[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := sb.CheckStatement(qs[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkParseUncached(b *testing.B) {
	q := `SELECT p.patient_id, p.nhs_number, w.name
FROM patients p JOIN wards w ON w.ward_id = p.patient_id
WHERE p.patient_id > $1 AND w.name LIKE 'A%'
ORDER BY p.patient_id LIMIT 50`
	b.ReportAllocs()
	for b.Loop() {
		if an := parseAnalysis(q); an.parseErr != nil {
			b.Fatal(an.parseErr)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(testKey, "bench")
	v := []byte("9434765919")
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = h.sum(dst[:0], v)
	}
	if len(dst) != hashLen {
		b.Fatal(len(dst))
	}
}
