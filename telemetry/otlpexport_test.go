package telemetry

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps a deep copy of every
// upload, as a real client keeps the bytes it marshalled.
type captureClient struct {
	mu      sync.Mutex
	uploads [][]*tracepb.ResourceSpans
	stopped bool
}

func (c *captureClient) Start(context.Context) error { return nil }
func (c *captureClient) Stop(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	return nil
}

func (c *captureClient) UploadTraces(_ context.Context, rss []*tracepb.ResourceSpans) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("client stopped")
	}
	cp := make([]*tracepb.ResourceSpans, len(rss))
	for i, rs := range rss {
		cp[i] = proto.Clone(rs).(*tracepb.ResourceSpans)
	}
	c.uploads = append(c.uploads, cp)
	return nil
}

// canonical prints an upload as a collector decodes it, with its
// resources in a fixed order (the OTLP exporter's own conversion orders
// them by map iteration).
func canonical(t *testing.T, rss []*tracepb.ResourceSpans) string {
	t.Helper()
	out := make([]string, len(rss))
	for i, rs := range rss {
		wire, err := proto.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		var decoded tracepb.ResourceSpans
		if err := proto.Unmarshal(wire, &decoded); err != nil {
			t.Fatal(err)
		}
		if len(decoded.ProtoReflect().GetUnknown()) > 0 {
			t.Fatalf("upload %d has bytes a collector cannot place", i)
		}
		for _, ss := range decoded.ScopeSpans {
			if len(ss.ProtoReflect().GetUnknown()) > 0 {
				t.Fatalf("upload %d has bytes a collector cannot place", i)
			}
		}
		out[i] = prototext.MarshalOptions{Multiline: true}.Format(&decoded)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

func exportStubs(n int) []sdktrace.ReadOnlySpan {
	resA := resource.NewSchemaless(attribute.String("service.name", "sandgate"), attribute.Int("a", 1))
	resB := resource.NewSchemaless(attribute.String("service.name", "other"))
	scopeA := instrumentation.Scope{Name: "pgwire", Version: "1"}
	scopeB := instrumentation.Scope{Name: "egress", SchemaURL: "https://opentelemetry.io/schemas/1.26.0",
		Attributes: attribute.NewSet(attribute.Bool("x", true))}
	ts, _ := trace.ParseTraceState("vendor=value")
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2}, SpanID: trace.SpanID{3},
		TraceFlags: trace.FlagsSampled, Remote: true})
	start := time.Unix(1700000000, 123456789)
	var stubs tracetest.SpanStubs
	for i := range n {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, byte(i)}, SpanID: trace.SpanID{9, byte(i)},
			TraceFlags: trace.FlagsSampled})
		st := tracetest.SpanStub{
			Name: fmt.Sprintf("SELECT t%d", i%3), SpanContext: sc, SpanKind: trace.SpanKind(i % 6),
			StartTime: start.Add(time.Duration(i) * time.Millisecond), EndTime: start.Add(time.Duration(i)*time.Millisecond + 42*time.Microsecond),
			Attributes: []attribute.KeyValue{
				attribute.String("db.system.name", "postgresql"),
				attribute.String("db.query.text", fmt.Sprintf("SELECT * FROM t%d WHERE id = ?", i%3)),
				attribute.Int64("sandgate.rows", int64(i)),
				attribute.Bool("sandgate.flag", i%2 == 0),
				attribute.Float64("ratio", float64(i)/7),
				attribute.String("long", strings.Repeat("x", maxCachedString+i%3)),
				attribute.StringSlice("sandgate.columns", []string{"a", fmt.Sprint(i)}),
				attribute.Int64Slice("ints", []int64{1, int64(i)}),
				attribute.BoolSlice("bools", []bool{true, false}),
				attribute.Float64Slice("floats", []float64{0.5}),
			},
			Resource: resA, InstrumentationScope: scopeA,
		}
		switch i % 4 {
		case 1:
			st.Parent = parent
			st.SpanContext = sc.WithTraceState(ts)
			st.Status = sdktrace.Status{Code: codes.Error, Description: "denied by policy: rule"}
			st.Events = []sdktrace.Event{{Name: "ev", Time: start, Attributes: []attribute.KeyValue{attribute.Int("n", i)}, DroppedAttributeCount: 1}}
			st.Links = []sdktrace.Link{{SpanContext: parent, Attributes: []attribute.KeyValue{attribute.String("l", "v")}, DroppedAttributeCount: 2}}
			st.DroppedAttributes, st.DroppedEvents, st.DroppedLinks = 1, 2, 3
		case 2:
			st.InstrumentationScope = scopeB
			st.Status = sdktrace.Status{Code: codes.Ok}
			st.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, byte(i)}, SpanID: trace.SpanID{4}})
		case 3:
			st.Resource = resB
			st.Attributes = nil
		}
		stubs = append(stubs, st)
	}
	return stubs.Snapshots()
}

