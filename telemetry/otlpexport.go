package telemetry

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// maxKVCache bounds the encoded attributes kept between exports, and
// maxCachedString the length of a string attribute that is cached.
const (
	maxKVCache      = 4096
	maxCachedString = 2048
)

// otlpExporter sends spans through an OpenTelemetry OTLP client
// (otlptracegrpc or otlptracehttp, which own the transport: TLS, headers,
// compression, retries, partial-success handling) and encodes the spans
// itself. The OTLP exporters' own path (otlptrace.Exporter) builds a tree
// of messages per span, three per attribute, about forty objects for a
// statement span, which protobuf then walks by reflection to marshal: with
// the garbage collection it caused, that was half of what tracing cost per
// statement. Here each span is written straight into protobuf wire format
// in a buffer reused from one export to the next, with the string and
// boolean attributes that recur (statement shape, sandbox, decision)
// encoded once and copied.
//
// The encoded spans travel as the raw bytes of their ScopeSpans' repeated
// spans field (the message's unknown fields, which protobuf marshals
// verbatim): on the wire that is exactly a ScopeSpans holding those spans,
// so the collector decodes them as such. The client marshals the request
// before UploadTraces returns and keeps no reference to it, so the buffer
// is free again when it returns.
type otlpExporter struct {
	client otlptrace.Client

	mu      sync.Mutex // one export at a time: the buffers are shared
	buf     []byte     // encoded spans, each a ScopeSpans.spans field
	scratch []byte     // one span's body while it is encoded
	ranges  []spanRange
	kvs     map[attribute.KeyValue][]byte // encoded Span.attributes fields
	res     map[attribute.Distinct]*resourcepb.Resource
	scopes  map[instrumentation.Scope]*commonpb.InstrumentationScope

	stopOnce sync.Once
}

var _ sdktrace.SpanExporter = (*otlpExporter)(nil)

// newOTLPExporter starts client and returns an exporter sending through it.
func newOTLPExporter(ctx context.Context, client otlptrace.Client) (*otlpExporter, error) {
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start OTLP trace client: %w", err)
	}
	return &otlpExporter{client: client,
		kvs:    make(map[attribute.KeyValue][]byte),
		res:    make(map[attribute.Distinct]*resourcepb.Resource),
		scopes: make(map[instrumentation.Scope]*commonpb.InstrumentationScope)}, nil
}

// ExportSpans encodes spans and uploads them in one request.
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

// scopeKey groups spans as OTLP does: by resource, then scope.
type scopeKey struct {
	res   attribute.Distinct
	scope instrumentation.Scope
}

// spanRange is where one encoded span lies in buf, and its group.
type spanRange struct{ group, start, end int }

