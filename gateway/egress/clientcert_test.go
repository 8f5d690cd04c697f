package egress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA issues certificates for the client-certificate tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a leaf certificate: a client one named cn, or a server one
// for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM writes a certificate and its key as PEM files and returns them.
func writePEM(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestClientCertificateIdentity runs the proxy as an HTTPS proxy whose
// client certificates, verified against the sandboxes' CA, name the
// sandbox by common name; Proxy-Authorization still works without one.
func TestClientCertificateIdentity(t *testing.T) {
	ca, rogue := newTestCA(t, "sandgate sandbox CA"), newTestCA(t, "someone else's CA")
	proxyCert := ca.issue(t, "sandgate egress", true)
	w := newWorld(t, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{proxyCert}, ClientCAs: ca.pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	})
	proxyURL, _ := url.Parse(w.proxyURL)
	target := fmt.Sprintf("http://backend.test:%d/hello", w.plain.port)

	// client goes through the HTTPS proxy with cert (if any) and the
	// Basic credentials of basicFor (if any).
	client := func(cert *tls.Certificate, basicFor string) *http.Client {
		u := *proxyURL
		if basicFor != "" {
			u.User = url.UserPassword(basicFor, passwords[basicFor])
		}
		roots := ca.pool()
		roots.AddCert(w.tls.Certificate()) // the TLS backend, for tunnels
		tc := &tls.Config{RootCAs: roots}
		if cert != nil {
			// Sent whatever the proxy asks for, so a certificate from
			// another CA reaches it too.
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		tr := &http.Transport{Proxy: http.ProxyURL(&u), TLSClientConfig: tc, DisableKeepAlives: true}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	ward, unknown, foreign := ca.issue(t, "ward", false), ca.issue(t, "nobody", false), rogue.issue(t, "ward", false)

	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		basicFor string
		url      string
		status   int
		code     ErrorCode
		identity string
	}{
		{"certificate", &ward, "", target, http.StatusOK, "", "certificate"},
		{"certificate through a tunnel", &ward, "", fmt.Sprintf("https://example.com:%d/t", w.tls.port), http.StatusOK, "", "certificate"},
		{"certificate and matching password", &ward, "ward", target, http.StatusOK, "", "certificate"},
		{"password without certificate", nil, "ward", target, http.StatusOK, "", "password"},
		{"certificate of an unconfigured sandbox", &unknown, "", target, http.StatusProxyAuthRequired, CodeAuthFailed, ""},
		{"certificate and password disagree", &ward, "strict", target, http.StatusProxyAuthRequired, CodeAuthFailed, ""},
		{"neither", nil, "", target, http.StatusProxyAuthRequired, CodeAuthRequired, ""},
		{"certificate's rules still apply", &ward, "", "http://backend.test:1/", http.StatusForbidden, CodeNoRule, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.canonical())
			resp, err := client(tc.cert, tc.basicFor).Get(tc.url)
			if tc.status != http.StatusOK && strings.HasPrefix(tc.url, "https://") {
				t.Fatal("a refused tunnel surfaces as a client error; test it with http:// targets")
			}
			if err != nil {
				t.Fatalf("GET %s: %v", tc.url, err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || resp.Header.Get(ErrorHeader) != string(tc.code) {
				t.Fatalf("status %d code %q, want %d %q; body %s", resp.StatusCode, resp.Header.Get(ErrorHeader), tc.status, tc.code, body)
			}
			if tc.status == http.StatusOK && !strings.Contains(body, "hello from") {
				t.Fatalf("body %q is not the backend's", body)
			}
			// A tunnel's line is written when it closes, just after the
			// client has its answer.
			lines := w.canonical()
			for i := 0; i < 200 && len(lines) <= before; i++ {
				time.Sleep(10 * time.Millisecond)
				lines = w.canonical()
			}
			if len(lines) <= before {
				t.Fatal("no canonical log line")
			}
			if want := fmt.Sprintf(`"identity":"%s"`, tc.identity); !strings.Contains(lines[len(lines)-1], want) {
				t.Errorf("log line lacks %s: %s", want, lines[len(lines)-1])
			}
		})
	}

	t.Run("certificate from another CA", func(t *testing.T) {
		_, err := client(&foreign, "").Get(target)
		if err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
	})

	t.Run("curl", func(t *testing.T) {
		if curlPath == "" {
			t.Fatal("curl not found: apt-get install curl (make test installs it)")
		}
		dir := t.TempDir()
		caFile := filepath.Join(dir, "ca.crt")
		os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600)
		certFile, keyFile := writePEM(t, dir, "ward", ward)
		out, err := exec.Command(curlPath, "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
			"--proxy", w.proxyURL, "--proxy-cacert", caFile, "--proxy-cert", certFile, "--proxy-key", keyFile, target).CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Fatalf("curl through the HTTPS proxy with the sandbox's certificate: %s %v", out, err)
		}
	})
}

// TestClientCertificateConfig: modes that would take a certificate on
// trust, or verify one without a CA, are refused.
func TestClientCertificateConfig(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert := ca.issue(t, "proxy", true)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"unverified certificates", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert, ClientCAs: ca.pool()}, "must be verified"},
		{"requested but unverified", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}, "must be verified"},
		{"no CA", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven}, "needs the CA"},
		{"no server certificate", &tls.Config{ClientAuth: tls.NoClientCert}, "own certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Sandboxes: map[string]*Sandbox{"ward": {Verifier: verifier(t, "pw")}}, TLS: tc.tls}
			err := cfg.Validate()
			var ce *ConfigError
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a ConfigError saying %q", err, tc.want)
			}
		})
	}
}
