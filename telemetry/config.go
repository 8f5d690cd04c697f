package telemetry

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Exporter names where spans or metrics go.
type Exporter string

// The exporters. The zero value exports nothing.
const (
	ExporterNone     Exporter = ""
	ExporterOTLPGRPC Exporter = "otlp-grpc"
	ExporterOTLPHTTP Exporter = "otlp-http"
	// ExporterFile writes spans as JSON, one per line, to Config.TraceFile:
	// for development. Not offered for metrics (use Prometheus).
	ExporterFile Exporter = "file"
)

// ErrInvalidConfig is wrapped by every ConfigError.
var ErrInvalidConfig = errors.New("invalid telemetry config")

// ConfigError is one invalid field.
type ConfigError struct {
	Field string
	Value any
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("telemetry %s %v: %v", e.Field, e.Value, e.Err)
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Config says how to build the providers. The zero value is usable:
// nothing is exported, spans are still created and sampled (so a parent
// propagates), and metrics are only kept if Prometheus is set.
type Config struct {
	// ServiceVersion is service.version; "" means "unknown".
	ServiceVersion string
	// InstanceID is service.instance.id; "" means a random one per process.
	InstanceID string

	// TraceExporter and MetricExporter choose the exporters.
	TraceExporter  Exporter
	MetricExporter Exporter
	// Endpoint is the collector's host:port; "" means the exporter's
	// default (localhost:4317 for gRPC, localhost:4318 for HTTP).
	Endpoint string
	// Insecure sends OTLP in plaintext: for a collector on loopback.
	Insecure bool
	// Headers are sent with every OTLP export (e.g. an API key).
	Headers map[string]string
	// TraceFile is where ExporterFile writes; it is created or appended to.
	TraceFile string

	// SampleRatio is the share of new traces sampled, 0 to 1, with the
	// parent's decision respected; nil means 1 (every trace).
	SampleRatio *float64
	// BatchTimeout bounds how long a span waits in the [Batcher] before
	// export when fewer than a batch (512) are queued; zero means 1 s.
	BatchTimeout time.Duration
	// MetricInterval is the OTLP metric export interval; zero means 30 s.
	MetricInterval time.Duration
	// Prometheus adds a Prometheus reader; Providers.Gatherer serves it.
	Prometheus bool

	// Logger receives exporter errors; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports every invalid field, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, msg string) {
		errs = append(errs, &ConfigError{Field: field, Value: v, Err: errors.New(msg)})
	}
	switch c.TraceExporter {
	case ExporterNone, ExporterOTLPGRPC, ExporterOTLPHTTP:
	case ExporterFile:
		if c.TraceFile == "" {
			bad("trace_file", `""`, "the file exporter needs a file")
		}
	default:
		bad("trace_exporter", c.TraceExporter, "want otlp-grpc, otlp-http, file or nothing")
	}
	switch c.MetricExporter {
	case ExporterNone, ExporterOTLPGRPC, ExporterOTLPHTTP:
	default:
		bad("metric_exporter", c.MetricExporter, "want otlp-grpc, otlp-http or nothing")
	}
	if r := c.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		bad("sample_ratio", *r, "want 0 to 1")
	}
	if c.BatchTimeout < 0 || c.MetricInterval < 0 {
		bad("interval", fmt.Sprint(c.BatchTimeout, " ", c.MetricInterval), "must not be negative")
	}
	return errors.Join(errs...)
}
