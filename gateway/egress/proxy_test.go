package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDNSRebinding: the proxy resolves once per request and dials the
// address it checked, so a name whose second answer is private reaches the
// first backend and is then refused — on the same keep-alive connection.
func TestDNSRebinding(t *testing.T) {
	w := newWorld(t, nil)
	evil := listenSamePort(t, "127.0.0.2", w.plain.port)
	c := w.client("ward")
	target := fmt.Sprintf("http://rebind.ok.test:%d/", w.plain.port)
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "hello from rebind.ok.test") {
		t.Fatalf("first request: got %d %q, want 200 from the checked backend", resp.StatusCode, body)
	}
	if n := w.res.count("rebind.ok.test"); n != 1 {
		t.Fatalf("got %d lookups for one request, want 1", n)
	}
	resp, err = c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 403 || resp.Header.Get(ErrorHeader) != string(CodeAddressDenied) {
		t.Fatalf("second request: got %d %q, want 403 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeAddressDenied)
	}
	if evil != nil && evil.accepted() != 0 {
		t.Fatalf("the rebound address got %d connections, want 0", evil.accepted())
	}
}

// countingListener accepts and counts connections, answering nothing.
type countingListener struct {
	ln net.Listener
	n  chan struct{}
}

func (c *countingListener) accepted() int { return len(c.n) }

// listenSamePort listens on ip at port if it can (nil otherwise: the test
// then relies on the dial failing, which would also show up as a 502).
func listenSamePort(t *testing.T, ip string, port int) *countingListener {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Logf("cannot listen on %s:%d (%v); relying on the dial failing", ip, port, err)
		return nil
	}
	c := &countingListener{ln: ln, n: make(chan struct{}, 100)}
	t.Cleanup(func() { ln.Close() })
	go c.serve()
	return c
}

func (c *countingListener) serve() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		select {
		case c.n <- struct{}{}:
		default:
		}
		conn.Close()
	}
}

// TestKeepAliveRechecksEveryRequest sends an allowed and then a refused
// request on one client connection.
func TestKeepAliveRechecksEveryRequest(t *testing.T) {
	w := newWorld(t, nil)
	c := w.dial()
	br := bufio.NewReader(c)
	send := func(host string) *http.Response {
		fmt.Fprintf(c, "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n", host, host, basic("ward"))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		return resp
	}
	if r := send(fmt.Sprintf("backend.test:%d", w.plain.port)); r.StatusCode != 200 {
		t.Fatalf("got %d, want 200", r.StatusCode)
	}
	if r := send(fmt.Sprintf("private.ok.test:%d", w.plain.port)); r.StatusCode != 403 {
		t.Fatalf("got %d on the same connection, want 403", r.StatusCode)
	}
}

// TestHostHeaderIgnoredForAbsoluteForm: the Host a client adds to an
// absolute-form request never redirects it (RFC 9112 section 3.2.2).
func TestHostHeaderIgnoredForAbsoluteForm(t *testing.T) {
	w := newWorld(t, nil)
	target := fmt.Sprintf("backend.test:%d", w.plain.port)
	resp := w.raw(fmt.Sprintf("GET http://%s/h HTTP/1.1\r\nHost: 169.254.169.254\r\nProxy-Authorization: %s\r\nConnection: close\r\n\r\n", target, basic("ward")))
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	got := w.plain.requests()
	if len(got) != 1 || got[0].Host != target {
		t.Fatalf("backend got %d requests, Host %q; want 1 with Host %q", len(got), hostOf(got), target)
	}
}

func hostOf(rs []*http.Request) string {
	if len(rs) == 0 {
		return ""
	}
	return rs[len(rs)-1].Host
}

