package pgwire

import (
	"context"
	"time"

	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/telemetry"
	"github.com/sandgate/sandgate/telemetry/audit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Auditor receives audit records; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) error
}

var _ Auditor = (*audit.Log)(nil)

// stmtRecord follows one statement from the client's message to the end of
// its response, for its span, audit record and metrics.
type stmtRecord struct {
	start    time.Time
	st       *policy.Statement
	denial   *policy.Denial
	rows     int64
	columns  []audit.Column
	errClass string

	decide     time.Duration // policy check
	firstReply time.Time     // first upstream message of its answer
	transform  time.Duration // rewriting rows
	end        time.Time     // its response ended
}

// replied notes the first upstream answer to the statement.
func (r *stmtRecord) replied() {
	if r != nil && r.firstReply.IsZero() {
		r.firstReply = time.Now()
	}
}

func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/sandgate/sandgate/gateway/pgwire")
}

// startSessionSpan opens the session span, continuing a trace the client
// passed in its start-up parameters.
func (s *session) startSessionSpan(ctx context.Context) context.Context {
	ctx, _ = telemetry.ExtractStartup(ctx, s.params)
	ctx, s.span = s.srv.tracer.Start(ctx, "sandgate.session", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(telemetry.Sandbox(s.sandbox.Name), telemetry.User(s.sandbox.Name),
			attribute.String("db.namespace", s.database)))
	if m := s.srv.cfg.Metrics; m != nil {
		s.endMetric = m.SessionStart(ctx, s.sandbox.Name)
	}
	return ctx
}

// endSession closes the session span and writes the session's audit record.
func (s *session) endSession(ctx context.Context, stats relayStats, err error) {
	if s.endMetric != nil {
		s.endMetric()
	}
	if s.span == nil {
		return
	}
	s.span.SetAttributes(attribute.Int64("sandgate.statements", stats.statements),
		attribute.Int64("sandgate.denied", stats.denied), telemetry.RowsReturned(stats.rows))
	if err != nil {
		s.span.SetStatus(codes.Error, "session ended abnormally")
	}
	s.span.End()
	s.audit(ctx, audit.Record{Kind: audit.KindSession, Decision: audit.Allow, Rows: stats.rows,
		TraceID: s.span.SpanContext().TraceID().String()})
}

// auditRefusal records a session refused at start-up.
func (s *session) auditRefusal(ctx context.Context, user, class string) {
	if s.srv.cfg.Audit == nil {
		return
	}
	if err := s.srv.cfg.Audit.Append(context.WithoutCancel(ctx), audit.Record{Kind: audit.KindSession, User: user, Sandbox: user,
		Decision: audit.Deny, ErrorClass: class}); err != nil {
		s.log.Error("audit append failed", "err", err)
	}
}

func (s *session) audit(ctx context.Context, rec audit.Record) {
	if s.srv.cfg.Audit == nil {
		return
	}
	rec.Sandbox, rec.User = s.sandbox.Name, s.sandbox.Name
	// A shutting-down server still owes the record of what just happened.
	if err := s.srv.cfg.Audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Error("audit append failed", "err", err)
	}
}

// observed reports whether anything consumes statement records.
func (s *Server) observed() bool {
	return s.cfg.TracerProvider != nil || s.cfg.Audit != nil || s.cfg.Metrics != nil
}

// stmtAttrs are the span name and database attributes of one normalised
// statement, computed once: statements repeat, their literals aside.
type stmtAttrs struct {
	name  string
	attrs []attribute.KeyValue
}

const maxAttrCache = 10000

// attrKey keys the statement attribute cache; a struct, so a lookup builds
// no string on the hot path.
type attrKey struct{ database, normalised string }

func (s *Server) statementAttrs(st *policy.Statement, database string) *stmtAttrs {
	key := attrKey{database, st.Normalised}
	s.attrMu.RLock()
	a := s.attrCache[key]
	s.attrMu.RUnlock()
	if a != nil {
		return a
	}
	dbst := telemetry.Statement{Operation: st.Operation, Relations: st.Relations, Database: database, Normalised: st.Normalised}
	a = &stmtAttrs{name: telemetry.SpanName(dbst), attrs: telemetry.DBAttributes(dbst)}
	s.attrMu.Lock()
	if len(s.attrCache) < maxAttrCache {
		s.attrCache[key] = a
	}
	s.attrMu.Unlock()
	return a
}

// maxUnobserved bounds the finished statements held for observeFinished
// while a pipeline keeps the pump from flushing.
const maxUnobserved = 64

// finishStatement notes that a statement's response has ended. Its span,
// audit record and metrics are made once the response has been written to
// the client (observeFinished), so observing a statement never delays its
// answer: the client and the database get on with the next one meanwhile.
// Config.AuditBeforeAnswer keeps them before it.
func (p *serverPump) finishStatement(rec *stmtRecord) {
	if rec == nil || rec.start.IsZero() || !p.s.srv.observed() {
		return
	}
	rec.end = time.Now()
	if p.s.srv.cfg.AuditBeforeAnswer {
		p.observe(rec)
		return
	}
	p.finished = append(p.finished, rec)
	if len(p.finished) >= maxUnobserved {
		p.observeFinished()
	}
}

