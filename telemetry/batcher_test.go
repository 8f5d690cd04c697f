package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recorder is an exporter that keeps the name of every span exported and
// the size of every batch. If gate is set, each export first waits for it
// (or ctx), after saying so on entered.
type recorder struct {
	gate    chan struct{}
	entered chan struct{}
	err     error

	mu        sync.Mutex
	names     []string
	batches   []int
	shutdowns int
}

var _ sdktrace.SpanExporter = (*recorder)(nil)

func (r *recorder) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if r.gate != nil {
		select {
		case r.entered <- struct{}{}:
		default:
		}
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range spans {
		r.names = append(r.names, s.Name())
	}
	r.batches = append(r.batches, len(spans))
	return r.err
}

func (r *recorder) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shutdowns++
	return nil
}

func (r *recorder) exported() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.names)
}

// waitExported polls until at least n spans are exported; the deadline is
// generous for a slow machine, and only reached on failure.
func (r *recorder) waitExported(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.exported() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d spans exported, want %d", r.exported(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOnce fails unless each of want was exported exactly once, and
// nothing else was.
func (r *recorder) checkOnce(t *testing.T, want []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]int{}
	for _, n := range r.names {
		seen[n]++
	}
	for _, n := range want {
		if seen[n] != 1 {
			t.Errorf("span %s: got %d exports, want 1", n, seen[n])
		}
		delete(seen, n)
	}
	if len(seen) != 0 {
		t.Errorf("got %d unexpected spans exported", len(seen))
	}
}

func endSpans(tp trace.TracerProvider, prefix string, n int) []string {
	names := make([]string, n)
	tr := tp.Tracer("test")
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		_, span := tr.Start(context.Background(), names[i])
		span.End()
	}
	return names
}

// endedSpan is a real ended span, made by another provider, for calling
// OnEnd directly.
func endedSpan(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	endSpans(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), name, 1)
	return rec.Ended()[0]
}

func shutdownOK(t *testing.T, b *Batcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestBatcherExportsEverySpanOnce(t *testing.T) {
	exp := &recorder{}
	b := NewBatcher(exp, BatchConfig{BatchSize: 64})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	const goroutines, perGoroutine = 16, 500
	run := func(round string) []string {
		var mu sync.Mutex
		var all []string
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				names := endSpans(tp, fmt.Sprintf("%s-g%d", round, g), perGoroutine)
				mu.Lock()
				all = append(all, names...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return all
	}
	want := run("flush")
	if err := b.ForceFlush(t.Context()); err != nil {
		t.Fatalf("force flush: %v", err)
	}
	exp.checkOnce(t, want)
	want = append(want, run("shutdown")...)
	shutdownOK(t, b)
	exp.checkOnce(t, want)
	for _, n := range exp.batches {
		if n > 64 {
			t.Errorf("got a batch of %d, want at most 64", n)
		}
	}
	if b.Dropped() != 0 {
		t.Errorf("got %d dropped, want 0", b.Dropped())
	}
}

func TestBatcherUnsampled(t *testing.T) {
	exp := &recorder{}
	b := NewBatcher(exp, BatchConfig{})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b), sdktrace.WithSampler(sdktrace.NeverSample()))
	endSpans(tp, "unsampled", 3)
	shutdownOK(t, b)
	if n := exp.exported(); n != 0 {
		t.Fatalf("got %d spans exported, want 0", n)
	}
}

func TestBatcherBatchSizeTriggersExport(t *testing.T) {
	exp := &recorder{}
	b := NewBatcher(exp, BatchConfig{BatchSize: 10, Timeout: time.Hour})
	defer shutdownOK(t, b)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	// Each full batch is exported long before the timeout. (Spans ended
	// while an export is starting may be taken with it, so the test waits
	// for each batch before ending the next.)
	want := endSpans(tp, "first", 10)
	exp.waitExported(t, 10)
	want = append(want, endSpans(tp, "second", 10)...)
	exp.waitExported(t, 20)
	want = append(want, endSpans(tp, "partial", 5)...)
	if err := b.ForceFlush(t.Context()); err != nil {
		t.Fatalf("force flush: %v", err)
	}
	exp.checkOnce(t, want)
	for _, n := range exp.batches {
		if n > 10 {
			t.Errorf("got a batch of %d, want at most 10", n)
		}
	}
}

