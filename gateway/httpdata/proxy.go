package httpdata

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/sandgate/sandgate/internal/httpcount"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/sandgate/sandgate/pseudonymise"
)

// ErrorHeader carries a stable error code on responses sandgate makes.
const ErrorHeader = "X-Sandgate-Error"

// Error codes of the data proxy.
const (
	CodeMethod   = "method_not_allowed"
	CodeNotJSON  = "not_json"
	CodeUpstream = "upstream_failed"
	CodeBadPath  = "bad_path"
)

// ErrNotJSONType is returned for responses whose Content-Type or encoding
// the proxy will not rewrite.
var ErrNotJSONType = errors.New("response is not uncompressed JSON")

// Proxy is one sandbox's data proxy. It is an http.Handler.
type Proxy struct {
	rules    []rule
	tctx     pseudonymise.Context
	upstream *url.URL
	maxBody  int64
	maxElem  int
	maxDepth int
	log      *slog.Logger
	rp       *httputil.ReverseProxy
}

// New validates cfg, builds its transforms and returns the proxy.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{tctx: pseudonymise.Context{Sandbox: cfg.Sandbox, LinkGroup: cfg.LinkGroup},
		maxBody: cfg.MaxBodyBytes, maxElem: cfg.MaxElementBytes, maxDepth: cfg.MaxDepth, log: cfg.Logger}
	p.upstream, _ = url.Parse(cfg.Upstream)
	if p.maxBody <= 0 {
		p.maxBody = 256 << 20
	}
	if p.maxElem <= 0 {
		p.maxElem = 64 << 10
	}
	if p.maxDepth <= 0 {
		p.maxDepth = 64
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("component", "httpdata", "sandbox", cfg.Sandbox)
	for _, fr := range cfg.Rules {
		r := rule{action: fr.Action}
		r.path, _ = parsePath(fr.Path)
		if fr.Action == ActionTransform {
			tr, err := cfg.Engine.Build(fr.Transform)
			if err != nil {
				return nil, fmt.Errorf("httpdata: rule %s: %w", fr.Path, err)
			}
			r.tr = tr
		}
		p.rules = append(p.rules, r)
	}
	tr := cfg.Transport
	if tr == nil {
		tr = &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
			DisableCompression: true, ResponseHeaderTimeout: 30 * time.Second, MaxIdleConnsPerHost: 16}
	}
	p.rp = &httputil.ReverseProxy{Rewrite: p.rewriteRequest, ModifyResponse: p.modifyResponse,
		ErrorHandler: p.errorHandler, Transport: tr, FlushInterval: -1,
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)}
	return p, nil
}

// ServeHTTP forwards GET and HEAD and rewrites the response.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set(ErrorHeader, CodeMethod)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "sandgate data proxy: only GET and HEAD are forwarded", http.StatusMethodNotAllowed)
		p.log.Warn("data request", "decision", "deny", "method", r.Method, "code", CodeMethod)
		return
	}
	if !cleanPath(r.URL.EscapedPath()) {
		w.Header().Set(ErrorHeader, CodeBadPath)
		http.Error(w, "sandgate data proxy: the path has dot segments, double slashes or encoded slashes", http.StatusBadRequest)
		return
	}
	cw := &httpcount.Writer{ResponseWriter: w}
	defer func() {
		p.log.Info("data request", "decision", "allow", "method", r.Method, "path", r.URL.Path,
			"status", cw.Status, "bytes_out", cw.N, "duration", time.Since(start))
	}()
	p.rp.ServeHTTP(cw, r)
}

// rewriteRequest sends the request to the upstream with only Accept.
func (p *Proxy) rewriteRequest(pr *httputil.ProxyRequest) {
	accept := pr.In.Header.Get("Accept")
	pr.Out.Header = http.Header{}
	if accept != "" {
		pr.Out.Header.Set("Accept", accept)
	}
	pr.Out.Header.Set("Accept-Encoding", "identity")
	pr.Out.Body, pr.Out.ContentLength = http.NoBody, 0
	pr.SetURL(p.upstream)
	pr.Out.Host = p.upstream.Host
}

// modifyResponse refuses what it cannot rewrite and replaces the body with
// the streaming rewrite.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return ErrNotJSONType
	}
	for k := range resp.Header {
		if !isKeptHeader(k) {
			delete(resp.Header, k)
		}
	}
	if resp.Request.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return nil
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return ErrNotJSONType
	}
	body := io.Reader(&limitedReader{r: resp.Body, n: p.maxBody})
	pr, pw := io.Pipe()
	go p.pump(pw, body, resp.Body)
	resp.Body = pr
	resp.ContentLength = -1
	return nil
}

// pump runs the rewrite from the upstream body into the pipe.
func (p *Proxy) pump(pw *io.PipeWriter, body io.Reader, closer io.Closer) {
	defer closer.Close()
	if err := p.Rewrite(pw, body); err != nil {
		p.log.Warn("data response refused mid-stream", "error", err)
		pw.CloseWithError(err)
		return
	}
	pw.Close()
}

func isJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code, status, msg := CodeUpstream, http.StatusBadGateway, "the data source could not be reached"
	if errors.Is(err, ErrNotJSONType) {
		code, msg = CodeNotJSON, "the data source answered with something other than uncompressed UTF-8 JSON, which sandgate does not pass"
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	p.log.Warn("data request refused", "code", code, "error", err)
	w.Header().Set(ErrorHeader, code)
	http.Error(w, "sandgate data proxy: "+msg, status)
}

// limitedReader fails, rather than truncating silently, past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

var errTooLarge = errors.New("response body is larger than the limit")

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(b)) > l.n {
		b = b[:l.n+1]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

// cleanPath reports whether an escaped path has no dot segments, empty
// segments, encoded slashes or backslashes.
func cleanPath(escaped string) bool {
	l := strings.ToLower(escaped)
	if strings.Contains(l, "//") || strings.ContainsAny(l, "\\\x00") || strings.Contains(l, "%2f") || strings.Contains(l, "%5c") {
		return false
	}
	for _, s := range strings.Split(strings.ReplaceAll(l, "%2e", "."), "/") {
		if s == "." || s == ".." {
			return false
		}
	}
	return true
}
