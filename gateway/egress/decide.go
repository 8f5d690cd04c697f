package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Resolver is the name resolution egress needs; *net.Resolver implements
// it. Tests inject answers through it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// decision is an allowed request: the rule and the addresses checked.
type decision struct {
	sandbox *sandbox
	rule    string
	report  bool // allowed only because the sandbox is in report mode
	addrs   []netip.AddrPort
}

// maxAddrs bounds how many resolved addresses are checked and tried.
const maxAddrs = 16

// decide matches the allowlist, resolves the host once and classifies every
// address it resolves to.
func (s *Server) decide(ctx context.Context, sb *sandbox, q *request) (*decision, *denial) {
	d := &decision{sandbox: sb}
	if r := sb.match(q); r != nil {
		d.rule = r.id
	} else if sb.mode == ModeReport {
		d.rule, d.report = "report-only; enforce would deny, missing: "+noRule(q).rule, true
	} else {
		return nil, noRule(q)
	}
	ips, den := s.resolve(ctx, q.host)
	if den != nil {
		return nil, den
	}
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip, uint16(q.host.Port))
		if c := sb.addr.check(ap); c != ClassPublic {
			return nil, addressDenied(q.host, ip, c)
		}
		d.addrs = append(d.addrs, ap)
	}
	return d, nil
}

func (s *Server) resolve(ctx context.Context, h Host) ([]netip.Addr, *denial) {
	if h.IP.IsValid() {
		return []netip.Addr{h.IP}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeouts.DNS)
	defer cancel()
	answers, err := s.resolver.LookupIPAddr(ctx, h.Name)
	if err != nil || len(answers) == 0 {
		return nil, &denial{status: http.StatusBadGateway, code: CodeResolveFailed,
			reason: fmt.Sprintf("the name %s did not resolve", h.Name)}
	}
	if len(answers) > maxAddrs {
		answers = answers[:maxAddrs] // every one kept is checked; the rest are never dialled
	}
	ips := make([]netip.Addr, 0, len(answers))
	for _, a := range answers {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return nil, &denial{status: http.StatusBadGateway, code: CodeResolveFailed,
				reason: fmt.Sprintf("the name %s resolved to an unreadable address", h.Name)}
		}
		ips = append(ips, ip.Unmap())
	}
	return ips, nil
}

func addressDenied(h Host, ip netip.Addr, c Class) *denial {
	d := &denial{status: http.StatusForbidden, code: CodeAddressDenied}
	if h.IP.IsValid() {
		d.reason = fmt.Sprintf("%s is a %s address", ip, c)
	} else {
		d.reason = fmt.Sprintf("%s resolves to %s, a %s address", h.Name, ip, c)
	}
	if !alwaysDenied(c) {
		d.rule = fmt.Sprintf("allow_cidrs: [%s/%d] (only if this internal destination is intended)", ip, ip.BitLen())
	} else {
		d.reason += " that no sandbox may reach"
	}
	return d
}

var errAddrDenied = errors.New("address denied")

// dial connects to the first of the checked addresses that answers. The
// dialer's Control hook checks the final address once more.
func (s *Server) dial(ctx context.Context, d *decision) (net.Conn, error) {
	dialer := net.Dialer{Timeout: s.timeouts.Connect, Control: d.sandbox.control, KeepAlive: 30 * time.Second}
	var errs []error
	for _, ap := range d.addrs {
		c, err := dialer.DialContext(ctx, "tcp", ap.String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("dial %d checked addresses: %w", len(d.addrs), errors.Join(errs...))
}

// control is the dialer's last look at the address it is about to connect.
func (sb *sandbox) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("control %s: %w", address, err)
	}
	if c := sb.addr.check(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())); c != ClassPublic {
		return fmt.Errorf("control %s (%s): %w", address, c, errAddrDenied)
	}
	return nil
}
