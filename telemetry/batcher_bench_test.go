//go:build unix

package telemetry

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkSpanProcessors compares the per-span cost of the SDK's
// BatchSpanProcessor and Batcher, each feeding a no-op exporter, with spans
// started and ended from parallel goroutines. Besides ns/op (wall time per
// span) it reports cpu-ns/op, the process's user and system CPU per span,
// which includes the export goroutine's wake-ups, and ctxsw/op, the
// threads' voluntary context switches per span.
//
// "busy" ends spans back to back, so the SDK's export goroutine always has
// spans waiting and rarely sleeps. "paced" is closer to a gateway: 8
// sessions each end a span a millisecond (about 7000 a second in all, as
// pgbench -S), so the SDK's goroutine parks between spans and each span
// wakes it; compare cpu-ns/op there (ns/op is mostly the pause).
func BenchmarkSpanProcessors(b *testing.B) {
	processors := []struct {
		name string
		new  func(sdktrace.SpanExporter) sdktrace.SpanProcessor
	}{
		// none is the baseline: spans are made and ended, then forgotten.
		{"none", func(sdktrace.SpanExporter) sdktrace.SpanProcessor { return nopProcessor{} }},
		{"sdk", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor { return sdktrace.NewBatchSpanProcessor(e) }},
		{"batcher", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor { return NewBatcher(e, BatchConfig{}) }},
	}
	for _, load := range []struct {
		name     string
		pause    time.Duration
		sessions int // goroutines per GOMAXPROCS
	}{{"busy", 0, 1}, {"paced", time.Millisecond, 8 / runtime.GOMAXPROCS(0)}} {
		for _, p := range processors {
			b.Run(load.name+"/"+p.name, func(b *testing.B) {
				benchSpans(b, p.new(tracetest.NewNoopExporter()), load.pause, max(load.sessions, 1))
			})
		}
	}
}

func benchSpans(b *testing.B, sp sdktrace.SpanProcessor, pause time.Duration, sessions int) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("bench")
	b.ReportAllocs()
	b.SetParallelism(sessions)
	cpu, csw := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if pause > 0 {
				time.Sleep(pause)
			}
			_, span := tr.Start(ctx, "SELECT public.patients")
			span.End()
		}
	})
	b.StopTimer()
	cpu2, csw2 := processCPU()
	b.ReportMetric(float64(cpu2-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(csw2-csw)/float64(b.N), "ctxsw/op")
}

// processCPU is the user and system CPU time used so far by this process,
// and its threads' voluntary context switches (a thread parking, as an M
// does in futex sleep when its goroutines are idle).
func processCPU() (time.Duration, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), int64(ru.Nvcsw)
}

type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (nopProcessor) Shutdown(context.Context) error                  { return nil }
func (nopProcessor) ForceFlush(context.Context) error                { return nil }
