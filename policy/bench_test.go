package policy

import (
	"strconv"
	"strings"
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

// BenchmarkCheckStatementUncached is parse + decide for a statement the
// cache has not seen: every iteration renames the CTE, so the normalised
// text differs.
func BenchmarkCheckStatementUncached(b *testing.B) {
	set, err := Compile(Options{HashKey: testKey}, Source{Name: "b.yaml", Data: []byte(`
version: 1
sandboxes:
  - name: bench
    database: clinic
    password_verifier: "` + testVerifier + `"
    tables:
      observations: {patient_id: allow, code: allow, value: allow, effective_time: allow}
      patients: {patient_id: allow, nhs_number: hash, sex: allow, date_of_birth: allow}
      conditions: {patient_id: allow, code: allow}
`)})
	if err != nil {
		b.Fatal(err)
	}
	sb := set.Sandbox("bench")
	if _, err := sb.CheckStatement(benchQuery); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := strings.ReplaceAll(benchQuery, "recent", "recent"+strconv.Itoa(i))
		if _, err := sb.CheckStatement(q); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkParseUncached(b *testing.B) {
	q := benchQuery
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

// benchQuery is a typical 20-line prototype query.
const benchQuery = `WITH recent AS (
    SELECT o.patient_id, o.code, o.value, o.effective_time
    FROM observations o
    WHERE o.effective_time > now() - interval '90 days'
      AND o.code IN ('4548-4', '8480-6', '39156-5')
)
SELECT p.patient_id,
       p.nhs_number,
       p.sex,
       date_part('year', age(p.date_of_birth)) AS age,
       r.code,
       r.value,
       r.effective_time
FROM patients p
JOIN recent r ON r.patient_id = p.patient_id
LEFT JOIN conditions c ON c.patient_id = p.patient_id AND c.code = '44054006'
WHERE p.sex = $1
  AND r.value > $2
ORDER BY r.effective_time DESC
LIMIT 100`
