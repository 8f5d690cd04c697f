package egress

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// sandbox is one sandbox at run time: compiled rules, limits and its own
// upstream transport, so no pooled connection is shared between sandboxes.
type sandbox struct {
	name      string
	mode      Mode
	rules     []rule
	addr      addrPolicy
	limiter   *rate.Limiter
	maxConc   int64
	maxTun    int64
	conc      atomic.Int64
	tunnels   atomic.Int64
	transport *http.Transport // https:// in absolute form
	pool      *upstreamPool   // http:// in absolute form
}

func (s *Server) newSandbox(name string, c *Sandbox) (*sandbox, error) {
	sb := &sandbox{name: name, mode: c.Mode, maxConc: int64(c.MaxConcurrent), maxTun: int64(c.MaxTunnels)}
	if sb.mode == "" {
		sb.mode = ModeEnforce
	}
	for i, r := range c.Rules {
		cr, err := compileRule(name, i, r)
		if err != nil {
			return nil, fmt.Errorf("sandbox %s: %w", name, err)
		}
		sb.rules = append(sb.rules, cr)
	}
	sb.addr = addrPolicy{allow: slices.Clone(c.AllowCIDRs), self: s.selfAddrs}
	perSec, burst := c.RatePerSecond, c.Burst
	if perSec == 0 {
		perSec = 50
	}
	if burst == 0 {
		burst = int(math.Max(100, math.Ceil(perSec)))
	}
	sb.limiter = rate.NewLimiter(rate.Limit(perSec), burst)
	if sb.maxConc == 0 {
		sb.maxConc = 64
	}
	if sb.maxTun == 0 {
		sb.maxTun = 32
	}
	sb.transport = s.newTransport()
	sb.pool = newUpstreamPool(s)
	return sb, nil
}

func (sb *sandbox) match(q *request) *rule {
	for i := range sb.rules {
		if sb.rules[i].match(q) {
			return &sb.rules[i]
		}
	}
	return nil
}

// allow takes one token from the rate limiter, or says how long to wait.
func (sb *sandbox) allow(now time.Time) *denial {
	r := sb.limiter.ReserveN(now, 1)
	if !r.OK() {
		return &denial{status: http.StatusTooManyRequests, code: CodeRateLimited, retryAfter: 1,
			reason: "the sandbox's request rate limit is zero"}
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return &denial{status: http.StatusTooManyRequests, code: CodeRateLimited,
			retryAfter: int(math.Ceil(wait.Seconds())),
			reason:     fmt.Sprintf("the sandbox is over its rate of %.4g requests a second", float64(sb.limiter.Limit()))}
	}
	return nil
}

// acquire counts one more in n if that stays within max.
func acquire(n *atomic.Int64, max int64) bool {
	if n.Add(1) > max {
		n.Add(-1)
		return false
	}
	return true
}

func tooMany(code ErrorCode, what string, max int64) *denial {
	return &denial{status: http.StatusTooManyRequests, code: code, retryAfter: 1,
		reason: fmt.Sprintf("the sandbox already has %d %s open, its limit", max, what)}
}

// selfAddrs is the set of sandgate's own addresses, shared by all sandboxes
// and extended when a listener starts.
type selfSet struct {
	p atomic.Pointer[[]netip.AddrPort]
}

func (s *selfSet) load() []netip.AddrPort {
	if p := s.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *selfSet) add(aps ...netip.AddrPort) {
	for {
		old := s.p.Load()
		var next []netip.AddrPort
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, aps...)
		if s.p.CompareAndSwap(old, &next) {
			return
		}
	}
}