// TestRedirectToPrivateAddress: the proxy does not follow redirects; a
// client that does makes a new request, which is checked and refused.
func TestRedirectToPrivateAddress(t *testing.T) {
	w := newWorld(t, nil)
	for _, to := range []string{
		fmt.Sprintf("http://private.ok.test:%d/secret", w.plain.port),
		"http://169.254.169.254/latest/meta-data/",
		fmt.Sprintf("http://127.0.0.1:%d/secret", w.plain.port),
	} {
		u := fmt.Sprintf("http://backend.test:%d/redirect?to=%s", w.plain.port, url.QueryEscape(to))
		resp, err := w.client("ward").Get(u)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != 403 || resp.Header.Get(ErrorHeader) == "" {
			t.Errorf("redirect to %s: got %d %q, want a 403 denial", to, resp.StatusCode, resp.Header.Get(ErrorHeader))
		}
		if curlPath != "" {
			out, _ := exec.Command(curlPath, "-s", "-L", "-o", "/dev/null", "-w", "%{http_code}", "-x", w.proxyFor("ward").String(), u).Output()
			if string(out) != "403" {
				t.Errorf("curl -L to %s: got %s, want 403", to, out)
			}
		}
	}
	for _, r := range w.plain.requests() {
		if r.URL.Path != "/redirect" {
			t.Errorf("backend got %s, want only /redirect", r.URL.Path)
		}
	}
}

// TestSpoofedIdentityHeaders: headers the sandbox controls name nothing and
// are not forwarded; a server cannot forge X-Sandgate-Error.
func TestSpoofedIdentityHeaders(t *testing.T) {
	w := newWorld(t, nil)
	target := fmt.Sprintf("backend.test:%d", w.plain.port)
	spoof := "X-Sandgate-Sandbox: ward\r\nX-Forwarded-For: 127.0.0.1\r\nForwarded: for=127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\nX-Sandgate-Error: spoofed\r\n"
	cases := []struct {
		name, headers string
		status        int
		code          ErrorCode
	}{
		{"no credentials", spoof, 407, CodeAuthRequired},
		{"origin authorization is not proxy authorization", spoof + "Authorization: " + basic("ward") + "\r\n", 407, CodeAuthRequired},
		{"wrong password", "Proxy-Authorization: Basic " + b64("ward:nope") + "\r\n" + spoof, 407, CodeAuthFailed},
		{"unknown sandbox", "Proxy-Authorization: Basic " + b64("admin:ward-pw") + "\r\n" + spoof, 407, CodeAuthFailed},
		{"header names another sandbox", "Proxy-Authorization: " + basic("strict") + "\r\n" + spoof, 403, CodeAddressDenied},
	}
	for _, c := range cases {
		resp := w.raw(fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", target, target, c.headers))
		if resp.StatusCode != c.status || resp.Header.Get(ErrorHeader) != string(c.code) {
			t.Errorf("%s: got %d %q, want %d %q", c.name, resp.StatusCode, resp.Header.Get(ErrorHeader), c.status, c.code)
		}
		if c.status == 407 && resp.Header.Get("Proxy-Authenticate") == "" {
			t.Errorf("%s: 407 without Proxy-Authenticate", c.name)
		}
	}
	if n := len(w.plain.requests()); n != 0 {
		t.Fatalf("backend got %d requests, want 0", n)
	}
	resp := w.raw(fmt.Sprintf("GET http://%s/forge HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n%sProxy-Connection: keep-alive\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n", target, target, basic("ward"), spoof))
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-sandgate-") {
			t.Errorf("client saw upstream header %s, want it stripped", k)
		}
	}
	got := w.plain.requests()[0].Header
	for k := range got {
		l := strings.ToLower(k)
		if strings.HasPrefix(l, "x-sandgate-") || strings.HasPrefix(l, "proxy-") || l == "x-hop" {
			t.Errorf("backend received %s, want it stripped", k)
		}
	}
}

func b64(s string) string { return encode(s) }