func TestBatcherTimeoutExportsPartialBatch(t *testing.T) {
	exp := &recorder{}
	b := NewBatcher(exp, BatchConfig{Timeout: 10 * time.Millisecond})
	defer shutdownOK(t, b)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	want := endSpans(tp, "partial", 3)
	exp.waitExported(t, 3)
	exp.checkOnce(t, want)
}

// countingHandler counts warnings.
type countingHandler struct {
	mu    sync.Mutex
	warns []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level == slog.LevelWarn {
		h.warns = append(h.warns, r.Message)
	}
	return nil
}

func TestBatcherQueueFullDrops(t *testing.T) {
	exp := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	logs := &countingHandler{}
	b := NewBatcher(exp, BatchConfig{BatchSize: 2, QueueSize: 4, Timeout: time.Hour, Logger: slog.New(logs)})
	b.warnEvery = time.Hour // one warning however slow the machine
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))

	want := endSpans(tp, "first", 2) // a full batch: the export blocks
	<-exp.entered
	want = append(want, endSpans(tp, "queued", 4)...) // fills the queue
	endSpans(tp, "dropped", 3)
	if got := b.Dropped(); got != 3 {
		t.Errorf("got %d dropped, want 3", got)
	}
	logs.mu.Lock()
	if len(logs.warns) != 1 {
		t.Errorf("got warnings %q, want one", logs.warns)
	}
	logs.mu.Unlock()

	close(exp.gate)
	shutdownOK(t, b)
	exp.checkOnce(t, want)
}

func TestBatcherForceFlushHonoursContext(t *testing.T) {
	exp := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := NewBatcher(exp, BatchConfig{BatchSize: 1, Timeout: time.Hour})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	endSpans(tp, "stuck", 1)
	<-exp.entered
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := b.ForceFlush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want %v", err, context.DeadlineExceeded)
	}
	close(exp.gate)
	shutdownOK(t, b)
}

func TestBatcherForceFlushReturnsExportError(t *testing.T) {
	exp := &recorder{err: errors.New("collector says no")}
	b := NewBatcher(exp, BatchConfig{Timeout: time.Hour})
	defer b.Shutdown(context.Background())
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	endSpans(tp, "refused", 1)
	if err := b.ForceFlush(t.Context()); !errors.Is(err, exp.err) {
		t.Fatalf("got %v, want %v", err, exp.err)
	}
}

func TestBatcherShutdown(t *testing.T) {
	exp := &recorder{}
	b := NewBatcher(exp, BatchConfig{Timeout: time.Hour})
	b.OnEnd(endedSpan(t, "before"))
	shutdownOK(t, b)
	shutdownOK(t, b) // idempotent
	b.OnEnd(endedSpan(t, "after"))
	if err := b.ForceFlush(t.Context()); err != nil {
		t.Errorf("force flush after shutdown: got %v, want nil", err)
	}
	exp.checkOnce(t, []string{"before-0"})
	if exp.shutdowns != 1 {
		t.Errorf("got %d exporter shutdowns, want 1", exp.shutdowns)
	}
	if b.Dropped() != 0 {
		t.Errorf("got %d dropped, want 0 (after shutdown is not a drop)", b.Dropped())
	}
}

func TestSetupBatcher(t *testing.T) {
	p, shutdown, err := Setup(t.Context(), Config{TraceExporter: ExporterFile, TraceFile: t.TempDir() + "/spans.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	if p.Batcher == nil {
		t.Error("got no Batcher with a trace exporter")
	}
	p, shutdown, err = Setup(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	if p.Batcher != nil {
		t.Error("got a Batcher without a trace exporter")
	}
}
