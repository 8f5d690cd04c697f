package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	v := verifier(t, "pw")
	good := func() *Sandbox {
		return &Sandbox{Verifier: v, Rules: []Rule{{Hosts: []string{"api.example.org"}, Ports: []int{443}, Methods: []string{"CONNECT"}}}}
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no sandboxes", func(c *Config) { c.Sandboxes = nil }, "no sandbox is configured"},
		{"bad listen", func(c *Config) { c.Listen = "localhost:3128" }, "listen"},
		{"plaintext password", func(c *Config) { c.Sandboxes["a"].Verifier = "hunter2" }, "sandboxes.a.verifier"},
		{"bad mode", func(c *Config) { c.Sandboxes["a"].Mode = "audit" }, "must be enforce or report"},
		{"no hosts", func(c *Config) { c.Sandboxes["a"].Rules[0].Hosts = nil }, "rules[0].hosts: is required"},
		{"middle wildcard", func(c *Config) { c.Sandboxes["a"].Rules[0].Hosts = []string{"api.*.org"} }, "wildcard is allowed only"},
		{"odd IP spelling", func(c *Config) { c.Sandboxes["a"].Rules[0].Hosts = []string{"127.1"} }, "dotted-decimal"},
		{"no ports", func(c *Config) { c.Sandboxes["a"].Rules[0].Ports = nil }, "ports: is required"},
		{"bad port", func(c *Config) { c.Sandboxes["a"].Rules[0].Ports = []int{70000} }, "from 1 to 65535"},
		{"lower-case method", func(c *Config) { c.Sandboxes["a"].Rules[0].Methods = []string{"get"} }, "upper-case"},
		{"dirty prefix", func(c *Config) {
			c.Sandboxes["a"].Rules[0].Methods = nil
			c.Sandboxes["a"].Rules[0].PathPrefixes = []string{"/api/../x"}
		}, "no dot segments"},
		{"connect with paths", func(c *Config) { c.Sandboxes["a"].Rules[0].PathPrefixes = []string{"/api"} }, "cannot allow CONNECT"},
		{"wide cidr", func(c *Config) { c.Sandboxes["a"].AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")} }, "too wide"},
		{"host bits", func(c *Config) { c.Sandboxes["a"].AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/16")} }, "write 10.1.0.0/16"},
		{"negative limit", func(c *Config) { c.Sandboxes["a"].MaxTunnels = -1 }, "must not be negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Sandboxes: map[string]*Sandbox{"a": good()}}
			c.mutate(&cfg)
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want it to wrap ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{Sandboxes: map[string]*Sandbox{"a": {Verifier: "x", Mode: "y", Rules: []Rule{{}}}}}
	err := cfg.Validate()
	for _, want := range []string{"verifier", "mode", "hosts", "ports"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to mention %s", err, want)
		}
	}
}

func TestCredentialCache(t *testing.T) {
	a, err := newAuthenticator(map[string]*Sandbox{"a": {Verifier: verifier(t, "pa")}, "b": {Verifier: verifier(t, "pb")}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := func(user, pw string) map[string][]string {
		return map[string][]string{"Proxy-Authorization": {"Basic " + encode(user+":"+pw)}}
	}
	if got, err := a.authenticate(h("a", "pa")); err != nil || got != "a" {
		t.Fatalf("got %q %v, want a", got, err)
	}
	if _, err := a.authenticate(h("a", "wrong")); !errors.Is(err, errBadCredentials) {
		t.Fatalf("wrong password: got %v, want errBadCredentials", err)
	}
	if _, err := a.authenticate(h("b", "pa")); !errors.Is(err, errBadCredentials) {
		t.Fatalf("a's password for b: got %v, want errBadCredentials", err)
	}
	if len(a.cache) != 1 {
		t.Fatalf("cache holds %d entries, want 1 (failures are not cached)", len(a.cache))
	}
	if _, err := a.authenticate(h("b", "pb")); err != nil {
		t.Fatal(err)
	}
	if len(a.cache) != 1 || a.cached(a.cacheKey("a", "pa"), "a") {
		t.Fatalf("cache of size 1 kept a's entry after b's: %d entries", len(a.cache))
	}
	for k := range a.cache {
		if strings.Contains(string(k[:]), "pb") {
			t.Fatal("cache key contains the password")
		}
	}
}
