package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/sandgate/sandgate/gateway/egress"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/telemetry/audit"
)

// EgressConfig is the HTTP egress proxy's listener; the allowlists live in
// the policy files (each sandbox's egress section).
type EgressConfig struct {
	// Listen is the proxy's address; empty means the proxy is off.
	Listen string `yaml:"listen"`
	// TLS makes the listener an HTTPS proxy and, with ClientCAFile, lets
	// sandboxes identify by client certificate.
	TLS EgressTLS `yaml:"tls"`
	// Timeouts bound each phase of a request (durations such as 10s);
	// empty fields keep the proxy's defaults.
	Timeouts EgressTimeouts `yaml:"timeouts"`
}

// EgressTimeouts are egress.Timeouts as durations in YAML.
type EgressTimeouts struct {
	Connect        string `yaml:"connect"`         // TCP connect to the destination [10s]
	DNS            string `yaml:"dns"`             // one name resolution [5s]
	ResponseHeader string `yaml:"response_header"` // destination's response head [30s]
	IdleTunnel     string `yaml:"idle_tunnel"`     // a CONNECT tunnel with no bytes either way [2m]
	ClientHeader   string `yaml:"client_header"`   // the client's request head (slowloris) [10s]
	ClientIdle     string `yaml:"client_idle"`     // a keep-alive client between requests [60s]
}

// fields names each timeout by its YAML path, for validation.
func (t EgressTimeouts) fields() map[string]string {
	return map[string]string{"egress.timeouts.connect": t.Connect, "egress.timeouts.dns": t.DNS,
		"egress.timeouts.response_header": t.ResponseHeader, "egress.timeouts.idle_tunnel": t.IdleTunnel,
		"egress.timeouts.client_header": t.ClientHeader, "egress.timeouts.client_idle": t.ClientIdle}
}

func (t EgressTimeouts) timeouts() egress.Timeouts {
	return egress.Timeouts{Connect: duration(t.Connect), DNS: duration(t.DNS), ResponseHeader: duration(t.ResponseHeader),
		IdleTunnel: duration(t.IdleTunnel), ClientHeader: duration(t.ClientHeader), ClientIdle: duration(t.ClientIdle)}
}

// EgressTLS is the egress proxy's own TLS: off unless CertFile is set.
type EgressTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile holds the CA certificates (PEM) that issue sandboxes'
	// client certificates; a certificate they verify names its sandbox by
	// its subject common name.
	ClientCAFile string `yaml:"client_ca_file"`
	// RequireClientCert refuses clients without a certificate, so
	// Proxy-Authorization passwords are no longer accepted.
	RequireClientCert bool `yaml:"require_client_cert"`
}

// tlsConfig loads the proxy's TLS settings; nil when TLS is off.
func (e EgressTLS) tlsConfig(path func(string) string) (*tls.Config, error) {
	if e.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(path(e.CertFile), path(e.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("egress.tls: load the proxy's certificate and key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}} // egress.Serve sets TLS 1.2 at least and HTTP/1.1
	if e.ClientCAFile != "" {
		pem, err := os.ReadFile(path(e.ClientCAFile))
		if err != nil {
			return nil, fmt.Errorf("egress.tls.client_ca_file: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("egress.tls.client_ca_file %s: no PEM certificate in it", e.ClientCAFile)
		}
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if e.RequireClientCert {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// egressConfig maps the policy's egress sections onto the proxy's config.
// Every sandbox gets an entry: one without an egress section can
// authenticate and reaches nothing.
func egressConfig(set *policy.Set, listen string) (egress.Config, error) {
	cfg := egress.Config{Listen: listen, Sandboxes: map[string]*egress.Sandbox{}}
	for _, name := range set.Names() {
		sb := set.Sandbox(name)
		es := &egress.Sandbox{Verifier: sb.Verifier}
		if e := sb.Egress; e != nil {
			es.Mode = egress.Mode(e.Mode)
			es.RatePerSecond, es.Burst, es.MaxConcurrent, es.MaxTunnels = e.RatePerSecond, e.Burst, e.MaxConcurrent, e.MaxTunnels
			for _, c := range e.AllowCIDRs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return cfg, fmt.Errorf("sandbox %q: egress allow_cidrs %q is not a CIDR range (e.g. 10.20.0.0/16)", name, c)
				}
				es.AllowCIDRs = append(es.AllowCIDRs, p)
			}
			for _, r := range e.Rules {
				es.Rules = append(es.Rules, egress.Rule{ID: r.ID, Hosts: r.Hosts, Ports: r.Ports, Methods: r.Methods, PathPrefixes: r.PathPrefixes})
			}
		}
		cfg.Sandboxes[name] = es
	}
	return cfg, cfg.Validate()
}

// auditEgress writes one audit record per egress request.
func auditEgress(log auditAppender) func(egress.Outcome) {
	return func(o egress.Outcome) {
		d := audit.Allow
		if o.Decision == "deny" {
			d = audit.Deny
		}
		rec := audit.Record{Time: o.Start, Kind: audit.KindEgress, Sandbox: o.Sandbox, User: o.Sandbox, Decision: d,
			Rules: []string{o.Rule}, Destination: o.Destination, Bytes: o.Bytes, TraceID: o.TraceID, ErrorClass: string(o.Code)}
		if o.Decision == "report" {
			rec.Rules = append(rec.Rules, "report-mode: enforce would deny")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := log.Append(ctx, rec); err != nil {
			slog.Error("audit append failed", "kind", "egress", "err", err)
		}
	}
}

// startEgress starts the HTTP egress proxy when configured; the returned
// function shuts it down.
func (gw *gateway) startEgress(ctx context.Context) (func(context.Context) error, error) {
	listen := gw.cfg.Egress.Listen
	if listen == "" {
		return func(context.Context) error { return nil }, nil
	}
	ecfg, err := egressConfig(gw.policy.Load(), listen)
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	if ecfg.TLS, err = gw.cfg.Egress.TLS.tlsConfig(gw.cfg.path); err != nil {
		return nil, err
	}
	ecfg.Timeouts = gw.cfg.Egress.Timeouts.timeouts()
	if ap, err := netip.ParseAddrPort(gw.cfg.Listen); err == nil {
		ecfg.SelfAddrs = append(ecfg.SelfAddrs, ap)
	}
	if o := gw.obs; o != nil {
		ecfg.TracerProvider = o.providers.Tracer
		var write func(egress.Outcome)
		if a := o.auditor(); a != nil {
			write = auditEgress(a)
		}
		ecfg.OnRequest = func(out egress.Outcome) {
			o.metrics.Egress(context.Background(), out.Sandbox, out.Decision)
			if write != nil {
				write(out)
			}
		}
	}
	srv, err := egress.New(ecfg)
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	gw.egress = srv
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("egress listen on %s: %w", listen, err)
	}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			slog.Error("egress proxy stopped", "err", err)
		}
	}()
	slog.Info("egress proxy listening", "addr", ln.Addr().String())
	return srv.Shutdown, nil
}
