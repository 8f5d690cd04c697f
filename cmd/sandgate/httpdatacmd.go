package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sandgate/sandgate/gateway/egress"
	"github.com/sandgate/sandgate/gateway/httpdata"
	"github.com/sandgate/sandgate/internal/httpcount"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/telemetry/audit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// HTTPDataConfig is the HTTP data proxy's listener; each sandbox's sources
// and field rules live in its policy (http_sources).
type HTTPDataConfig struct {
	// Listen is the address; empty means off. Sandboxes call
	// /{sandbox}/{source}/{path…} with Basic credentials (sandbox name and
	// password).
	Listen string `yaml:"listen"`
}

// dataFront authenticates a sandbox and hands the request to the proxy of
// the source it names.
type dataFront struct {
	routes atomic.Pointer[dataRoutes] // a policy reload swaps them
	tracer trace.Tracer
	audit  auditAppender
}

// dataRoutes are what the policy decides: who may authenticate and which
// proxy serves each of its sources.
type dataRoutes struct {
	creds   *egress.Credentials
	proxies map[string]map[string]*httpdata.Proxy
}

func newDataFront(set *policy.Set, engine *pseudonymise.Engine) (*dataFront, error) {
	r, err := newDataRoutes(set, engine)
	if err != nil {
		return nil, err
	}
	f := &dataFront{tracer: noop.NewTracerProvider().Tracer("")}
	f.routes.Store(r)
	return f, nil
}

func newDataRoutes(set *policy.Set, engine *pseudonymise.Engine) (*dataRoutes, error) {
	rt := &dataRoutes{proxies: map[string]map[string]*httpdata.Proxy{}}
	verifiers := map[string]string{}
	for _, name := range set.Names() {
		sb := set.Sandbox(name)
		if len(sb.HTTPSources) == 0 {
			continue
		}
		verifiers[name] = sb.Verifier
		rt.proxies[name] = map[string]*httpdata.Proxy{}
		for _, src := range sb.HTTPSources {
			p, err := httpdata.New(httpdata.Config{Sandbox: name, LinkGroup: sb.LinkGroup, Upstream: src.Upstream,
				Rules: fieldRules(src.Fields), Engine: engine})
			if err != nil {
				return nil, fmt.Errorf("sandbox %q, http source %q: %w", name, src.Name, err)
			}
			rt.proxies[name][src.Name] = p
		}
	}
	var err error
	rt.creds, err = egress.NewCredentials(verifiers, 0)
	return rt, err
}

func fieldRules(fields []policy.HTTPField) []httpdata.FieldRule {
	out := make([]httpdata.FieldRule, 0, len(fields))
	for _, fr := range fields {
		r := httpdata.FieldRule{Path: fr.Path, Action: httpdata.Action(fr.Action)}
		if fr.Transform != "" {
			r.Action = httpdata.ActionTransform
			r.Transform = pseudonymise.Spec{Name: fr.Transform, Domain: fr.Domain, Params: fr.Params}
		}
		out = append(out, r)
	}
	return out
}

func (f *dataFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sb, src := r.PathValue("sandbox"), r.PathValue("source")
	start := time.Now()
	_, span := f.tracer.Start(r.Context(), "sandgate.http_data", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("sandgate.sandbox", sb), attribute.String("sandgate.source", src),
			attribute.String("http.request.method", r.Method)))
	cw := &httpcount.Writer{ResponseWriter: w}
	defer func() {
		span.SetAttributes(attribute.Int("http.response.status_code", cw.Status))
		if cw.Status >= 400 {
			span.SetStatus(codes.Error, http.StatusText(cw.Status))
		}
		span.End()
		f.record(r.Context(), start, sb, src, cw, span.SpanContext().TraceID().String())
	}()
	routes := f.routes.Load()
	if user, ok := routes.creds.Check(r.Header.Get("Authorization")); !ok || user != sb {
		w.Header().Set("WWW-Authenticate", `Basic realm="sandgate data"`)
		http.Error(cw, "sandgate: authenticate as the sandbox (Basic, the sandbox name and its password)", http.StatusUnauthorized)
		return
	}
	p := routes.proxies[sb][src]
	if p == nil {
		http.Error(cw, fmt.Sprintf("sandgate: sandbox %q has no HTTP source %q; ask your information governance team to add it to the policy", sb, src), http.StatusNotFound)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+r.PathValue("rest"), ""
	r2.Header.Del("Authorization")
	p.ServeHTTP(cw, r2)
}

// record writes the request's audit record: never its path or query.
func (f *dataFront) record(ctx context.Context, start time.Time, sb, src string, cw *httpcount.Writer, traceID string) {
	if f.audit == nil {
		return
	}
	d := audit.Allow
	if cw.Status >= 400 {
		d = audit.Deny
	}
	rec := audit.Record{Time: start, Kind: audit.KindHTTPData, Sandbox: sb, User: sb, Decision: d,
		Destination: src, Bytes: cw.N, TraceID: traceID}
	if err := f.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		slog.Error("audit append failed", "kind", "http_data", "err", err)
	}
}

// startHTTPData serves the HTTP data proxy when configured.
func (gw *gateway) startHTTPData(ctx context.Context) (func(), error) {
	if gw.cfg.HTTPData.Listen == "" {
		return func() {}, nil
	}
	f, err := newDataFront(gw.policy.Load(), gw.engine)
	if err != nil {
		return nil, fmt.Errorf("http data: %w", err)
	}
	gw.data = f
	if o := gw.obs; o != nil {
		f.tracer = o.providers.Tracer.Tracer("github.com/sandgate/sandgate/cmd/sandgate")
		if a := o.auditor(); a != nil {
			f.audit = a
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/{sandbox}/{source}/{rest...}", f)
	ln, err := net.Listen("tcp", gw.cfg.HTTPData.Listen)
	if err != nil {
		return nil, fmt.Errorf("http data listen on %s: %w", gw.cfg.HTTPData.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("http data proxy stopped", "err", err)
		}
	}()
	slog.Info("http data proxy listening", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}
