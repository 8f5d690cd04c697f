package telemetry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// receiver is a tiny OTLP collector: it keeps every span it decodes.
type receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu      sync.Mutex
	spans   []*tracepb.Span
	service string
	metrics int
}

func (r *receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.keep(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *receiver) keep(req *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
}

// ServeHTTP decodes OTLP/HTTP protobuf for traces and metrics.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var resp proto.Message
	switch req.URL.Path {
	case "/v1/traces":
		var m coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.keep(&m)
		resp = &coltracepb.ExportTraceServiceResponse{}
	case "/v1/metrics":
		var m colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.metrics += len(m.GetResourceMetrics())
		r.mu.Unlock()
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	default:
		http.NotFound(w, req)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// exportOneSpan sets up providers for cfg, makes one statement span and
// shuts down (which flushes).
func exportOneSpan(t *testing.T, cfg Config) {
	t.Helper()
	p, shutdown, err := Setup(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	statementSpan(t.Context(), p.Tracer)
	m, err := NewMetrics(p.Meter)
	if err != nil {
		t.Fatal(err)
	}
	m.Statement(t.Context(), "diabetes_dash", DecisionTransform, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func (r *receiver) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.spans) != 1 || r.service != ServiceName {
		t.Fatalf("got %d spans from %q, want 1 from %s", len(r.spans), r.service, ServiceName)
	}
	s := r.spans[0]
	text := ""
	for _, a := range s.GetAttributes() {
		if strings.Contains(a.GetValue().String(), raw) {
			t.Errorf("raw value in exported attribute %s", a.GetKey())
		}
		if a.GetKey() == "db.query.text" {
			text = a.GetValue().GetStringValue()
		}
	}
	if s.GetName() != "SELECT public.patients" || !strings.HasSuffix(text, "nhs_number = $1") {
		t.Fatalf("got span %q with query %q", s.GetName(), text)
	}
}

func TestOTLPGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	r := &receiver{}
	coltracepb.RegisterTraceServiceServer(srv, r)
	go srv.Serve(ln)
	defer srv.Stop()
	exportOneSpan(t, Config{TraceExporter: ExporterOTLPGRPC, Endpoint: ln.Addr().String(), Insecure: true})
	r.check(t)
}

func TestOTLPHTTP(t *testing.T) {
	r := &receiver{}
	srv := httptest.NewServer(r)
	defer srv.Close()
	exportOneSpan(t, Config{TraceExporter: ExporterOTLPHTTP, MetricExporter: ExporterOTLPHTTP,
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Insecure: true})
	r.check(t)
	if r.metrics == 0 {
		t.Error("got no metrics on shutdown, want the statement counter exported")
	}
}

func TestFileExporter(t *testing.T) {
	path := t.TempDir() + "/spans.jsonl"
	exportOneSpan(t, Config{TraceExporter: ExporterFile, TraceFile: path})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Name":"SELECT public.patients"`) || strings.Contains(string(b), raw) {
		t.Fatalf("got file %s, want the span, without the raw value", b)
	}
}
