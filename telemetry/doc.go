// Package telemetry sets up sandgate's OpenTelemetry SDK: a tracer
// provider and a meter provider built from [Config], with OTLP exporters
// (gRPC or HTTP) fed in batches by [Batcher] (a span processor that, unlike
// the SDK's, does not wake a goroutine per span), a JSON file exporter for
// development and a Prometheus endpoint on a loopback admin listener beside
// /healthz and /readyz. It also holds the shared vocabulary: semantic-convention attribute helpers
// for database and HTTP spans plus sandgate.* attributes, [NormaliseSQL],
// the [Metrics] instruments, and W3C trace-context extraction from
// PostgreSQL startup parameters.
//
// Nothing here records a raw value: statements go through [NormaliseSQL]
// (literals and comments replaced), parameters are never recorded, and
// metric attributes are limited to sandbox and decision.
//
// The package deliberately leaves out instrumenting the gateways (they use
// the OTel API with the providers passed in), the audit log (subpackage
// audit), setting the global providers (main decides; see
// [Providers.SetGlobal]) and logging pipelines.
package telemetry