// exporterPair returns the OTLP exporter's own conversion and the
// encoder, each sending to its own capturing client.
func exporterPair(t *testing.T) (official, ours sdktrace.SpanExporter, want, got *captureClient) {
	t.Helper()
	want, got = &captureClient{}, &captureClient{}
	var err error
	if official, err = otlptrace.New(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if ours, err = newOTLPExporter(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	return official, ours, want, got
}

// TestOTLPExporterMatchesOTLPConversion checks that the slab exporter sends
// exactly the messages the OTLP exporter's own conversion sends, batch
// after batch (buffers and cache reused), including spans with every
// attribute type, events, links, statuses, remote parents and several
// resources and scopes.
func TestOTLPExporterMatchesOTLPConversion(t *testing.T) {
	ctx := context.Background()
	official, ours, want, got := exporterPair(t)
	batches := [][]sdktrace.ReadOnlySpan{exportStubs(9), exportStubs(40), exportStubs(3), nil, exportStubs(1)}
	// Enough distinct string attributes to overflow the attribute cache.
	big := exportStubs(maxKVCache/2 + 10)
	batches = append(batches, big, big)
	for i, b := range batches {
		if err := official.ExportSpans(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := ours.ExportSpans(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(got.uploads) != len(want.uploads) {
			t.Fatalf("batch %d: %d uploads, want %d", i, len(got.uploads), len(want.uploads))
		}
	}
	for i := range want.uploads {
		w, g := canonical(t, want.uploads[i]), canonical(t, got.uploads[i])
		if w != g {
			t.Fatalf("upload %d differs from the OTLP exporter's:\n got: %.3000s\nwant: %.3000s", i, g, w)
		}
	}
	if err := ours.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ours.ExportSpans(ctx, exportStubs(1)); err == nil {
		t.Fatal("export after shutdown succeeded")
	}
}

// statementStubs are spans shaped like the gateway's statement spans.
func statementStubs(n int) []sdktrace.ReadOnlySpan {
	res := resource.NewSchemaless(attribute.String("service.name", "sandgate"), attribute.String("service.version", "dev"))
	scope := instrumentation.Scope{Name: "github.com/sandgate/sandgate/gateway/pgwire"}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	start := time.Unix(1700000000, 0)
	stubs := make(tracetest.SpanStubs, n)
	for i := range stubs {
		stubs[i] = tracetest.SpanStub{Name: "SELECT public.pgbench_accounts", Parent: parent, SpanKind: trace.SpanKindServer,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{3, byte(i)}, TraceFlags: trace.FlagsSampled}),
			StartTime:   start, EndTime: start.Add(time.Duration(i) * time.Microsecond),
			Attributes: []attribute.KeyValue{attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", "SELECT"),
				attribute.String("db.collection.name", "public.pgbench_accounts"), attribute.String("db.namespace", "bench"),
				attribute.String("db.query.summary", "SELECT public.pgbench_accounts"),
				attribute.String("db.query.text", "SELECT abalance FROM pgbench_accounts WHERE aid = ?"),
				attribute.String("sandgate.sandbox", "bencher"), attribute.String("sandgate.decision", "allow"),
				attribute.Int64("sandgate.rows", 1), attribute.Int64("sandgate.decide_us", int64(i%7)),
				attribute.Int64("sandgate.upstream_us", int64(i)), attribute.Int64("sandgate.transform_us", 0)},
			Resource: res, InstrumentationScope: scope}
	}
	return stubs.Snapshots()
}

// TestOTLPExporterRepairsUTF8: an attribute, name or status holding
// invalid UTF-8 (the SDK accepts them; protobuf strings may not hold them)
// is sent with U+FFFD in its place, instead of failing the batch.
func TestOTLPExporterRepairsUTF8(t *testing.T) {
	ctx := context.Background()
	var got captureClient
	exp, err := newOTLPExporter(ctx, &got)
	if err != nil {
		t.Fatal(err)
	}
	st := tracetest.SpanStub{Name: "bad\xffname", Status: sdktrace.Status{Code: codes.Error, Description: "x\xfe"},
		Attributes: []attribute.KeyValue{attribute.String("s", "a\xffb"), attribute.StringSlice("ss", []string{"\xff"}),
			attribute.Int("k\xff", 1)}}
	if err := exp.ExportSpans(ctx, tracetest.SpanStubs{st}.Snapshots()); err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(got.uploads[0][0])
	if err != nil {
		t.Fatal(err)
	}
	var rs tracepb.ResourceSpans
	if err := proto.Unmarshal(wire, &rs); err != nil {
		t.Fatal(err)
	}
	sp := rs.ScopeSpans[0].Spans[0]
	attrs := sp.Attributes
	got3 := []string{sp.Name, sp.Status.Message, attrs[0].Value.GetStringValue(), attrs[1].Value.GetArrayValue().Values[0].GetStringValue(), attrs[2].Key}
	want3 := []string{"bad\uFFFDname", "x\uFFFD", "a\uFFFDb", "\uFFFD", "k\uFFFD"}
	if fmt.Sprint(got3) != fmt.Sprint(want3) {
		t.Fatalf("decoded %q, want %q", got3, want3)
	}
}

func BenchmarkOTLPConversion(b *testing.B) {
	ctx := context.Background()
	spans := statementStubs(512)
	for _, tc := range []struct {
		name string
		exp  func(otlptrace.Client) (sdktrace.SpanExporter, error)
	}{
		{"otlptrace", func(c otlptrace.Client) (sdktrace.SpanExporter, error) { return otlptrace.New(ctx, c) }},
		{"direct", func(c otlptrace.Client) (sdktrace.SpanExporter, error) { return newOTLPExporter(ctx, c) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			exp, err := tc.exp(marshalClient{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := exp.ExportSpans(ctx, spans); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(spans)), "ns/span")
		})
	}
}

// marshalClient marshals each upload, as the OTLP clients do, and drops it.
type marshalClient struct{}

func (marshalClient) Start(context.Context) error { return nil }
func (marshalClient) Stop(context.Context) error  { return nil }
func (marshalClient) UploadTraces(_ context.Context, rss []*tracepb.ResourceSpans) error {
	_, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: rss})
	return err
}

