package synth

import (
	"context"
	"testing"
	"time"
)

// benchGen generates rows of one ehr table as CSV into a reused buffer and
// reports rows per second (per core: the benchmark is single-threaded).
func benchGen(b *testing.B, table string) {
	spec, _ := Builtin("ehr")
	g, _ := spec.GeneratorFor(table, 1)
	buf := make([]byte, 0, 4096)
	var slot, rows int64
	b.ReportAllocs()
	for b.Loop() {
		if g.Gen(slot) {
			buf = g.AppendCSV(buf[:0])
			rows++
		}
		slot++
	}
	if rows == 0 || len(buf) == 0 {
		b.Fatal("no rows generated")
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkGeneratePatients(b *testing.B)     { benchGen(b, "patients") }
func BenchmarkGenerateObservations(b *testing.B) { benchGen(b, "observations") }
func BenchmarkGenerateConditions(b *testing.B)   { benchGen(b, "conditions") }

// BenchmarkLoad loads the whole ehr dataset into the test cluster and
// reports rows loaded per second across all tables.
func BenchmarkLoad(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn := newDB(b, ctx, "bench_load")
	spec, _ := Builtin("ehr")
	var rows int64
	b.ReportAllocs()
	for b.Loop() {
		sum, err := Load(ctx, conn, spec, LoadOptions{Seed: 1, Rows: 20000, Drop: true})
		if err != nil {
			b.Fatal(err)
		}
		rows += sum.Rows()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
