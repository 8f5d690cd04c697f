package egress

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandgate/sandgate/policy"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// fakeResolver answers from a table. A name with several answers gives
// them in turn, one per lookup, and counts the lookups.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	calls   map[string]int
}

func (f *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := f.calls[host]
	f.calls[host]++
	var out []net.IPAddr
	for _, s := range seq[min(i, len(seq)-1)] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func (f *fakeResolver) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[host]
}

// backend is an httptest server on loopback that records what it got.
type backend struct {
	*httptest.Server
	port  int
	block chan struct{} // /slow waits until it is closed
	mu    sync.Mutex
	got   []*http.Request
}

func (b *backend) record(r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, r.Clone(context.Background()))
}

func (b *backend) requests() []*http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*http.Request(nil), b.got...)
}

func (b *backend) handle(w http.ResponseWriter, r *http.Request) {
	b.record(r)
	switch r.URL.Path {
	case "/redirect":
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		return
	case "/slow":
		<-b.block
	case "/forge":
		w.Header().Set(ErrorHeader, "forged")
		w.Header().Set("X-Sandgate-Sandbox", "forged")
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "hello from %s %s", r.Host, r.URL.Path)
}

func newBackend(t *testing.T, tlsOn bool) *backend {
	t.Helper()
	b := &backend{block: make(chan struct{})}
	h := http.HandlerFunc(b.handle)
	if tlsOn {
		b.Server = httptest.NewTLSServer(h)
	} else {
		b.Server = httptest.NewServer(h)
	}
	t.Cleanup(b.Close)
	t.Cleanup(func() { close(b.block) })
	b.port = int(netip.MustParseAddrPort(b.Listener.Addr().String()).Port())
	return b
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// world is one egress proxy with its backends, DNS and observers, every
// listener on 127.0.0.1:0.
type world struct {
	t         *testing.T
	srv       *Server
	proxyURL  string   // http://127.0.0.1:<port>
	proxyPort int      // the proxy's own port, which no sandbox may reach
	plain     *backend // plain HTTP backend on loopback
	tls       *backend // TLS backend on loopback (cert for example.com, 127.0.0.1)
	res       *fakeResolver
	logs      *syncBuffer // JSON canonical lines
	spans     *tracetest.SpanRecorder
}

var passwords = map[string]string{"ward": "ward-pw", "strict": "strict-pw", "anyip": "anyip-pw", "report": "report-pw", "tight": "tight-pw"}

func verifier(t *testing.T, pw string) string {
	t.Helper()
	v, err := policy.NewVerifier(pw, policy.DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	return v.String()
}

// newWorld starts the world; mutate, if not nil, edits the config first.
func newWorld(t *testing.T, mutate func(*Config)) *world {
	t.Helper()
	w := &world{t: t, plain: newBackend(t, false), tls: newBackend(t, true), logs: &syncBuffer{}, spans: tracetest.NewSpanRecorder()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.proxyPort = int(netip.MustParseAddrPort(ln.Addr().String()).Port())
	w.proxyURL = "http://" + ln.Addr().String()
	w.res = &fakeResolver{calls: map[string]int{}, answers: map[string][][]string{
		"backend.test":        {{"127.0.0.1"}},
		"example.com":         {{"127.0.0.1"}},
		"api.test":            {{"127.0.0.1"}},
		"private.ok.test":     {{"10.0.0.5"}},
		"mixed.ok.test":       {{"8.8.8.8", "127.0.0.2"}},
		"mixedpublic.ok.test": {{"127.0.0.1", "192.168.1.1"}},
		"meta.ok.test":        {{"169.254.169.254"}},
		"meta6.ok.test":       {{"fd00:ec2::254"}},
		"nat64.ok.test":       {{"64:ff9b::a00:1"}},
		"zero.ok.test":        {{"0.0.0.0"}},
		"rebind.ok.test":      {{"127.0.0.1"}, {"127.0.0.2"}, {"127.0.0.2"}},
	}}
	cfg := w.config()
	if mutate != nil {
		mutate(&cfg)
	}
	if cfg.TLS != nil {
		w.proxyURL = "https://" + ln.Addr().String()
	}
	w.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		sctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		_ = w.srv.Shutdown(sctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return w
}

func (w *world) config() Config {
	t := w.t
	ports := []int{w.plain.port, w.tls.port}
	names := []string{"backend.test", "example.com", "*.ok.test"}
	rules := []Rule{
		{ID: "backend", Hosts: names, Ports: ports, Methods: []string{"GET", "HEAD", "POST"}},
		{ID: "tunnel", Hosts: names, Ports: ports, Methods: []string{"CONNECT"}},
		{ID: "api", Hosts: []string{"api.test"}, Ports: ports, PathPrefixes: []string{"/api"}},
	}
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	return Config{
		Sandboxes: map[string]*Sandbox{
			"ward":   {Verifier: verifier(t, passwords["ward"]), Rules: rules, AllowCIDRs: loop},
			"strict": {Verifier: verifier(t, passwords["strict"]), Rules: rules},
			"anyip": {Verifier: verifier(t, passwords["anyip"]), AllowCIDRs: loop, Rules: []Rule{
				{ID: "any-ip", Hosts: []string{"0.0.0.0/0", "::/0"}, Ports: append(ports, w.proxyPort, 80)}}},
			"report": {Verifier: verifier(t, passwords["report"]), Mode: ModeReport, AllowCIDRs: loop},
			"tight": {Verifier: verifier(t, passwords["tight"]), Rules: rules, AllowCIDRs: loop,
				MaxTunnels: 2, MaxConcurrent: 1, RatePerSecond: 1000, Burst: 1000},
		},
		Resolver:       w.res,
		RootCAs:        w.tls.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		Logger:         slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(w.spans)),
		Timeouts: Timeouts{ClientHeader: 300 * time.Millisecond, IdleTunnel: 500 * time.Millisecond,
			ClientIdle: 5 * time.Second, Connect: 2 * time.Second, ResponseHeader: 5 * time.Second},
	}
}

func (w *world) proxyFor(sandbox string) *url.URL {
	u, _ := url.Parse(w.proxyURL)
	if sandbox != "" {
		u.User = url.UserPassword(sandbox, passwords[sandbox])
	}
	return u
}

// client is a Go http.Client using the proxy as sandbox, trusting the TLS
// backend. It follows redirects like any default client.
func (w *world) client(sandbox string) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyURL(w.proxyFor(sandbox)), TLSClientConfig: w.tls.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	w.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func basic(sandbox string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(sandbox+":"+passwords[sandbox]))
}

// dial opens a raw connection to the proxy.
func (w *world) dial() net.Conn {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(w.proxyURL, "http://"), 5*time.Second)
	if err != nil {
		w.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	w.t.Cleanup(func() { c.Close() })
	return c
}

// raw sends exactly the bytes given and reads one response.
func (w *world) raw(req string) *http.Response {
	w.t.Helper()
	c := w.dial()
	if _, err := io.WriteString(c, req); err != nil {
		w.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		w.t.Fatalf("read response to %q: %v", req, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// canonical returns the canonical log lines.
func (w *world) canonical() []string {
	var out []string
	for _, l := range strings.Split(w.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"egress request"`) {
			out = append(out, l)
		}
	}
	return out
}

func readBody(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	return string(b)
}

func encode(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func writeCertPEM(t *testing.T, w *world, path string) {
	t.Helper()
	der := w.tls.Certificate().Raw
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, p, 0o600); err != nil {
		t.Fatal(err)
	}
}