// FuzzOTLPExporterMatchesOTLPConversion: for spans built from arbitrary
// names, keys, strings and numbers, the hand-written encoder sends what
// the OTLP exporter's own conversion sends (strings that are not valid
// UTF-8, which that conversion cannot marshal, are compared after the
// repair the encoder makes).
func FuzzOTLPExporterMatchesOTLPConversion(f *testing.F) {
	f.Add("SELECT t", "db.query.text", "SELECT * FROM t WHERE id = ?", int64(0), 0.5, true, "ok")
	f.Add("", "", "", int64(-1), -0.0, false, "")
	f.Add("n\xff", "k\xfe", "v\xc3", int64(1<<62), 1e300, true, "denied by policy: rule")
	f.Fuzz(func(t *testing.T, name, key, value string, n int64, x float64, b bool, status string) {
		ctx := context.Background()
		official, ours, want, got := exporterPair(t)
		st := tracetest.SpanStub{Name: name, SpanKind: trace.SpanKind(n & 7),
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{byte(n)}, SpanID: trace.SpanID{byte(n >> 8)}}),
			StartTime:   time.Unix(0, n&(1<<60-1)), EndTime: time.Unix(0, n&(1<<61-1)),
			Attributes: []attribute.KeyValue{attribute.String(key, value), attribute.Int64(key+"n", n),
				attribute.Float64(key+"x", x), attribute.Bool(key+"b", b), attribute.StringSlice(key+"s", []string{value, name})},
			Status: sdktrace.Status{Code: codes.Code(uint32(n) % 3), Description: status}}
		spans := tracetest.SpanStubs{st, st}.Snapshots()
		if err := ours.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
		// The official path, on the same span with strings repaired.
		fixed := st
		fixed.Name, fixed.Status.Description = validUTF8(name), validUTF8(status)
		k, v, nm := validUTF8(key), validUTF8(value), validUTF8(name)
		fixed.Attributes = []attribute.KeyValue{attribute.String(k, v), attribute.Int64(k+"n", n),
			attribute.Float64(validUTF8(key+"x"), x), attribute.Bool(validUTF8(key+"b"), b), attribute.StringSlice(validUTF8(key+"s"), []string{v, nm})}
		fixed.Attributes[1].Key = attribute.Key(validUTF8(key + "n"))
		if err := official.ExportSpans(ctx, tracetest.SpanStubs{fixed, fixed}.Snapshots()); err != nil {
			t.Fatal(err)
		}
		if w, g := canonical(t, want.uploads[0]), canonical(t, got.uploads[0]); w != g {
			t.Fatalf("differs from the OTLP exporter's:\n got: %s\nwant: %s", g, w)
		}
	})
}
