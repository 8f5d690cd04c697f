package main

import (
	"strings"
	"testing"
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
