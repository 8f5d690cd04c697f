package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/elazarl/goproxy"
)

var errNoDecision = errors.New("no egress decision for this request")

// newGoproxy builds the goproxy server with its permissive defaults
// replaced: no proxy from the environment, no unverified TLS, no default
// dialer, no HTTP/2, and a CONNECT handler that refuses anything that did
// not come through ServeHTTP's checks.
func (s *Server) newGoproxy() *goproxy.ProxyHttpServer {
	p := goproxy.NewProxyHttpServer()
	p.Logger = log.New(io.Discard, "", 0)
	p.Verbose = false
	p.AllowHTTP2 = false
	p.KeepAcceptEncoding = true // pass bodies through unchanged
	p.KeepHeader = false        // goproxy strips Proxy-* as well
	p.Tr = s.newTransport()     // never used directly: each request gets its sandbox's
	p.ConnectDial = func(string, string) (net.Conn, error) { return nil, errNoDecision }
	p.ConnectDialWithReq = nil
	p.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
	})
	p.OnRequest().DoFunc(s.onRequest)
	p.OnRequest().HandleConnectFunc(s.onConnect)
	p.OnResponse().DoFunc(s.onResponse)
	return p
}

// newTransport is an upstream transport with an explicit dialer that only
// dials the addresses a decision checked.
func (s *Server) newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            s.dialDecision,
		TLSClientConfig:        &tls.Config{RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    s.timeouts.Connect,
		ResponseHeaderTimeout:  s.timeouts.ResponseHeader,
		ForceAttemptHTTP2:      false,
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableCompression:     true,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        s.timeouts.ClientIdle,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// dialDecision dials the checked addresses of the decision carried by ctx;
// without one it refuses.
func (s *Server) dialDecision(ctx context.Context, _, addr string) (net.Conn, error) {
	d, _ := ctx.Value(decisionKey{}).(*decision)
	if d == nil {
		return nil, fmt.Errorf("dial %s: %w", addr, errNoDecision)
	}
	return s.dial(ctx, d)
}

// onRequest sends an allowed request through its sandbox's transport and
// refuses anything without a decision (deny by default).
func (s *Server) onRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	d, _ := r.Context().Value(decisionKey{}).(*decision)
	if d == nil {
		den := &denial{status: http.StatusForbidden, code: CodeNoRule, reason: "request did not pass the egress checks"}
		return r, den.response(r, "", r.Host)
	}
	sb := d.sandbox
	ctx.RoundTripper = goproxy.RoundTripperFunc(func(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
		if req.URL.Scheme == "http" {
			return sb.pool.roundTrip(req, d)
		}
		return sb.transport.RoundTrip(req)
	})
	return r, nil
}

// onResponse strips what an upstream must not say to the client and turns
// a transport failure into a 502 that names no internals.
func (s *Server) onResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	if resp == nil {
		den := &denial{status: http.StatusBadGateway, code: CodeUpstream, reason: "the upstream could not be reached or did not answer in time"}
		name := ""
		if d, _ := ctx.Req.Context().Value(decisionKey{}).(*decision); d != nil {
			name = d.sandbox.name
		}
		return den.response(ctx.Req, name, ctx.Req.Host)
	}
	if _, ours := resp.Body.(*denialBody); ours {
		return resp // a denial built by sandgate
	}
	stripHopHeaders(resp.Header)
	stripSandgateHeaders(resp.Header)
	return resp
}

// hopHeaders are hop-by-hop (RFC 9110 section 7.6.1) plus the proxy
// headers clients send.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func stripHopHeaders(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

func stripSandgateHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-sandgate-") {
			delete(h, k)
		}
	}
}

// stripRequestHeaders removes proxy, hop-by-hop and X-Sandgate-* headers
// the client sent.
func stripRequestHeaders(h http.Header) {
	stripHopHeaders(h)
	stripSandgateHeaders(h)
}
