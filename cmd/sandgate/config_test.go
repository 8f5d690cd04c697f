package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sandgate/sandgate/gateway/egress"
)

// TestAuditGroupWindowConfig: audit.group_window takes a duration from
// 1ms to 1s, for group commit only.
func TestAuditGroupWindowConfig(t *testing.T) {
	base := "version: 1\nlisten: 127.0.0.1:6432\npolicy: [p.yaml]\nupstream: {host: 127.0.0.1, port: 5432, user: u, password_env: X}\n"
	for _, tc := range []struct {
		audit, want string
	}{
		{"{dir: a, group_window: 20ms}", ""},
		{"{dir: a, durability: group, group_window: 1s}", ""},
		{"{dir: a, group_window: 0s}", "audit.group_window"},
		{"{dir: a, group_window: 2s}", "audit.group_window"},
		{"{dir: a, group_window: soon}", "audit.group_window"},
		{"{dir: a, durability: fsync, group_window: 5ms}", "durability group only"},
	} {
		_, err := ParseConfig(strings.NewReader(base + "audit: " + tc.audit + "\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("audit: %s: %v", tc.audit, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("audit: %s: got %v, want an error saying %s", tc.audit, err, tc.want)
		}
	}
}

// TestEgressTimeoutsConfig: egress.timeouts reach the proxy, and a bad
// duration is refused with its field named.
func TestEgressTimeoutsConfig(t *testing.T) {
	base := "version: 1\nlisten: 127.0.0.1:6432\npolicy: [p.yaml]\nupstream: {host: 127.0.0.1, port: 5432, user: u, password_env: X}\n"
	cfg, err := ParseConfig(strings.NewReader(base + "egress: {listen: 127.0.0.1:3128, timeouts: {connect: 3s, dns: 1s, response_header: 20s, idle_tunnel: 1m, client_header: 4s, client_idle: 30s}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Egress.Timeouts.timeouts()
	want := egress.Timeouts{Connect: 3 * time.Second, DNS: time.Second, ResponseHeader: 20 * time.Second,
		IdleTunnel: time.Minute, ClientHeader: 4 * time.Second, ClientIdle: 30 * time.Second}
	if got != want {
		t.Fatalf("timeouts %+v, want %+v", got, want)
	}
	_, err = ParseConfig(strings.NewReader(base + "egress: {listen: 127.0.0.1:3128, timeouts: {idle_tunnel: forever}}\n"))
	if err == nil || !strings.Contains(err.Error(), "egress.timeouts.idle_tunnel") {
		t.Fatalf("bad idle_tunnel: %v", err)
	}
}

// TestRelayConfig: relay is loop or goroutines, and anything else is
// refused with the field named.
func TestRelayConfig(t *testing.T) {
	base := "version: 1\nlisten: 127.0.0.1:6432\npolicy: [p.yaml]\nupstream: {host: 127.0.0.1, port: 5432, user: u, password_env: X}\n"
	for _, tc := range []struct{ relay, want string }{
		{"", ""}, {"relay: loop\n", ""}, {"relay: goroutines\n", ""}, {"relay: threads\n", "relay"},
	} {
		cfg, err := ParseConfig(strings.NewReader(base + tc.relay))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.relay, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "must be loop or goroutines")):
			t.Errorf("%q: got %v, want an error naming %s", tc.relay, err, tc.want)
		case err == nil && strings.Contains(tc.relay, "goroutines") != (cfg.Relay == "goroutines"):
			t.Errorf("%q: read as %q", tc.relay, cfg.Relay)
		}
	}
}
