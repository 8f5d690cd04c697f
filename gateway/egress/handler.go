package egress

import (
	"context"
	"errors"
	"github.com/sandgate/sandgate/internal/httpcount"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

type decisionKey struct{}

// ServeHTTP authenticates, limits and decides, then hands allowed requests
// to goproxy (plain HTTP) or to the tunnel (CONNECT).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &record{start: time.Now(), method: r.Method, decision: "deny"}
	ctx, span := s.tracer.Start(r.Context(), "sandgate.egress", trace.WithSpanKind(trace.SpanKindServer))
	defer s.finish(rec, span)
	sb, den := s.admit(r, rec)
	if den != nil {
		s.refuse(w, r, rec, den)
		return
	}
	r = r.WithContext(ctx)
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r, sb, rec)
		return
	}
	s.servePlain(w, r, sb, rec)
}

// admit identifies the sandbox from its credentials and applies its rate.
func (s *Server) admit(r *http.Request, rec *record) (*sandbox, *denial) {
	st := s.state.Load()
	name, err := st.identify(r, rec)
	switch {
	case errors.Is(err, errNoCredentials):
		return nil, &denial{status: http.StatusProxyAuthRequired, code: CodeAuthRequired,
			reason: "send Proxy-Authorization: Basic with the sandbox name and its password, or connect with the sandbox's client certificate"}
	case errors.Is(err, errCertSandbox):
		return nil, &denial{status: http.StatusProxyAuthRequired, code: CodeAuthFailed,
			reason: "the client certificate names a sandbox (its common name) that has no egress rules; ask for the sandbox to be added to the policy"}
	case errors.Is(err, errIdentityConflict):
		return nil, &denial{status: http.StatusProxyAuthRequired, code: CodeAuthFailed,
			reason: "the client certificate and Proxy-Authorization name different sandboxes; send one identity"}
	case err != nil:
		return nil, &denial{status: http.StatusProxyAuthRequired, code: CodeAuthFailed,
			reason: "the sandbox name or password was not accepted"}
	}
	rec.sandbox = name
	sb := st.sandboxes[name]
	if den := sb.allow(time.Now()); den != nil {
		return nil, den
	}
	return sb, nil
}

// servePlain checks an absolute-form request and forwards it via goproxy.
func (s *Server) servePlain(w http.ResponseWriter, r *http.Request, sb *sandbox, rec *record) {
	q, den := plainRequest(r)
	if q != nil {
		rec.setTarget(q.host)
	}
	if den != nil {
		s.refuse(w, r, rec, den)
		return
	}
	if !acquire(&sb.conc, sb.maxConc) {
		s.refuse(w, r, rec, tooMany(CodeTooConcurrent, "requests", sb.maxConc))
		return
	}
	defer sb.conc.Add(-1)
	d, den := s.decide(r.Context(), sb, q)
	if den != nil {
		s.refuse(w, r, rec, den)
		return
	}
	rec.allowed(d)
	stripRequestHeaders(r.Header)
	r = r.WithContext(context.WithValue(r.Context(), decisionKey{}, d))
	cw := &httpcount.Writer{ResponseWriter: w}
	s.proxy.ServeHTTP(cw, r)
	rec.status, rec.bytesOut, rec.bytesIn = cw.Status, cw.N, max(r.ContentLength, 0)
	if code := cw.Header().Get(ErrorHeader); code != "" {
		rec.code = ErrorCode(code)
	}
}

// plainRequest reads the target of an absolute-form request.
func plainRequest(r *http.Request) (*request, *denial) {
	bad := func(code ErrorCode, reason string) *denial {
		return &denial{status: http.StatusBadRequest, code: code, reason: reason}
	}
	if !r.URL.IsAbs() || r.URL.Host == "" {
		return nil, bad(CodeBadRequest, "this is a proxy: send absolute-form requests (GET http://host/path) or CONNECT")
	}
	port := 0
	switch strings.ToLower(r.URL.Scheme) {
	case "http":
		port = 80
	case "https":
		port = 443
	default:
		return nil, bad(CodeBadRequest, "only http and https URLs can be proxied")
	}
	h, err := ParseHost(r.URL.Host, port)
	if err != nil {
		return nil, bad(CodeBadRequest, err.Error())
	}
	q := &request{host: h, method: r.Method, path: r.URL.EscapedPath()}
	if q.path == "" {
		q.path = "/"
	}
	if r.URL.User != nil {
		return q, bad(CodeBadRequest, "user information in the URL is not forwarded; remove it")
	}
	if !cleanPath(q.path) {
		return q, bad(CodeBadPath, "the path has dot segments, double slashes, encoded slashes or backslashes; send the clean path")
	}
	return q, nil
}

// refuse writes a denial to the client.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, rec *record, d *denial) {
	rec.code, rec.status, rec.decision = d.code, d.status, "deny"
	if d.rule != "" {
		rec.rule = "missing: " + d.rule
	}
	dest := rec.dest
	if dest == "" {
		dest = r.Host
	}
	d.writeHeaders(w.Header())
	w.Header().Set("Connection", "close")
	w.WriteHeader(d.status)
	n, _ := w.Write([]byte(d.body(rec.sandbox, dest)))
	rec.bytesOut = int64(n)
}

func (rec *record) setTarget(h Host) {
	rec.dest, rec.host, rec.port = h.String(), h.hostname(), h.Port
}

func (rec *record) allowed(d *decision) {
	rec.rule, rec.decision = d.rule, "allow"
	if d.report {
		rec.decision = "report"
	}
}

// finish emits the canonical log line and ends the span.
func (s *Server) finish(rec *record, span trace.Span) {
	dur := time.Since(rec.start)
	span.SetAttributes(
		attribute.String("sandbox", rec.sandbox),
		attribute.String("sandgate.identity", rec.identity),
		attribute.String("destination.host", rec.host),
		attribute.Int("destination.port", rec.port),
		attribute.String("decision", rec.decision),
		attribute.String("rule", rec.rule),
		attribute.String("http.request.method", rec.method),
	)
	if rec.code != "" {
		span.SetAttributes(attribute.String("sandgate.error", string(rec.code)))
	}
	if rec.decision == "deny" {
		span.SetStatus(codes.Error, string(rec.code))
	}
	span.End()
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(Outcome{Start: rec.start, Sandbox: rec.sandbox, Method: rec.method,
			Destination: net.JoinHostPort(rec.host, strconv.Itoa(rec.port)), Decision: rec.decision, Rule: rec.rule,
			Code: rec.code, Status: rec.status, Bytes: rec.bytesIn + rec.bytesOut, TraceID: span.SpanContext().TraceID().String()})
	}
	level := slog.LevelInfo
	switch {
	case rec.decision == "deny" || rec.err != nil:
		level = slog.LevelWarn
	case rec.decision == "report":
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("decision", rec.decision), slog.String("rule", rec.rule),
		slog.String("sandbox", rec.sandbox), slog.String("identity", rec.identity), slog.String("method", rec.method),
		slog.String("destination", rec.dest), slog.Int("status", rec.status),
		slog.String("code", string(rec.code)), slog.Duration("duration", dur),
		slog.Int64("bytes_in", rec.bytesIn), slog.Int64("bytes_out", rec.bytesOut),
	}
	if rec.err != nil {
		attrs = append(attrs, slog.String("error", rec.err.Error()))
	}
	s.log.LogAttrs(context.Background(), level, "egress request", attrs...)
}
