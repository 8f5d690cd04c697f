package egress

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"testing"
	"time"
)

// TestReload: new rules apply to the next request, open tunnels are closed
// (so a revoked destination does not stay reachable through one), and an
// invalid set is refused with the old one left in force.
func TestReload(t *testing.T) {
	w := newWorld(t, nil)
	target := fmt.Sprintf("example.com:%d", w.tls.port)
	old := w.srv.cfg.Sandboxes
	bad := maps.Clone(old)
	bad["ward"] = &Sandbox{Verifier: "not a verifier"}
	if err := w.srv.Reload(bad); err == nil {
		t.Fatal("Reload accepted a sandbox without a valid verifier")
	}
	if _, _, resp := w.connect("ward", target); resp.StatusCode != 200 {
		t.Fatalf("after a refused reload: got %d, want the old rules (200)", resp.StatusCode)
	}

	// A live tunnel: TLS through it to the backend, one request answered.
	raw, _, resp := w.connect("ward", target)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT before reload: got %d, want 200", resp.StatusCode)
	}
	conn := tls.Client(raw, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true})
	br := bufio.NewReader(conn)
	get := func() (*http.Response, error) {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET /t HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := get(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("request through the tunnel before the reload: %v %v", resp, err)
	}

	revoked := maps.Clone(old)
	ward := *old["ward"]
	ward.Rules = nil
	revoked["ward"] = &ward
	if err := w.srv.Reload(revoked); err != nil {
		t.Fatal(err)
	}
	if resp, err := get(); err == nil {
		t.Fatalf("a tunnel opened before the reload still carried a request: %d", resp.StatusCode)
	}
	if _, _, resp := w.connect("ward", target); resp.StatusCode != 403 || resp.Header.Get(ErrorHeader) != string(CodeNoRule) {
		t.Fatalf("CONNECT after the rule was removed: got %d %q, want 403 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeNoRule)
	}
}