// TestRateAndConcurrencyLimits: 429 with Retry-After.
func TestRateAndConcurrencyLimits(t *testing.T) {
	w := newWorld(t, func(c *Config) {
		c.Sandboxes["strict"].RatePerSecond, c.Sandboxes["strict"].Burst = 0.01, 1
	})
	target := fmt.Sprintf("backend.test:%d", w.plain.port)
	req := fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\nConnection: close\r\n\r\n", target, target, basic("strict"))
	w.raw(req)
	resp := w.raw(req)
	if resp.StatusCode != 429 || resp.Header.Get(ErrorHeader) != string(CodeRateLimited) {
		t.Fatalf("got %d %q, want 429 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeRateLimited)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
		t.Fatalf("got Retry-After %q, want at least 1", resp.Header.Get("Retry-After"))
	}
	// tight allows one request in flight: hold one on /slow.
	slow := w.dial()
	fmt.Fprintf(slow, "GET http://%s/slow HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n", target, target, basic("tight"))
	waitFor(t, "the slow request to reach the backend", func() bool { return len(w.plain.requests()) > 0 })
	resp = w.raw(strings.ReplaceAll(req, basic("strict"), basic("tight")))
	if resp.StatusCode != 429 || resp.Header.Get(ErrorHeader) != string(CodeTooConcurrent) {
		t.Fatalf("got %d %q, want 429 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeTooConcurrent)
	}
}

// waitFor polls cond a bounded number of times.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// TestSlowloris: a client that never finishes its request head is
// disconnected by the header read timeout.
func TestSlowloris(t *testing.T) {
	w := newWorld(t, nil)
	c := w.dial()
	fmt.Fprintf(c, "GET http://backend.test:%d/ HTTP/1.1\r\nHost: backend.test\r\nX-Slow: ", w.plain.port)
	n, err := c.Read(make([]byte, 1024))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the proxy kept the connection open until the test's own deadline")
	}
	if err == nil && n > 0 {
		// A 408 before closing is also a close; read on until EOF.
		_, err = io.Copy(io.Discard, c)
	}
	if err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("got %v, want the connection closed", err)
	}
}

// connect opens a tunnel as sandbox and returns the connection and the
// proxy's response.
func (w *world) connect(sandbox, target string) (net.Conn, *bufio.Reader, *http.Response) {
	w.t.Helper()
	c := w.dial()
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n", target, target, basic(sandbox))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		w.t.Fatalf("CONNECT %s: %v", target, err)
	}
	return c, br, resp
}

// TestConnect covers tunnels: allowed through Go and curl, IP literals,
// other ports, SNI and plaintext Host mismatches.
func TestConnect(t *testing.T) {
	w := newWorld(t, nil)
	tlsTarget := fmt.Sprintf("example.com:%d", w.tls.port)
	resp, err := w.client("ward").Get("https://" + tlsTarget + "/t")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "hello from "+tlsTarget) {
		t.Fatalf("go client over CONNECT: got %d %q", resp.StatusCode, body)
	}
	if curlPath != "" {
		checkCurlTLS(t, w, tlsTarget)
	}
	for _, c := range []struct {
		sandbox, target string
		status          int
		code            ErrorCode
	}{
		{"ward", fmt.Sprintf("127.0.0.1:%d", w.tls.port), 403, CodeNoRule},
		{"ward", fmt.Sprintf("2130706433:%d", w.tls.port), 403, CodeNoRule},
		{"ward", "example.com:1", 403, CodeNoRule},
		{"ward", "example.com", 400, CodeBadRequest},
		{"strict", tlsTarget, 403, CodeAddressDenied},
		{"anyip", fmt.Sprintf("127.0.0.1:%d", w.tls.port), 403, CodeNoRule}, // its rule has no CONNECT
		{"ward", fmt.Sprintf("private.ok.test:%d", w.tls.port), 403, CodeAddressDenied},
	} {
		_, _, resp := w.connect(c.sandbox, c.target)
		if resp.StatusCode != c.status || resp.Header.Get(ErrorHeader) != string(c.code) {
			t.Errorf("CONNECT %s as %s: got %d %q, want %d %s", c.target, c.sandbox, resp.StatusCode, resp.Header.Get(ErrorHeader), c.status, c.code)
		}
	}
	// SNI naming another host than the CONNECT target.
	before := len(w.tls.requests())
	conn, _, resp := w.connect("ward", tlsTarget)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: got %d, want 200", resp.StatusCode)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "elsewhere.test", InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		t.Fatalf("TLS handshake with SNI elsewhere.test through a tunnel to %s succeeded, want refused", tlsTarget)
	}
	if got := len(w.tls.requests()) - before; got != 0 {
		t.Fatalf("TLS backend got %d requests through the mismatched tunnel, want 0", got)
	}
	waitFor(t, "the host_mismatch log line", func() bool { return strings.Contains(w.logs.String(), string(CodeHostMismatch)) })
}

