package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/propagation"
)

// StartupParamTraceparent is the PostgreSQL startup parameter that carries
// a W3C traceparent (and StartupParamTracestate its tracestate).
const (
	StartupParamTraceparent = "sandgate.traceparent"
	StartupParamTracestate  = "sandgate.tracestate"
)

// appNameMarker ends an application_name that carries a traceparent, as in
// "dashboard traceparent=00-…-…-01".
const appNameMarker = "traceparent="

// ExtractStartup returns ctx with the remote span context carried by a
// PostgreSQL client's startup parameters: sandgate.traceparent (with
// sandgate.tracestate), else an application_name ending in
// "traceparent=00-…". A missing or malformed traceparent leaves ctx as it
// is. It also returns application_name with the traceparent part removed,
// for recording.
func ExtractStartup(ctx context.Context, params map[string]string) (context.Context, string) {
	app := params["application_name"]
	carrier := propagation.MapCarrier{}
	if tp := params[StartupParamTraceparent]; tp != "" {
		carrier["traceparent"] = tp
		if ts := params[StartupParamTracestate]; ts != "" {
			carrier["tracestate"] = ts
		}
	}
	if i := strings.LastIndex(app, appNameMarker); i >= 0 {
		if carrier["traceparent"] == "" {
			carrier["traceparent"] = strings.TrimSpace(app[i+len(appNameMarker):])
		}
		app = strings.TrimRight(strings.TrimSpace(app[:i]), " ;,")
	}
	if len(carrier) == 0 {
		return ctx, app
	}
	return propagation.TraceContext{}.Extract(ctx, carrier), app
}

// ExtractHTTP returns ctx with the remote span context of an HTTP request's
// headers, by the W3C trace-context propagator.
func ExtractHTTP(ctx context.Context, h propagation.HeaderCarrier) context.Context {
	return propagation.TraceContext{}.Extract(ctx, h)
}

// InjectHTTP writes ctx's span context into outgoing HTTP headers.
func InjectHTTP(ctx context.Context, h propagation.HeaderCarrier) {
	propagation.TraceContext{}.Inject(ctx, h)
}
