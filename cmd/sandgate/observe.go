package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sandgate/sandgate/telemetry"
	"github.com/sandgate/sandgate/telemetry/audit"
)

// observability is the wired telemetry: providers, metrics, audit log and
// the admin listener, with one function to close them all.
type observability struct {
	providers *telemetry.Providers
	metrics   *telemetry.Metrics
	audit     *audit.Log
	lag       *lagTracker
	admin     *http.Server
	shutdown  func(context.Context) error
	// tracing: spans go somewhere; metering: metrics are read (exported or
	// served). Without them the SQL hot path skips building either.
	tracing, metering bool
}

func newObservability(ctx context.Context, cfg Config) (*observability, error) {
	tc := cfg.Telemetry
	none := func(s string) telemetry.Exporter {
		if s == "none" {
			return telemetry.ExporterNone
		}
		return telemetry.Exporter(s)
	}
	prov, shutdown, err := telemetry.Setup(ctx, telemetry.Config{ServiceVersion: version,
		TraceExporter: none(tc.Traces), MetricExporter: none(tc.Metrics), Endpoint: tc.Endpoint,
		Insecure: tc.Insecure, TraceFile: cfg.path(tc.TraceFile), SampleRatio: tc.SampleRatio,
		Prometheus: tc.AdminListen != ""})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	o := &observability{providers: prov, shutdown: shutdown,
		tracing:  tc.Traces != "" && tc.Traces != "none",
		metering: (tc.Metrics != "" && tc.Metrics != "none") || tc.AdminListen != ""}
	if o.metrics, err = telemetry.NewMetrics(prov.Meter); err != nil {
		shutdown(ctx)
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if cfg.Audit.Dir != "" {
		o.lag = &lagTracker{hist: o.metrics}
		ac := audit.Config{Dir: cfg.path(cfg.Audit.Dir), MaxFileBytes: cfg.Audit.MaxFileBytes, OnDurable: o.lag.durable,
			GroupWindow: duration(cfg.Audit.GroupWindow)}
		if cfg.Audit.Durability == "fsync" {
			ac.Durability = audit.SyncEach
		}
		if o.audit, err = audit.Open(ac); err != nil {
			shutdown(ctx)
			return nil, fmt.Errorf("open audit log: %w", err)
		}
	}
	if tc.AdminListen != "" {
		o.admin = telemetry.NewAdminServer(telemetry.AdminConfig{Addr: tc.AdminListen, Gatherer: prov.Gatherer})
		ln, err := net.Listen("tcp", tc.AdminListen)
		if err != nil {
			o.close(ctx)
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		go func() {
			if err := o.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("admin listener stopped", "err", err)
			}
		}()
	}
	return o, nil
}

// close flushes and closes everything, in the order that loses nothing.
func (o *observability) close(ctx context.Context) error {
	var errs []error
	if o.admin != nil {
		errs = append(errs, o.admin.Shutdown(ctx))
	}
	if o.audit != nil {
		errs = append(errs, o.audit.Close())
	}
	errs = append(errs, o.shutdown(ctx))
	return errors.Join(errs...)
}

// auditor returns the audit log as the gateways' interface (recording the
// write lag of each record), nil when off.
func (o *observability) auditor() auditAppender {
	if o.audit == nil {
		return nil
	}
	return trackedLog{log: o.audit, lag: o.lag}
}

type auditAppender interface {
	Append(context.Context, audit.Record) error
}

// trackedLog notes when each record was appended, so the lag to its fsync
// can be measured.
type trackedLog struct {
	log *audit.Log
	lag *lagTracker
}

func (t trackedLog) Append(ctx context.Context, rec audit.Record) error {
	seq, err := t.log.AppendSeq(ctx, rec)
	if err == nil {
		t.lag.appended(seq)
	}
	return err
}

// lagTracker measures the audit write lag: from Append to the fsync that
// made the record durable.
type lagTracker struct {
	hist *telemetry.Metrics
	mu   sync.Mutex
	q    []lagEntry
}

type lagEntry struct {
	seq uint64
	at  time.Time
}

const maxLagEntries = 1 << 16

func (l *lagTracker) appended(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) >= maxLagEntries {
		l.q = l.q[1:] // a stalled disk: keep the newest
	}
	l.q = append(l.q, lagEntry{seq: seq, at: time.Now()})
}

// durable is the log's OnDurable callback.
func (l *lagTracker) durable(seq uint64) {
	now := time.Now()
	l.mu.Lock()
	i := 0
	for i < len(l.q) && l.q[i].seq <= seq {
		l.hist.AuditWriteLag.Record(context.Background(), now.Sub(l.q[i].at).Seconds())
		i++
	}
	l.q = append(l.q[:0], l.q[i:]...)
	l.mu.Unlock()
}
