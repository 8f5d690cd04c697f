package telemetry

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// statementSpan makes the span a gateway would for one statement.
func statementSpan(ctx context.Context, tp trace.TracerProvider) {
	st := Statement{SQL: "SELECT nhs_number FROM public.patients WHERE nhs_number = '" + raw + "'",
		Operation: "select", Relations: []string{"public.patients"}, Database: "clinic"}
	_, span := tp.Tracer("test").Start(ctx, SpanName(st), trace.WithSpanKind(trace.SpanKindClient))
	span.SetAttributes(DBAttributes(st)...)
	span.SetAttributes(Sandbox("diabetes_dash"), User("dr_example"), Decision(DecisionTransform),
		RuleIDs("patients.nhs_number"), ColumnsTransformed("public.patients.nhs_number=hash"), RowsReturned(3), Bytes(240))
	span.End()
}

func TestStatementSpanAttributes(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	statementSpan(t.Context(), tp)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "SELECT public.patients" {
		t.Errorf("got name %q, want %q", s.Name(), "SELECT public.patients")
	}
	got := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value.Emit()
	}
	want := map[attribute.Key]string{
		"db.system.name": "postgresql", "db.namespace": "clinic", "db.operation.name": "SELECT",
		"db.collection.name": "public.patients", "db.query.summary": "SELECT public.patients",
		"db.query.text":    "SELECT nhs_number FROM public.patients WHERE nhs_number = $1",
		"sandgate.sandbox": "diabetes_dash", "sandgate.decision": "transform", "sandgate.rows_returned": "3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if strings.Contains(v, raw) {
			t.Errorf("raw value in attribute %s=%q", k, v)
		}
	}
}

func TestHTTPAttributes(t *testing.T) {
	kv := HTTPAttributes("GET", "api.example.org", 443)
	if len(kv) != 3 || kv[0].Key != "http.request.method" || kv[1].Value.AsString() != "api.example.org" || kv[2].Value.AsInt64() != 443 {
		t.Fatalf("got %v", kv)
	}
}

func TestExtractStartup(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name    string
		params  map[string]string
		wantApp string
		valid   bool
	}{
		{"startup parameter", map[string]string{StartupParamTraceparent: tp, "application_name": "dash"}, "dash", true},
		{"application_name suffix", map[string]string{"application_name": "dash traceparent=" + tp}, "dash", true},
		{"application_name only", map[string]string{"application_name": "traceparent=" + tp}, "", true},
		{"malformed", map[string]string{"application_name": "dash traceparent=00-zz"}, "dash", false},
		{"none", map[string]string{"application_name": "psql"}, "psql", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, app := ExtractStartup(t.Context(), tc.params)
			sc := trace.SpanContextFromContext(ctx)
			if app != tc.wantApp || sc.IsValid() != tc.valid {
				t.Fatalf("got app %q valid %v, want %q %v", app, sc.IsValid(), tc.wantApp, tc.valid)
			}
			if tc.valid && (sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsRemote() || !sc.IsSampled()) {
				t.Fatalf("got span context %+v", sc)
			}
		})
	}
}

func TestHTTPPropagationRoundTrip(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, span := tp.Tracer("t").Start(t.Context(), "client")
	h := propagation.HeaderCarrier{}
	InjectHTTP(ctx, h)
	span.End()
	got := trace.SpanContextFromContext(ExtractHTTP(context.Background(), h))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("got %v, want %v", got, span.SpanContext())
	}
}

func TestConfigValidate(t *testing.T) {
	bad := 2.0
	err := Config{TraceExporter: "zipkin", MetricExporter: ExporterFile, SampleRatio: &bad}.Validate()
	if err == nil {
		t.Fatal("got nil, want three problems")
	}
	for _, f := range []string{"trace_exporter", "metric_exporter", "sample_ratio"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("got %v, want %s named", err, f)
		}
	}
	if err := (Config{TraceExporter: ExporterFile}).Validate(); err == nil {
		t.Error("file exporter without a file: got nil error")
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: got %v", err)
	}
}

func BenchmarkStatementSpanBatch(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(NewBatcher(tracetest.NewNoopExporter(), BatchConfig{})))
	defer tp.Shutdown(context.Background())
	st := Statement{Normalised: "SELECT nhs_number FROM public.patients WHERE nhs_number = $1",
		Operation: "SELECT", Relations: []string{"public.patients"}, Database: "clinic"}
	tr := tp.Tracer("bench")
	ctx := context.Background()
	b.ReportAllocs()
	var sc trace.SpanContext
	for b.Loop() {
		_, span := tr.Start(ctx, SpanName(st))
		span.SetAttributes(DBAttributes(st)...)
		span.SetAttributes(Sandbox("diabetes_dash"), Decision(DecisionTransform), RowsReturned(3))
		sc = span.SpanContext()
		span.End()
	}
	if !sc.IsValid() {
		b.Fatal("no span")
	}
}
