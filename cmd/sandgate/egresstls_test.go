package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandgate/sandgate/gateway/pgwire"
)

// TestEgressTLSConfig: egress.tls loads the proxy's certificate and the
// client CA into a TLS config that verifies client certificates, and
// incomplete settings are refused with the field named.
func TestEgressTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "proxy.crt"), filepath.Join(dir, "proxy.key")
	if err := pgwire.WriteSelfSigned(cert, key); err != nil {
		t.Fatal(err)
	}
	path := func(p string) string { return p }

	off, err := EgressTLS{}.tlsConfig(path)
	if err != nil || off != nil {
		t.Fatalf("no cert_file: got %v, %v; want TLS off", off, err)
	}
	tc, err := EgressTLS{CertFile: cert, KeyFile: key, ClientCAFile: cert}.tlsConfig(path)
	if err != nil || tc == nil || tc.ClientAuth != tls.VerifyClientCertIfGiven || tc.ClientCAs == nil || len(tc.Certificates) != 1 {
		t.Fatalf("client CA: got %+v, %v", tc, err)
	}
	tc, err = EgressTLS{CertFile: cert, KeyFile: key, ClientCAFile: cert, RequireClientCert: true}.tlsConfig(path)
	if err != nil || tc.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("require_client_cert: got %v, %v", tc.ClientAuth, err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if _, err := (EgressTLS{CertFile: cert, KeyFile: key, ClientCAFile: junk}).tlsConfig(path); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("junk client CA: %v", err)
	}

	for _, tc := range []struct {
		yaml, want string
	}{
		{"{listen: 127.0.0.1:3128, tls: {cert_file: a.crt}}", "egress.tls"},
		{"{listen: 127.0.0.1:3128, tls: {client_ca_file: ca.crt}}", "egress.tls.client_ca_file"},
		{"{listen: 127.0.0.1:3128, tls: {cert_file: a.crt, key_file: a.key, require_client_cert: true}}", "egress.tls.require_client_cert"},
	} {
		cfg := "version: 1\nlisten: 127.0.0.1:6432\npolicy: [p.yaml]\nupstream: {host: 127.0.0.1, port: 5432, user: u, password_env: X}\negress: " + tc.yaml + "\n"
		_, err := ParseConfig(strings.NewReader(cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("egress: %s: got %v, want an error naming %s", tc.yaml, err, tc.want)
		}
	}
}
