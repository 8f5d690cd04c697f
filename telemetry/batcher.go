package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Batcher defaults. The batch size is the SDK's; the queue is eight times
// the SDK's 2048, so a collector that stalls for a second at a few thousand
// statements a second costs no spans; the timeout is shorter than the
// SDK's 5 s.
const (
	DefaultBatchSize     = 512
	DefaultQueueSize     = 16384
	DefaultBatchTimeout  = time.Second
	DefaultExportTimeout = 30 * time.Second
	// dropWarnEvery spaces out the "spans dropped" warnings.
	dropWarnEvery = 10 * time.Second
)

// BatchConfig tunes a [Batcher]. The zero value gives the defaults.
type BatchConfig struct {
	// BatchSize is the most spans per export call, and the pending count
	// that wakes the exporting goroutine early; zero means 512.
	BatchSize int
	// QueueSize is the most spans held before new ones are dropped; zero
	// means 16384. A BatchSize above it is lowered to it.
	QueueSize int
	// Timeout is the longest a span waits while fewer than BatchSize are
	// pending; zero means 1 s.
	Timeout time.Duration
	// ExportTimeout bounds each export call; zero means 30 s.
	ExportTimeout time.Duration
	// Logger receives the dropped-span warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Batcher is a span processor that exports sampled spans in batches, like
// the SDK's BatchSpanProcessor, but without a channel send per span. The
// SDK's processor hands every ended span to its export goroutine over a
// channel, so every statement wakes that goroutine (a scheduler wake-up,
// often a futex call across threads). Batcher's OnEnd appends to a slice
// under a mutex and wakes the goroutine only when a batch is full; a timer
// exports partial batches. When the queue is full, spans are dropped and
// counted ([Batcher.Dropped]), with a warning logged at most every 10 s.
//
// Unlike the SDK's processor it ignores the OTEL_BSP_* environment
// variables and never blocks the caller.
type Batcher struct {
	exp           sdktrace.SpanExporter
	batchSize     int
	queueSize     int
	timeout       time.Duration
	exportTimeout time.Duration
	log           *slog.Logger
	warnEvery     time.Duration // between drop warnings

	mu      sync.Mutex
	pending []sdktrace.ReadOnlySpan
	stopped bool

	// spare is the slice last exported, kept to swap in for pending. Only
	// the exporting side uses it: run, then finish after run has returned.
	spare []sdktrace.ReadOnlySpan

	dropped  atomic.Uint64
	lastWarn atomic.Int64 // unix nanoseconds of the last drop warning

	wake     chan struct{} // 1-buffered: a full batch is pending
	flushes  chan flushRequest
	stop     chan struct{} // closed by Shutdown
	done     chan struct{} // closed when run returns
	stopOnce sync.Once
}

var _ sdktrace.SpanProcessor = (*Batcher)(nil)

type flushRequest struct {
	ctx context.Context
	err chan error // 1-buffered
}

// NewBatcher starts a Batcher exporting to exp, which must not be nil.
// Call Shutdown to stop it.
func NewBatcher(exp sdktrace.SpanExporter, cfg BatchConfig) *Batcher {
	if exp == nil {
		panic("telemetry: NewBatcher with a nil exporter")
	}
	b := &Batcher{exp: exp, batchSize: cfg.BatchSize, queueSize: cfg.QueueSize,
		timeout: cfg.Timeout, exportTimeout: cfg.ExportTimeout, log: cfg.Logger, warnEvery: dropWarnEvery,
		wake: make(chan struct{}, 1), flushes: make(chan flushRequest),
		stop: make(chan struct{}), done: make(chan struct{})}
	if b.queueSize <= 0 {
		b.queueSize = DefaultQueueSize
	}
	if b.batchSize <= 0 {
		b.batchSize = DefaultBatchSize
	}
	b.batchSize = min(b.batchSize, b.queueSize)
	if b.timeout <= 0 {
		b.timeout = DefaultBatchTimeout
	}
	if b.exportTimeout <= 0 {
		b.exportTimeout = DefaultExportTimeout
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.pending = make([]sdktrace.ReadOnlySpan, 0, b.batchSize)
	b.spare = make([]sdktrace.ReadOnlySpan, 0, b.batchSize)
	go b.run()
	return b
}

// OnStart does nothing.
func (*Batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s for export if it is sampled. It never blocks on the
// exporter: a span that finds the queue full, or the Batcher shut down, is
// dropped.
func (b *Batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	if len(b.pending) >= b.queueSize {
		b.mu.Unlock()
		b.drop()
		return
	}
	b.pending = append(b.pending, s)
	full := len(b.pending) == b.batchSize
	b.mu.Unlock()
	if full {
		select {
		case b.wake <- struct{}{}:
		default: // already signalled
		}
	}
}

// Dropped is the number of sampled spans dropped because the queue was full.
func (b *Batcher) Dropped() uint64 { return b.dropped.Load() }

func (b *Batcher) drop() {
	n := b.dropped.Add(1)
	now := time.Now().UnixNano()
	last := b.lastWarn.Load()
	if last != 0 && now-last < int64(b.warnEvery) || !b.lastWarn.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("trace spans dropped: export queue full", "dropped_total", n, "queue_size", b.queueSize)
}

// ForceFlush exports every span queued before the call and returns when
// that is done or ctx ends. After Shutdown it does nothing.
func (b *Batcher) ForceFlush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := flushRequest{ctx: ctx, err: make(chan error, 1)}
	select {
	case b.flushes <- r:
	case <-b.done:
		return nil // Shutdown exports what is left
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops accepting spans, exports those queued and shuts the
// exporter down, returning early if ctx ends first. Calls after the first
// do nothing and return nil.
func (b *Batcher) Shutdown(ctx context.Context) error {
	var err error
	b.stopOnce.Do(func() {
		b.mu.Lock()
		b.stopped = true
		b.mu.Unlock()
		close(b.stop)
		errc := make(chan error, 1)
		go b.finish(ctx, errc)
		select {
		case err = <-errc:
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return err
}

// finish waits for run to return, then makes the last export and shuts
// the exporter down.
func (b *Batcher) finish(ctx context.Context, errc chan<- error) {
	<-b.done
	err := b.export(ctx)
	errc <- errors.Join(err, b.exp.Shutdown(ctx))
}

// run is the exporting goroutine: it exports when a batch fills, when the
// timer fires and when ForceFlush asks, until Shutdown.
func (b *Batcher) run() {
	defer close(b.done)
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case r := <-b.flushes:
			var err error
			if r.ctx.Err() == nil { // else leave the spans for the next export
				err = b.export(r.ctx)
			}
			r.err <- err
			continue
		case <-b.wake:
		case <-t.C:
		}
		if err := b.export(context.Background()); err != nil {
			otel.Handle(err)
		}
		t.Reset(b.timeout)
	}
}

// export takes every pending span and exports them in batches, each call
// bounded by the export timeout. Only run, or finish once run has
// returned, calls it, so exports never overlap.
func (b *Batcher) export(ctx context.Context) error {
	b.mu.Lock()
	spans := b.pending
	b.pending = b.spare[:0]
	b.mu.Unlock()
	var errs []error
	for rest := spans; len(rest) > 0; {
		n := min(len(rest), b.batchSize)
		if err := b.exportBatch(ctx, rest[:n]); err != nil {
			errs = append(errs, err)
		}
		rest = rest[n:]
	}
	clear(spans) // let the spans be collected
	b.spare = spans[:0]
	return errors.Join(errs...)
}

func (b *Batcher) exportBatch(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithTimeoutCause(ctx, b.exportTimeout, errors.New("span export timeout"))
	defer cancel()
	if err := b.exp.ExportSpans(ctx, spans); err != nil {
		return fmt.Errorf("export %d spans: %w", len(spans), err)
	}
	return nil
}