// observeFinished observes the statements finished since it last ran. The
// pump calls it after each write to the client and before it returns, so
// every statement is observed before its session ends.
func (p *serverPump) observeFinished() {
	for i, rec := range p.finished {
		p.observe(rec)
		p.finished[i] = nil
	}
	p.finished = p.finished[:0]
}

// observe emits the span, audit record and metrics of a statement.
func (p *serverPump) observe(rec *stmtRecord) {
	end := rec.end
	decision := audit.Allow
	var rules []string
	switch {
	case rec.denial != nil:
		decision, rules = audit.Deny, []string{rec.denial.Rule}
	case len(rec.columns) > 0 && anyTransformed(rec.columns):
		decision = "transform"
	}
	st := rec.st
	if st == nil {
		st = &policy.Statement{Normalised: "(refused before analysis)"}
	}
	sa := p.s.srv.statementAttrs(st, p.s.database)
	transformed := transformedNames(rec.columns)
	// Attributes are set after Start, from the pump's scratch slice: the
	// SDK copies them into the span either way, and given to Start they
	// would be copied twice more on the way (its start configuration).
	_, span := p.s.srv.tracer.Start(p.sessCtx, sa.name, trace.WithTimestamp(rec.start), serverKind)
	if span.IsRecording() {
		attrs := append(p.attrBuf[:0], sa.attrs...)
		attrs = append(attrs, telemetry.Sandbox(p.s.sandbox.Name),
			telemetry.Decision(string(decision)), telemetry.RowsReturned(rec.rows))
		if len(rules) > 0 {
			attrs = append(attrs, telemetry.RuleIDs(rules...))
		}
		attrs = appendPhaseTimings(attrs, rec, end)
		if len(transformed) > 0 {
			attrs = append(attrs, telemetry.ColumnsTransformed(transformed...))
		}
		span.SetAttributes(attrs...)
		clear(attrs)
		p.attrBuf = attrs[:0]
	}
	if rec.denial != nil {
		span.SetStatus(codes.Error, "denied by policy: "+rec.denial.Rule)
	} else if rec.errClass != "" {
		span.SetStatus(codes.Error, rec.errClass)
	}
	span.End(trace.WithTimestamp(end))
	var rels []string
	if rec.st != nil {
		rels = rec.st.Relations
	}
	p.s.audit(p.sessCtx, audit.Record{Time: rec.start, Kind: audit.KindStatement, Decision: decision, Rules: rules,
		Relations: rels, Columns: rec.columns, Rows: rec.rows, TraceID: span.SpanContext().TraceID().String(),
		ErrorClass: rec.errClass})
	if m := p.s.srv.cfg.Metrics; m != nil {
		m.Statement(p.sessCtx, p.s.sandbox.Name, string(decision), end.Sub(rec.start))
		if n := int64(len(transformed)); n > 0 {
			m.Transformed(p.sessCtx, p.s.sandbox.Name, rec.rows, n*rec.rows)
		}
	}
}

// serverKind is the statement spans' kind, made once: an option is an
// interface, and each made anew is an allocation.
var serverKind = trace.WithSpanKind(trace.SpanKindServer)

// appendPhaseTimings appends a statement's time split: the policy
// decision, the upstream (until its first answer) and the row transforms,
// in µs.
func appendPhaseTimings(kv []attribute.KeyValue, rec *stmtRecord, end time.Time) []attribute.KeyValue {
	kv = append(kv, attribute.Int64("sandgate.decide_us", rec.decide.Microseconds()))
	if !rec.firstReply.IsZero() {
		up := rec.firstReply.Sub(rec.start) - rec.decide
		kv = append(kv, attribute.Int64("sandgate.upstream_us", max(up, 0).Microseconds()))
	}
	if rec.transform > 0 {
		kv = append(kv, attribute.Int64("sandgate.transform_us", rec.transform.Microseconds()))
	}
	return kv
}

func anyTransformed(cols []audit.Column) bool {
	for _, c := range cols {
		if c.Transform != "" && c.Transform != "none" {
			return true
		}
	}
	return false
}

func transformedNames(cols []audit.Column) []string {
	var out []string
	for _, c := range cols {
		if c.Transform != "" && c.Transform != "none" {
			out = append(out, c.Relation+"."+c.Name)
		}
	}
	return out
}

// auditColumns lists a result's table columns and what was done to each.
func auditColumns(cols []policy.Column, pl *policy.Plan) []audit.Column {
	var out []audit.Column
	for i, c := range cols {
		if c.Table == "" || c.Schema == "pg_catalog" || c.Schema == "information_schema" {
			continue
		}
		tr := "none"
		if pl.Transforms[i] != nil {
			tr = pl.Transforms[i].Name()
		}
		out = append(out, audit.Column{Relation: c.Schema + "." + c.Table, Name: c.Attr, Transform: tr})
	}
	return out
}
