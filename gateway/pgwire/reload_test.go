package pgwire

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sandgate/sandgate/policy"
)

// TestApplyPolicy: a reload ends the sessions of a sandbox whose rules
// changed, telling the client why; sessions of sandboxes whose rules are as
// they were go on, and a new session runs under the new rules.
func TestApplyPolicy(t *testing.T) {
	var cur atomic.Pointer[policy.Set]
	cur.Store(testPolicy(t))
	w := newWorld(t, worldOpts{mutate: func(c *Config) { c.Policy = cur.Load }})
	ctx := context.Background()
	tester := connect(t, w.dsn("tester", testPassword, "disable"))
	other := connect(t, w.dsn("other", testPassword, "disable"))
	ensureUsable(t, tester)
	ensureUsable(t, other)

	// The same text compiled again: nothing changed, nothing ends.
	same := testPolicy(t)
	cur.Store(same)
	if n := w.srv.ApplyPolicy(same); n != 0 {
		t.Fatalf("an unchanged policy ended %d sessions", n)
	}
	ensureUsable(t, tester)

	// tester loses the wards table; other is untouched.
	changed := policyWith(t, func(yaml string) string {
		i := strings.Index(yaml, "  - name: tester")
		j := i + strings.Index(yaml[i:], "      wards: {ward_id: allow, name: allow}\n")
		return yaml[:j] + yaml[j+len("      wards: {ward_id: allow, name: allow}\n"):]
	})
	cur.Store(changed)
	if n := w.srv.ApplyPolicy(changed); n != 1 {
		t.Fatalf("ApplyPolicy ended %d sessions, want 1 (tester's)", n)
	}
	var x int
	err := tester.QueryRow(ctx, "select 1").Scan(&x)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P01" || !strings.Contains(pe.Message, `the policy of sandbox "tester" changed`) {
		t.Fatalf("tester's session after the reload: got %v, want FATAL 57P01 saying why", err)
	}
	ensureUsable(t, other)
	again := connect(t, w.dsn("tester", testPassword, "disable"))
	if _, err := again.Exec(ctx, "select name from wards"); pgCode(err) != "42501" {
		t.Fatalf("a new tester session reading wards: got %v, want the new policy's denial", err)
	}
}
