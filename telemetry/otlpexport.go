package telemetry

import (
	"context"
	"fmt"
	"math"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// maxKVCache bounds the converted attributes kept between exports.
const maxKVCache = 4096

// otlpExporter sends spans through an OpenTelemetry OTLP client
// (otlptracegrpc or otlptracehttp, which own the transport: TLS, headers,
// compression, retries) and does the conversion to OTLP messages itself.
// It produces the same messages as the OTLP exporters' own conversion
// (otlptrace.Exporter), which allocates every attribute, value and span
// afresh: three objects per attribute, about forty per statement span,
// which with the garbage collection they cause was a third of what tracing
// cost per statement. Here the messages come from slabs reused from one
// export to the next, and the string and boolean attributes that recur
// (statement shape, sandbox, decision) are converted once and shared.
//
// The client marshals each request before UploadTraces returns and keeps
// no reference to it, so reusing the slabs after it returns is safe.
type otlpExporter struct {
	client otlptrace.Client

	mu     sync.Mutex // one export at a time: the slabs are shared
	slab   slab
	kvs    map[attribute.KeyValue]*commonpb.KeyValue
	res    map[attribute.Distinct]*resourcepb.Resource
	scopes map[instrumentation.Scope]*commonpb.InstrumentationScope

	stopOnce sync.Once
}

var _ sdktrace.SpanExporter = (*otlpExporter)(nil)

// newOTLPExporter starts client and returns an exporter sending through it.
func newOTLPExporter(ctx context.Context, client otlptrace.Client) (*otlpExporter, error) {
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start OTLP trace client: %w", err)
	}
	return &otlpExporter{client: client,
		kvs:    make(map[attribute.KeyValue]*commonpb.KeyValue),
		res:    make(map[attribute.Distinct]*resourcepb.Resource),
		scopes: make(map[instrumentation.Scope]*commonpb.InstrumentationScope)}, nil
}

// ExportSpans converts spans and uploads them in one request.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rss := e.convert(spans)
	if len(rss) == 0 {
		return nil
	}
	if err := e.client.UploadTraces(ctx, rss); err != nil {
		return fmt.Errorf("traces export: %w", err)
	}
	return nil
}

// Shutdown stops the client; later exports fail.
func (e *otlpExporter) Shutdown(ctx context.Context) error {
	err := error(nil)
	e.stopOnce.Do(func() { err = e.client.Stop(ctx) })
	return err
}

// slab holds the messages of one export, reused by the next. Messages are
// handed out by index after ensure has grown every slice for the batch, so
// no slice moves while pointers into it are live.
type slab struct {
	spans    []tracepb.Span
	statuses []tracepb.Status
	kvs      []commonpb.KeyValue
	kvPtrs   []*commonpb.KeyValue
	values   []commonpb.AnyValue
	ints     []commonpb.AnyValue_IntValue
	doubles  []commonpb.AnyValue_DoubleValue
	ids      []byte

	nSpan, nKV, nValue, nInt, nDouble, nID int
}

// grow returns s with length n, reallocated only when too short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// reset sizes the slab for spans holding attrs attributes in all.
func (s *slab) reset(spans, attrs int) {
	s.spans, s.statuses = grow(s.spans, spans), grow(s.statuses, spans)
	s.kvs, s.kvPtrs, s.values = grow(s.kvs, attrs), grow(s.kvPtrs, attrs), grow(s.values, attrs)
	s.ints, s.doubles = grow(s.ints, attrs), grow(s.doubles, attrs)
	s.ids = grow(s.ids, spans*(16+8+8))
	s.nSpan, s.nKV, s.nValue, s.nInt, s.nDouble, s.nID = 0, 0, 0, 0, 0, 0
}

func (s *slab) id(b []byte) []byte {
	out := s.ids[s.nID : s.nID+len(b) : s.nID+len(b)]
	copy(out, b)
	s.nID += len(b)
	return out
}

// scopeKey groups spans as OTLP does: by resource, then scope.
type scopeKey struct {
	res   attribute.Distinct
	scope instrumentation.Scope
}

