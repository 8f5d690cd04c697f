package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ServiceName is service.name on every span and metric.
const ServiceName = "sandgate"

// Providers are the SDK providers built by Setup.
type Providers struct {
	Tracer *sdktrace.TracerProvider
	Meter  *sdkmetric.MeterProvider
	// Propagator is W3C trace context and baggage.
	Propagator propagation.TextMapPropagator
	// Gatherer serves /metrics when Config.Prometheus is set; else nil.
	Gatherer prometheus.Gatherer
	// Resource describes this process.
	Resource *resource.Resource
	// Batcher queues the Tracer's sampled spans for the trace exporter
	// (its Dropped counts spans lost to a full queue); nil when nothing
	// is exported.
	Batcher *Batcher
}

// SetGlobal installs the providers and propagator as OTel's globals.
func (p *Providers) SetGlobal() {
	otel.SetTracerProvider(p.Tracer)
	otel.SetMeterProvider(p.Meter)
	otel.SetTextMapPropagator(p.Propagator)
}

// Setup builds the providers from cfg. The shutdown function flushes and
// stops them (and closes a trace file); call it once, with a deadline. On
// error, whatever was built is shut down.
func Setup(ctx context.Context, cfg Config) (*Providers, func(context.Context) error, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	res, err := newResource(cfg)
	if err != nil {
		return nil, nil, err
	}
	var closers []func(context.Context) error
	shutdown := func(ctx context.Context) error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i](ctx))
		}
		return errors.Join(errs...)
	}
	tp, batcher, closeTrace, err := newTracerProvider(ctx, cfg, res)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, closeTrace)
	mp, gatherer, err := newMeterProvider(ctx, cfg, res)
	if err != nil {
		return nil, nil, errors.Join(err, shutdown(ctx))
	}
	closers = append(closers, mp.Shutdown)
	p := &Providers{Tracer: tp, Meter: mp, Gatherer: gatherer, Resource: res, Batcher: batcher,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	logger(cfg).Info("telemetry set up", "traces", string(cfg.TraceExporter), "metrics", string(cfg.MetricExporter), "prometheus", cfg.Prometheus)
	return p, shutdown, nil
}

func newResource(cfg Config) (*resource.Resource, error) {
	version, id := cfg.ServiceVersion, cfg.InstanceID
	if version == "" {
		version = "unknown"
	}
	if id == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		host, _ := os.Hostname()
		id = host + "-" + hex.EncodeToString(b[:])
	}
	own := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(ServiceName), semconv.ServiceVersion(version), semconv.ServiceInstanceID(id))
	res, err := resource.Merge(resource.Default(), own)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

func logger(cfg Config) *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.Default()
}

func newTracerProvider(ctx context.Context, cfg Config, res *resource.Resource) (*sdktrace.TracerProvider, *Batcher, func(context.Context) error, error) {
	ratio := 1.0
	if cfg.SampleRatio != nil {
		ratio = *cfg.SampleRatio
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))}
	exp, closeFile, err := newSpanExporter(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	var b *Batcher
	if exp != nil {
		// Not sdktrace.WithBatcher: see Batcher for why.
		b = NewBatcher(exp, BatchConfig{Timeout: cfg.BatchTimeout, Logger: logger(cfg)})
		opts = append(opts, sdktrace.WithSpanProcessor(b))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, b, func(ctx context.Context) error { return errors.Join(tp.Shutdown(ctx), closeFile()) }, nil
}

func newSpanExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, func() error, error) {
	noClose := func() error { return nil }
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.TraceExporter {
	case ExporterNone:
		return nil, noClose, nil
	case ExporterOTLPGRPC:
		exp, err = newOTLPExporter(ctx, otlptracegrpc.NewClient(grpcTraceOptions(cfg)...))
	case ExporterOTLPHTTP:
		exp, err = newOTLPExporter(ctx, otlptracehttp.NewClient(httpTraceOptions(cfg)...))
	case ExporterFile:
		f, ferr := os.OpenFile(cfg.TraceFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if ferr != nil {
			return nil, nil, fmt.Errorf("trace file: %w", ferr)
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			f.Close()
		}
		return exp, f.Close, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trace exporter %s: %w", cfg.TraceExporter, err)
	}
	return exp, noClose, nil
}

func grpcTraceOptions(cfg Config) []otlptracegrpc.Option {
	var o []otlptracegrpc.Option
	if cfg.Endpoint != "" {
		o = append(o, otlptracegrpc.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Insecure {
		o = append(o, otlptracegrpc.WithInsecure())
	}
	if len(cfg.Headers) > 0 {
		o = append(o, otlptracegrpc.WithHeaders(cfg.Headers))
	}
	return o
}

func httpTraceOptions(cfg Config) []otlptracehttp.Option {
	var o []otlptracehttp.Option
	if cfg.Endpoint != "" {
		o = append(o, otlptracehttp.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Insecure {
		o = append(o, otlptracehttp.WithInsecure())
	}
	if len(cfg.Headers) > 0 {
		o = append(o, otlptracehttp.WithHeaders(cfg.Headers))
	}
	return o
}

func newMeterProvider(ctx context.Context, cfg Config, res *resource.Resource) (*sdkmetric.MeterProvider, prometheus.Gatherer, error) {
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	var gatherer prometheus.Gatherer
	if cfg.Prometheus {
		reg := prometheus.NewRegistry()
		r, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, nil, fmt.Errorf("prometheus exporter: %w", err)
		}
		opts, gatherer = append(opts, sdkmetric.WithReader(r)), reg
	}
	exp, err := newMetricExporter(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if exp != nil {
		var ro []sdkmetric.PeriodicReaderOption
		if cfg.MetricInterval > 0 {
			ro = append(ro, sdkmetric.WithInterval(cfg.MetricInterval))
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ro...)))
	}
	return sdkmetric.NewMeterProvider(opts...), gatherer, nil
}

func newMetricExporter(ctx context.Context, cfg Config) (sdkmetric.Exporter, error) {
	var exp sdkmetric.Exporter
	var err error
	switch cfg.MetricExporter {
	case ExporterNone:
		return nil, nil
	case ExporterOTLPGRPC:
		var o []otlpmetricgrpc.Option
		if cfg.Endpoint != "" {
			o = append(o, otlpmetricgrpc.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			o = append(o, otlpmetricgrpc.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			o = append(o, otlpmetricgrpc.WithHeaders(cfg.Headers))
		}
		exp, err = otlpmetricgrpc.New(ctx, o...)
	case ExporterOTLPHTTP:
		var o []otlpmetrichttp.Option
		if cfg.Endpoint != "" {
			o = append(o, otlpmetrichttp.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			o = append(o, otlpmetrichttp.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			o = append(o, otlpmetrichttp.WithHeaders(cfg.Headers))
		}
		exp, err = otlpmetrichttp.New(ctx, o...)
	}
	if err != nil {
		return nil, fmt.Errorf("metric exporter %s: %w", cfg.MetricExporter, err)
	}
	return exp, nil
}