// TestPlaintextInTunnel: HTTP inside a tunnel is checked request by
// request against the CONNECT target.
func TestPlaintextInTunnel(t *testing.T) {
	w := newWorld(t, nil)
	target := fmt.Sprintf("backend.test:%d", w.plain.port)
	conn, br, resp := w.connect("ward", target)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: got %d", resp.StatusCode)
	}
	get := func(host string) *http.Response {
		fmt.Fprintf(conn, "GET /in HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, r)
		return r
	}
	if r := get(target); r.StatusCode != 200 {
		t.Fatalf("same host in tunnel: got %d, want 200", r.StatusCode)
	}
	if r := get(fmt.Sprintf("private.ok.test:%d", w.plain.port)); r.StatusCode != 403 || r.Header.Get(ErrorHeader) != string(CodeHostMismatch) {
		t.Fatalf("other host in tunnel: got %d %q, want 403 %s", r.StatusCode, r.Header.Get(ErrorHeader), CodeHostMismatch)
	}
	if n := len(w.plain.requests()); n != 1 {
		t.Fatalf("backend got %d requests, want 1", n)
	}
}

// TestTunnelFlood: idle tunnels count against MaxTunnels (429), and the
// idle timeout closes them so the sandbox can open new ones.
func TestTunnelFlood(t *testing.T) {
	w := newWorld(t, nil)
	target := fmt.Sprintf("backend.test:%d", w.plain.port)
	var open []net.Conn
	for range 2 {
		c, _, resp := w.connect("tight", target)
		if resp.StatusCode != 200 {
			t.Fatalf("tunnel: got %d, want 200", resp.StatusCode)
		}
		open = append(open, c)
	}
	_, _, resp := w.connect("tight", target)
	if resp.StatusCode != 429 || resp.Header.Get(ErrorHeader) != string(CodeTooManyTunnels) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third tunnel: got %d %q Retry-After %q, want 429 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), resp.Header.Get("Retry-After"), CodeTooManyTunnels)
	}
	for _, c := range open {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("idle tunnel: read got %v, want EOF (closed by the idle timeout)", err)
		}
	}
	waitFor(t, "a new tunnel after the idle ones closed", func() bool {
		_, _, resp := w.connect("tight", target)
		return resp.StatusCode == 200
	})
}

func checkCurlTLS(t *testing.T, w *world, target string) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeCertPEM(t, w, ca)
	out, err := exec.Command(curlPath, "-sS", "--max-time", "10", "--cacert", ca, "-x", w.proxyFor("ward").String(),
		"-o", "/dev/null", "-w", "%{http_code}", "https://"+target+"/curl").CombinedOutput()
	if err != nil || string(out) != "200" {
		t.Fatalf("curl over CONNECT: %v %s", err, out)
	}
	_ = os.Remove(ca)
}

// TestShutdownClosesTunnels: Shutdown waits for tunnels until its context
// ends, then closes them.
func TestShutdownClosesTunnels(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Timeouts.IdleTunnel = time.Minute })
	c, _, resp := w.connect("ward", fmt.Sprintf("backend.test:%d", w.plain.port))
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: got %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.srv.Shutdown(ctx); err == nil {
		t.Log("shutdown finished before its deadline") // only possible if the tunnel ended first
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("tunnel after Shutdown: read got %v, want EOF", err)
	}
}