func (e *otlpExporter) convert(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	attrs := 0
	for _, sd := range spans {
		if sd != nil {
			attrs += len(sd.Attributes())
		}
	}
	e.slab.reset(len(spans), attrs)
	var rss []*tracepb.ResourceSpans
	var keys []scopeKey
	var groups []*tracepb.ScopeSpans
	var owners []*tracepb.ResourceSpans
	for _, sd := range spans {
		if sd == nil {
			continue
		}
		k := scopeKey{res: sd.Resource().Equivalent(), scope: sd.InstrumentationScope()}
		g := -1
		for i := range keys {
			if keys[i] == k {
				g = i
				break
			}
		}
		if g < 0 {
			var rs *tracepb.ResourceSpans
			for i := range keys {
				if keys[i].res == k.res {
					rs = owners[i]
					break
				}
			}
			if rs == nil {
				rs = &tracepb.ResourceSpans{Resource: e.resource(sd), SchemaUrl: sd.Resource().SchemaURL()}
				rss = append(rss, rs)
			}
			ss := &tracepb.ScopeSpans{Scope: e.scope(k.scope), SchemaUrl: k.scope.SchemaURL, Spans: []*tracepb.Span{}}
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
			keys, groups, owners = append(keys, k), append(groups, ss), append(owners, rs)
			g = len(keys) - 1
		}
		groups[g].Spans = append(groups[g].Spans, e.span(sd))
	}
	return rss
}

func (e *otlpExporter) resource(sd sdktrace.ReadOnlySpan) *resourcepb.Resource {
	r := sd.Resource()
	if r == nil {
		return nil
	}
	k := r.Equivalent()
	if p, ok := e.res[k]; ok {
		return p
	}
	p := &resourcepb.Resource{Attributes: heapKeyValues(r.Attributes())}
	e.res[k] = p
	return p
}

func (e *otlpExporter) scope(sc instrumentation.Scope) *commonpb.InstrumentationScope {
	if sc == (instrumentation.Scope{}) {
		return nil
	}
	if p, ok := e.scopes[sc]; ok {
		return p
	}
	p := &commonpb.InstrumentationScope{Name: sc.Name, Version: sc.Version,
		Attributes: heapKeyValues(sc.Attributes.ToSlice())}
	e.scopes[sc] = p
	return p
}

func (e *otlpExporter) span(sd sdktrace.ReadOnlySpan) *tracepb.Span {
	s := &e.slab
	sc := sd.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	st := sd.Status()
	status := &s.statuses[s.nSpan]
	*status = tracepb.Status{Code: statusCode(st.Code), Message: st.Description}
	p := &s.spans[s.nSpan]
	*p = tracepb.Span{
		TraceId:                s.id(tid[:]),
		SpanId:                 s.id(sid[:]),
		TraceState:             sc.TraceState().String(),
		Status:                 status,
		StartTimeUnixNano:      uint64(max(0, sd.StartTime().UnixNano())),
		EndTimeUnixNano:        uint64(max(0, sd.EndTime().UnixNano())),
		Links:                  heapLinks(sd.Links()),
		Kind:                   spanKind(sd.SpanKind()),
		Name:                   sd.Name(),
		Attributes:             e.keyValues(sd.Attributes()),
		Events:                 heapEvents(sd.Events()),
		DroppedAttributesCount: clampUint32(sd.DroppedAttributes()),
		DroppedEventsCount:     clampUint32(sd.DroppedEvents()),
		DroppedLinksCount:      clampUint32(sd.DroppedLinks()),
	}
	parent := sd.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		p.ParentSpanId = s.id(psid[:])
	}
	p.Flags = spanFlags(sc.TraceFlags(), parent)
	s.nSpan++
	return p
}

// keyValues converts a span's attributes into the slab: recurring string
// and boolean attributes from the cache, numbers into slab values, the
// rare compound values onto the heap.
func (e *otlpExporter) keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	s := &e.slab
	out := s.kvPtrs[s.nKV : s.nKV : s.nKV+len(attrs)]
	for _, kv := range attrs {
		switch kv.Value.Type() {
		case attribute.STRING, attribute.BOOL:
			out = append(out, e.cached(kv))
			continue
		}
		v := &s.values[s.nValue]
		s.nValue++
		switch kv.Value.Type() {
		case attribute.INT64:
			w := &s.ints[s.nInt]
			s.nInt++
			w.IntValue = kv.Value.AsInt64()
			*v = commonpb.AnyValue{Value: w}
		case attribute.FLOAT64:
			w := &s.doubles[s.nDouble]
			s.nDouble++
			w.DoubleValue = kv.Value.AsFloat64()
			*v = commonpb.AnyValue{Value: w}
		default:
			*v = commonpb.AnyValue{Value: heapValue(kv.Value).Value}
		}
		p := &s.kvs[s.nKV+len(out)]
		*p = commonpb.KeyValue{Key: string(kv.Key), Value: v}
		out = append(out, p)
	}
	s.nKV += len(out)
	return out
}

