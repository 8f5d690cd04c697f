package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sandgate/sandgate/policy"
	"go.opentelemetry.io/otel/trace"
)

// DefaultListen is the proxy's default listen address.
const DefaultListen = "127.0.0.1:3128"

// Mode says what a sandbox's allowlist does with a request no rule names.
type Mode string

const (
	// ModeEnforce denies requests that no rule allows. The zero Mode means
	// enforce.
	ModeEnforce Mode = "enforce"
	// ModeReport allows them and logs what enforce would have denied. Only
	// the allowlist is relaxed: authentication, limits and the address
	// checks still apply.
	ModeReport Mode = "report"
)

// Config configures a [Server]. The zero value of every optional field is
// usable and strict.
type Config struct {
	// Listen is the address Serve's caller should listen on. Empty means
	// DefaultListen. The Server itself only uses it to know its own
	// address (see SelfAddrs).
	Listen string
	// Sandboxes maps a sandbox name (the Proxy-Authorization user) to its
	// credentials and allowlist. A sandbox not named here cannot connect.
	Sandboxes map[string]*Sandbox
	// Timeouts bound every phase of a request; zero fields take defaults.
	Timeouts Timeouts
	// Resolver answers DNS queries. Nil means net.DefaultResolver.
	Resolver Resolver
	// SelfAddrs are further addresses of sandgate itself (other listeners,
	// the pgwire port) that no sandbox may reach whatever its AllowCIDRs.
	// The proxy's own listener address is added by Serve.
	SelfAddrs []netip.AddrPort
	// RootCAs verifies upstream TLS for https:// requests in absolute form.
	// Nil means the system roots. Tunnels are never intercepted.
	RootCAs *x509.CertPool
	// CredentialCacheSize bounds the cache of recently verified
	// credentials. Zero means 1024; negative disables the cache.
	CredentialCacheSize int
	// MaxHeaderBytes bounds a client's request head. Zero means 32 KiB.
	MaxHeaderBytes int
	// Logger receives one canonical line per request. Nil means
	// slog.Default().
	Logger *slog.Logger
	// TracerProvider starts one span per request. Nil means no tracing.
	TracerProvider trace.TracerProvider
	// OnRequest, if set, is called once per request, allowed or denied,
	// after it ends (the audit log). It must not block for long.
	OnRequest func(Outcome)
	// TLS, if set, makes the listener an HTTPS proxy: clients reach it
	// over TLS (curl --proxy https://…, a Go client with an https:// proxy
	// URL). Its ClientCAs and ClientAuth decide client certificates: with
	// tls.VerifyClientCertIfGiven a certificate that verifies against
	// ClientCAs names its sandbox by its subject common name (as
	// PostgreSQL's cert authentication names a user) and clients without
	// one use Proxy-Authorization; with tls.RequireAndVerifyClientCert
	// every client needs one. Modes that accept a certificate without
	// verifying it (RequestClientCert, RequireAnyClientCert) are refused.
	TLS *tls.Config
}

// Outcome is what one request did, for the audit log: never a path, a
// query, a header or a body.
type Outcome struct {
	Start       time.Time
	Sandbox     string
	Method      string
	Destination string // host:port
	Decision    string // allow, report or deny
	Rule        string
	Code        ErrorCode
	Status      int
	Bytes       int64 // both directions
	TraceID     string
}

// Sandbox is one sandbox's credentials, allowlist and limits.
type Sandbox struct {
	// Verifier is the sandbox's SCRAM-SHA-256 verifier in PostgreSQL's
	// format (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>),
	// the same one the PG-wire gateway uses. Required.
	Verifier string
	// Mode is enforce (the default when empty) or report.
	Mode Mode
	// Rules is the allowlist; the first matching rule wins. Empty allows
	// nothing.
	Rules []Rule
	// AllowCIDRs lift the address classification for these ranges (e.g.
	// 10.20.0.0/16 for an internal service). They do not allow a host by
	// themselves: a rule must still name it.
	AllowCIDRs []netip.Prefix
	// RatePerSecond is the sustained request rate; Burst the bucket size.
	// Zero means 50 per second with a burst of 100.
	RatePerSecond float64
	Burst         int
	// MaxConcurrent bounds plain HTTP requests in flight. Zero means 64.
	MaxConcurrent int
	// MaxTunnels bounds open CONNECT tunnels. Zero means 32.
	MaxTunnels int
}

// Rule allows a set of destinations.
type Rule struct {
	// ID names the rule in logs, spans and denials. Empty means
	// "<sandbox>#<index>".
	ID string
	// Hosts are host names, "*.example.org" globs (any subdomain at any
	// depth, not the apex), IP literals or CIDR ranges. A name never
	// matches a request for an IP literal, and an IP entry never matches a
	// name. Required.
	Hosts []string
	// Ports are the destination ports. Required.
	Ports []int
	// Methods are the allowed methods for plain HTTP; "CONNECT" allows
	// tunnels. Empty means GET and HEAD only.
	Methods []string
	// PathPrefixes limit plain HTTP paths: "/api" matches /api and /api/…,
	// not /apix. Empty means any path. A rule with path prefixes cannot
	// allow CONNECT, whose paths sandgate cannot see.
	PathPrefixes []string
}