func (e *otlpExporter) convert(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	e.buf, e.ranges = e.buf[:0], e.ranges[:0]
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
			ss := &tracepb.ScopeSpans{Scope: e.scope(k.scope), SchemaUrl: k.scope.SchemaURL}
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
			keys, groups, owners = append(keys, k), append(groups, ss), append(owners, rs)
			g = len(keys) - 1
		}
		start := len(e.buf)
		e.scratch = e.appendSpan(e.scratch[:0], sd)
		e.buf = protowire.AppendTag(e.buf, 2, protowire.BytesType) // ScopeSpans.spans
		e.buf = protowire.AppendBytes(e.buf, e.scratch)
		e.ranges = append(e.ranges, spanRange{g, start, len(e.buf)})
	}
	if len(groups) == 1 {
		groups[0].ProtoReflect().SetUnknown(e.buf)
		return rss
	}
	// Spans of several scopes interleave in buf: gather each scope's.
	for g, ss := range groups {
		var raw []byte
		for _, r := range e.ranges {
			if r.group == g {
				raw = append(raw, e.buf[r.start:r.end]...)
			}
		}
		ss.ProtoReflect().SetUnknown(raw)
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

// Field numbers of opentelemetry.proto.trace.v1.Span.
const (
	spanTraceID      = 1
	spanSpanID       = 2
	spanTraceState   = 3
	spanParentSpanID = 4
	spanName         = 5
	spanKindField    = 6
	spanStart        = 7
	spanEnd          = 8
	spanAttributes   = 9
	spanDroppedAttrs = 10
	spanEvents       = 11
	spanDroppedEvs   = 12
	spanLinks        = 13
	spanDroppedLinks = 14
	spanStatus       = 15
	spanFlagsField   = 16
)

// appendSpan appends the body of sd's Span message, fields in number
// order and proto3 zero values left out, as protobuf itself writes them.
func (e *otlpExporter) appendSpan(b []byte, sd sdktrace.ReadOnlySpan) []byte {
	sc := sd.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytesField(b, spanTraceID, tid[:])
	b = appendBytesField(b, spanSpanID, sid[:])
	if ts := sc.TraceState(); ts.Len() > 0 {
		b = appendStringField(b, spanTraceState, ts.String())
	}
	parent := sd.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendBytesField(b, spanParentSpanID, psid[:])
	}
	b = appendStringField(b, spanName, validUTF8(sd.Name()))
	b = appendVarintField(b, spanKindField, uint64(spanKind(sd.SpanKind())))
	b = appendFixed64Field(b, spanStart, uint64(max(0, sd.StartTime().UnixNano())))
	b = appendFixed64Field(b, spanEnd, uint64(max(0, sd.EndTime().UnixNano())))
	for _, kv := range sd.Attributes() {
		b = e.appendAttribute(b, kv)
	}
	b = appendVarintField(b, spanDroppedAttrs, uint64(clampUint32(sd.DroppedAttributes())))
	for _, ev := range heapEvents(sd.Events()) {
		b = appendMessageField(b, spanEvents, ev)
	}
	b = appendVarintField(b, spanDroppedEvs, uint64(clampUint32(sd.DroppedEvents())))
	for _, l := range heapLinks(sd.Links()) {
		b = appendMessageField(b, spanLinks, l)
	}
	b = appendVarintField(b, spanDroppedLinks, uint64(clampUint32(sd.DroppedLinks())))
	// Status is always present, as the OTLP exporters send it: code
	// (field 3) and message (field 2).
	st := sd.Status()
	st.Description = validUTF8(st.Description)
	code := uint64(statusCode(st.Code))
	size := 0
	if st.Description != "" {
		size += protowire.SizeTag(2) + protowire.SizeBytes(len(st.Description))
	}
	if code != 0 {
		size += protowire.SizeTag(3) + protowire.SizeVarint(code)
	}
	b = protowire.AppendTag(b, spanStatus, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = appendStringField(b, 2, st.Description)
	b = appendVarintField(b, 3, code)
	if f := spanFlags(sc.TraceFlags(), parent); f != 0 {
		b = protowire.AppendTag(b, spanFlagsField, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, f)
	}
	return b
}

// appendAttribute appends one Span.attributes field: a KeyValue whose
// value is an AnyValue. Strings and booleans come from the cache.
func (e *otlpExporter) appendAttribute(b []byte, kv attribute.KeyValue) []byte {
	switch kv.Value.Type() {
	case attribute.STRING, attribute.BOOL:
		if kv.Value.Type() == attribute.STRING && len(kv.Value.AsString()) > maxCachedString {
			// AnyValue.string_value (field 1), not cached: the cache's
			// memory stays bounded by maxKVCache × maxCachedString.
			v := validUTF8(kv.Value.AsString())
			anySize := protowire.SizeTag(1) + protowire.SizeBytes(len(v))
			b = appendKeyValueHead(b, validUTF8(string(kv.Key)), anySize)
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			return protowire.AppendString(b, v)
		}
		enc, ok := e.kvs[kv]
		if !ok {
			enc = appendMessageField(nil, spanAttributes, heapKeyValue(kv))
			if len(e.kvs) >= maxKVCache {
				clear(e.kvs)
			}
			e.kvs[kv] = enc
		}
		return append(b, enc...)
	case attribute.INT64:
		// AnyValue.int_value (field 3): a oneof member, sent even when 0.
		v := uint64(kv.Value.AsInt64())
		anySize := protowire.SizeTag(3) + protowire.SizeVarint(v)
		b = appendKeyValueHead(b, validUTF8(string(kv.Key)), anySize)
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	case attribute.FLOAT64:
		// AnyValue.double_value (field 4).
		anySize := protowire.SizeTag(4) + protowire.SizeFixed64()
		b = appendKeyValueHead(b, validUTF8(string(kv.Key)), anySize)
		b = protowire.AppendTag(b, 4, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(kv.Value.AsFloat64()))
	}
	return appendMessageField(b, spanAttributes, heapKeyValue(kv))
}

// appendKeyValueHead appends a Span.attributes field's tag and length, the
// KeyValue's key, and the tag and length of its AnyValue of anySize bytes.
func appendKeyValueHead(b []byte, key string, anySize int) []byte {
	size := 0
	if key != "" {
		size += protowire.SizeTag(1) + protowire.SizeBytes(len(key))
	}
	size += protowire.SizeTag(2) + protowire.SizeBytes(anySize)
	b = protowire.AppendTag(b, spanAttributes, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = appendStringField(b, 1, key)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(anySize))
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendFixed64Field(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

// appendMessageField marshals m as field num: for the rare parts (events,
// links, compound values) and the cache.
// Strings are made valid UTF-8 on the way in (validUTF8), so marshalling
// cannot fail; if it did, the field is left out rather than the span.
func appendMessageField(b []byte, num protowire.Number, m proto.Message) []byte {
	start := len(b)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(proto.Size(m)))
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, m)
	if err != nil {
		return b[:start]
	}
	return out
}

// validUTF8 replaces invalid UTF-8, which protobuf strings may not hold
// (an attribute can: the SDK does not check), with U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// The conversions below build messages on the heap; they serve resources,
// scopes, events, links and compound attribute values, which are rare or
// cached.

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
	return &commonpb.KeyValue{Key: validUTF8(string(kv.Key)), Value: heapValue(kv.Value)}
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
		av.Value = &commonpb.AnyValue_StringValue{StringValue: validUTF8(v.AsString())}
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
		out[i] = &tracepb.Span_Event{Name: validUTF8(ev.Name), TimeUnixNano: uint64(max(0, ev.Time.UnixNano())),
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