// cached returns the shared message of a string or boolean attribute.
func (e *otlpExporter) cached(kv attribute.KeyValue) *commonpb.KeyValue {
	if p, ok := e.kvs[kv]; ok {
		return p
	}
	p := heapKeyValue(kv)
	if len(e.kvs) >= maxKVCache {
		clear(e.kvs)
	}
	e.kvs[kv] = p
	return p
}

// The conversions below allocate; they serve resources, scopes, events,
// links and compound attribute values, which are rare or cached.

func heapKeyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, len(attrs))
	for i, kv := range attrs {
		out[i] = heapKeyValue(kv)
	}
	return out
}

func heapKeyValue(kv attribute.KeyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: string(kv.Key), Value: heapValue(kv.Value)}
}

func heapValue(v attribute.Value) *commonpb.AnyValue {
	av := new(commonpb.AnyValue)
	switch v.Type() {
	case attribute.BOOL:
		av.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}
	case attribute.INT64:
		av.Value = &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}
	case attribute.FLOAT64:
		av.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}
	case attribute.STRING:
		av.Value = &commonpb.AnyValue_StringValue{StringValue: v.AsString()}
	case attribute.BYTESLICE:
		av.Value = &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}
	case attribute.BOOLSLICE:
		av.Value = arrayValue(v.AsBoolSlice(), func(b bool) attribute.Value { return attribute.BoolValue(b) })
	case attribute.INT64SLICE:
		av.Value = arrayValue(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		av.Value = arrayValue(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		av.Value = arrayValue(v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		av.Value = arrayValue(v.AsSlice(), func(x attribute.Value) attribute.Value { return x })
	case attribute.MAP:
		av.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: heapKeyValues(v.AsMap())}}
	case attribute.EMPTY:
	default:
		av.Value = &commonpb.AnyValue_StringValue{StringValue: "INVALID"}
	}
	return av
}

func arrayValue[T any](vals []T, conv func(T) attribute.Value) *commonpb.AnyValue_ArrayValue {
	out := make([]*commonpb.AnyValue, len(vals))
	for i, x := range vals {
		out[i] = heapValue(conv(x))
	}
	return &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: out}}
}

func heapEvents(es []sdktrace.Event) []*tracepb.Span_Event {
	if len(es) == 0 {
		return nil
	}
	out := make([]*tracepb.Span_Event, len(es))
	for i, ev := range es {
		out[i] = &tracepb.Span_Event{Name: ev.Name, TimeUnixNano: uint64(max(0, ev.Time.UnixNano())),
			Attributes: heapKeyValues(ev.Attributes), DroppedAttributesCount: clampUint32(ev.DroppedAttributeCount)}
	}
	return out
}

func heapLinks(ls []sdktrace.Link) []*tracepb.Span_Link {
	if len(ls) == 0 {
		return nil
	}
	out := make([]*tracepb.Span_Link, len(ls))
	for i, l := range ls {
		tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		out[i] = &tracepb.Span_Link{TraceId: tid[:], SpanId: sid[:],
			Attributes: heapKeyValues(l.Attributes), DroppedAttributesCount: clampUint32(l.DroppedAttributeCount),
			Flags: spanFlags(l.SpanContext.TraceFlags(), l.SpanContext)}
	}
	return out
}

// spanFlags is OTLP's flags field: the W3C trace flags, plus whether the
// parent is known to be remote.
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	flags := uint32(tf) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if parent.IsRemote() {
		flags |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	return flags
}

func clampUint32(v int) uint32 {
	return uint32(min(max(v, 0), math.MaxUint32))
}

func statusCode(c codes.Code) tracepb.Status_StatusCode {
	switch c {
	case codes.Ok:
		return tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		return tracepb.Status_STATUS_CODE_ERROR
	}
	return tracepb.Status_STATUS_CODE_UNSET
}

func spanKind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}