// Timeouts bound each phase. Zero fields take the default in brackets.
type Timeouts struct {
	Connect        time.Duration // TCP connect to the upstream [10s]
	DNS            time.Duration // one name resolution [5s]
	ResponseHeader time.Duration // upstream response head after the request [30s]
	IdleTunnel     time.Duration // a tunnel with no bytes either way [2m]
	ClientHeader   time.Duration // the client's request head (slowloris) [10s]
	ClientIdle     time.Duration // a keep-alive client between requests [60s]
	Shutdown       time.Duration // grace for open tunnels when Serve's context ends [10s]
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Connect, 10*time.Second)
	def(&t.DNS, 5*time.Second)
	def(&t.ResponseHeader, 30*time.Second)
	def(&t.IdleTunnel, 2*time.Minute)
	def(&t.ClientHeader, 10*time.Second)
	def(&t.ClientIdle, 60*time.Second)
	def(&t.Shutdown, 10*time.Second)
	return t
}

// ErrInvalidConfig is wrapped by every [ConfigError].
var ErrInvalidConfig = errors.New("invalid egress configuration")

// ConfigError is one problem in a Config, named by its field.
type ConfigError struct {
	Field string // e.g. sandboxes.ward_a.rules[2].ports
	Value string // the offending value, never a secret
	Msg   string // what is wrong and what to write instead
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("egress: %s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("egress: %s: %s (got %q)", e.Field, e.Msg, e.Value)
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Validate reports every problem in c at once, joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, value, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Listen != "" {
		if _, err := netip.ParseAddrPort(c.Listen); err != nil {
			add("listen", c.Listen, "must be an IP address and port such as 127.0.0.1:3128")
		}
	}
	if len(c.Sandboxes) == 0 {
		add("sandboxes", "", "no sandbox is configured, so every request would be refused; add at least one")
	}
	for _, name := range sortedKeys(c.Sandboxes) {
		validateSandbox(name, c.Sandboxes[name], add)
	}
	if t := c.TLS; t != nil {
		if len(t.Certificates) == 0 && t.GetCertificate == nil && t.GetConfigForClient == nil {
			add("tls", "", "an HTTPS proxy needs its own certificate and key")
		}
		switch t.ClientAuth {
		case tls.RequestClientCert, tls.RequireAnyClientCert:
			add("tls.client_auth", t.ClientAuth.String(), "client certificates must be verified against a CA: use VerifyClientCertIfGiven or RequireAndVerifyClientCert")
		case tls.VerifyClientCertIfGiven, tls.RequireAndVerifyClientCert:
			if t.ClientCAs == nil {
				add("tls.client_cas", "", "verifying client certificates needs the CA that issues them")
			}
		}
	}
	return errors.Join(errs...)
}

type addFunc func(field, value, format string, args ...any)

func validateSandbox(name string, s *Sandbox, add addFunc) {
	f := "sandboxes." + name
	if name == "" || strings.ContainsAny(name, ":\x00") {
		add(f, name, "a sandbox name must be non-empty and contain no colon")
	}
	if s == nil {
		add(f, "", "is empty; give it a verifier and rules")
		return
	}
	if _, err := policy.ParseVerifier(s.Verifier); err != nil {
		add(f+".verifier", "", "%v; generate one with `sandgate passwd` or copy it from pg_authid", err)
	}
	if s.Mode != "" && s.Mode != ModeEnforce && s.Mode != ModeReport {
		add(f+".mode", string(s.Mode), "must be enforce or report")
	}
	if s.RatePerSecond < 0 || s.Burst < 0 || s.MaxConcurrent < 0 || s.MaxTunnels < 0 {
		add(f, "", "rate_per_second, burst, max_concurrent and max_tunnels must not be negative (zero means the default)")
	}
	for i, p := range s.AllowCIDRs {
		validateCIDR(fmt.Sprintf("%s.allow_cidrs[%d]", f, i), p, add)
	}
	for i := range s.Rules {
		validateRule(fmt.Sprintf("%s.rules[%d]", f, i), &s.Rules[i], add)
	}
}

func validateCIDR(f string, p netip.Prefix, add addFunc) {
	switch {
	case !p.IsValid():
		add(f, p.String(), "is not a CIDR range such as 10.20.0.0/16")
	case p.Addr().Is4() && p.Bits() < 8, p.Addr().Is6() && p.Bits() < 16:
		add(f, p.String(), "is too wide; name the specific range the sandbox needs (at least /8 for IPv4, /16 for IPv6)")
	case p != p.Masked():
		add(f, p.String(), "has host bits set; write %s", p.Masked())
	}
}

func validateRule(f string, r *Rule, add addFunc) {
	if len(r.Hosts) == 0 {
		add(f+".hosts", "", "is required; name the hosts this rule allows, e.g. api.example.org or *.example.org")
	}
	for i, h := range r.Hosts {
		if _, err := parseHostPattern(h); err != nil {
			add(fmt.Sprintf("%s.hosts[%d]", f, i), h, "%v", err)
		}
	}
	if len(r.Ports) == 0 {
		add(f+".ports", "", "is required; name the ports, e.g. [443]")
	}
	for _, p := range r.Ports {
		if p < 1 || p > 65535 {
			add(f+".ports", fmt.Sprint(p), "a port must be from 1 to 65535")
		}
	}
	for _, m := range r.Methods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
			add(f+".methods", m, "methods are upper-case tokens such as GET, POST or CONNECT")
		}
	}
	for _, p := range r.PathPrefixes {
		if !strings.HasPrefix(p, "/") || !cleanPath(p) {
			add(f+".path_prefixes", p, "a path prefix starts with / and has no dot segments, double slashes or encoded slashes")
		}
	}
	if len(r.PathPrefixes) > 0 && slices.Contains(r.Methods, "CONNECT") {
		add(f, "", "a rule with path_prefixes cannot allow CONNECT, whose paths sandgate cannot see; split it into two rules")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
