package pgwire

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/telemetry"
	"github.com/sandgate/sandgate/telemetry/audit"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkObserveStatement is what tracing, auditing and metrics cost per
// statement on the relay's hot path (finishStatement), one part at a time,
// with the exporters the gateway uses: OTLP/HTTP to a loopback receiver
// that discards, and the audit log with group commit in a temp dir. The
// export and the audit flush run on their own goroutines; with b.N large
// their CPU is inside ns/op.
func BenchmarkObserveStatement(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	st := &policy.Statement{Normalised: "SELECT abalance FROM pgbench_accounts WHERE aid = ?", Operation: "SELECT",
		Relations: []string{"public.pgbench_accounts"}}
	for _, tc := range []struct {
		name                   string
		traces, audit, metrics bool
	}{
		{"traces", true, false, false},
		{"audit", false, true, false},
		{"metrics", false, false, true},
		{"all", true, true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			var flush []func()
			cfg := Config{Policy: func() *policy.Set { return nil }, Logger: slog.New(slog.DiscardHandler)}
			if tc.traces {
				prov, shutdown, err := telemetry.Setup(ctx, telemetry.Config{TraceExporter: telemetry.ExporterOTLPHTTP,
					Endpoint: strings.TrimPrefix(sink.URL, "http://"), Insecure: true, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				flush = append(flush, func() { shutdown(ctx) })
				cfg.TracerProvider = prov.Tracer
			}
			if tc.audit {
				log, err := audit.Open(audit.Config{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				flush = append(flush, func() { log.Close() })
				cfg.Audit = log
			}
			if tc.metrics {
				m, err := telemetry.NewMetrics(metric.NewMeterProvider(metric.WithReader(metric.NewManualReader())))
				if err != nil {
					b.Fatal(err)
				}
				cfg.Metrics = m
			}
			srv, err := NewServer(cfg)
			if err != nil {
				b.Fatal(err)
			}
			sb := &policy.Sandbox{Name: "bencher"}
			s := &session{srv: srv, sandbox: sb, database: "bench", log: srv.log}
			sessCtx, span := srv.tracer.Start(ctx, "sandgate.session", trace.WithSpanKind(trace.SpanKindServer))
			p := &serverPump{s: s, sessCtx: sessCtx}
			b.ReportAllocs()
			cpu0 := processCPU()
			n := 0
			for b.Loop() {
				start := time.Now()
				p.finishStatement(&stmtRecord{start: start, st: st, rows: 1, decide: time.Microsecond, firstReply: start.Add(50 * time.Microsecond)})
				p.observeFinished()
				n++
			}
			span.End()
			for _, f := range flush {
				f() // exports and writes what is pending: its CPU counts too
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user+system CPU time in nanoseconds, all
// threads: the exporting goroutines included.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