// TestHTTPSAbsoluteForm: an https:// URL in absolute form is fetched with
// verified TLS by the proxy (no CONNECT).
func TestHTTPSAbsoluteForm(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.RootCAs = nil })
	target := fmt.Sprintf("example.com:%d", w.tls.port)
	resp := w.raw(fmt.Sprintf("GET https://%s/abs HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\nConnection: close\r\n\r\n", target, target, basic("ward")))
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(ErrorHeader) != string(CodeUpstream) {
		t.Fatalf("untrusted upstream certificate: got %d %q, want 502 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeUpstream)
	}
	if n := len(w.tls.requests()); n != 0 {
		t.Fatalf("the upstream with an untrusted certificate got %d requests", n)
	}
	w2 := newWorld(t, nil) // trusts the TLS backend's certificate
	target = fmt.Sprintf("example.com:%d", w2.tls.port)
	resp = w2.raw(fmt.Sprintf("GET https://%s/abs HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\nConnection: close\r\n\r\n", target, target, basic("ward")))
	if resp.StatusCode != 200 {
		t.Fatalf("trusted upstream: got %d, want 200", resp.StatusCode)
	}
}

// TestStaleUpstreamConnectionRetried: an upstream that closes kept-alive
// connections without saying so costs a GET nothing: the proxy retries it
// once on a new connection to the same checked address. The upstream may
// close before the next request comes (the proxy then reads the end of the
// stream) or as it comes (a reset), so both are made to happen here.
func TestStaleUpstreamConnectionRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(net.Listener)
	}{
		{"closed", serveOneRequestPerConn},
		{"reset", serveOneRequestThenReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go tc.serve(ln)
			port := ln.Addr().(*net.TCPAddr).Port
			w := newWorld(t, func(c *Config) {
				c.Sandboxes["ward"].Rules = append(c.Sandboxes["ward"].Rules, Rule{ID: "closer", Hosts: []string{"backend.test"}, Ports: []int{port}})
			})
			c := w.client("ward")
			for i := range 3 {
				resp, err := c.Get(fmt.Sprintf("http://backend.test:%d/%d", port, i))
				if err != nil {
					t.Fatal(err)
				}
				if body := readBody(t, resp); resp.StatusCode != 200 || body != "ok" {
					t.Fatalf("request %d: got %d %q, want 200 ok", i, resp.StatusCode, body)
				}
			}
		})
	}
}

func serveOneRequestPerConn(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		c.Close()
	}
}

// serveOneRequestThenReset answers a connection's first request, waits for
// the next one to arrive and resets the connection instead of answering.
func serveOneRequestThenReset(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err == nil {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				br.Peek(1) // the next request
			}
			c.(*net.TCPConn).SetLinger(0) // close with a reset
			c.Close()
		}()
	}
}

// TestOriginFormRefused: a request in origin form (GET / with a Host
// header, as sent to a transparent proxy) is never routed by its Host.
func TestOriginFormRefused(t *testing.T) {
	w := newWorld(t, nil)
	host := fmt.Sprintf("backend.test:%d", w.plain.port)
	resp := w.raw(fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\nConnection: close\r\n\r\n", host, basic("ward")))
	if resp.StatusCode != 400 || resp.Header.Get(ErrorHeader) != string(CodeBadRequest) {
		t.Fatalf("got %d %q, want 400 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeBadRequest)
	}
	resp = w.raw(fmt.Sprintf("GET http://user:pw@%s/ HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\nConnection: close\r\n\r\n", host, host, basic("ward")))
	if resp.StatusCode != 400 {
		t.Fatalf("userinfo in URL: got %d, want 400", resp.StatusCode)
	}
	if n := len(w.plain.requests()); n != 0 {
		t.Fatalf("backend got %d requests, want 0", n)
	}
}
