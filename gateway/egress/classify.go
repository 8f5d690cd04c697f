package egress

import (
	"net/netip"
)

// Class names why an address may not be reached. The empty Class is a
// public address.
type Class string

const (
	ClassPublic        Class = ""
	ClassUnspecified   Class = "unspecified"
	ClassLoopback      Class = "loopback"
	ClassPrivate       Class = "private"
	ClassLinkLocal     Class = "link-local"
	ClassMetadata      Class = "cloud-metadata"
	ClassCGNAT         Class = "cgnat"
	ClassUniqueLocal   Class = "unique-local"
	ClassMapped        Class = "ipv4-mapped"
	ClassMulticast     Class = "multicast"
	ClassBroadcast     Class = "broadcast"
	ClassReserved      Class = "reserved"
	ClassDocumentation Class = "documentation"
	ClassBenchmarking  Class = "benchmarking"
	ClassThisNetwork   Class = "this-network"
	ClassSelf          Class = "sandgate"
)

type classRange struct {
	prefix netip.Prefix
	class  Class
}

// deniedRanges are checked in order; the first match names the class. The
// embedding prefixes (NAT64, 6to4, Teredo) are handled in classify.
var deniedRanges = func() []classRange {
	r := []struct{ p, c string }{
		{"169.254.169.254/32", string(ClassMetadata)},
		{"fd00:ec2::254/128", string(ClassMetadata)},
		{"0.0.0.0/8", string(ClassThisNetwork)},
		{"10.0.0.0/8", string(ClassPrivate)},
		{"100.64.0.0/10", string(ClassCGNAT)},
		{"127.0.0.0/8", string(ClassLoopback)},
		{"169.254.0.0/16", string(ClassLinkLocal)},
		{"172.16.0.0/12", string(ClassPrivate)},
		{"192.0.0.0/24", string(ClassReserved)}, // IETF protocol assignments
		{"192.0.2.0/24", string(ClassDocumentation)},
		{"192.88.99.0/24", string(ClassReserved)}, // 6to4 relay anycast
		{"192.168.0.0/16", string(ClassPrivate)},
		{"198.18.0.0/15", string(ClassBenchmarking)},
		{"198.51.100.0/24", string(ClassDocumentation)},
		{"203.0.113.0/24", string(ClassDocumentation)},
		{"224.0.0.0/4", string(ClassMulticast)},
		{"255.255.255.255/32", string(ClassBroadcast)},
		{"240.0.0.0/4", string(ClassReserved)},
		{"::/128", string(ClassUnspecified)},
		{"::1/128", string(ClassLoopback)},
		{"::ffff:0:0/96", string(ClassMapped)},
		{"::/96", string(ClassReserved)}, // deprecated IPv4-compatible
		{"64:ff9b:1::/48", string(ClassReserved)},
		{"100::/64", string(ClassReserved)}, // discard-only
		{"2001:db8::/32", string(ClassDocumentation)},
		{"2001:2::/48", string(ClassBenchmarking)},
		{"2001:10::/28", string(ClassReserved)}, // ORCHID
		{"3fff::/20", string(ClassDocumentation)},
		{"fc00::/7", string(ClassUniqueLocal)},
		{"fe80::/10", string(ClassLinkLocal)},
		{"fec0::/10", string(ClassReserved)}, // site-local, deprecated
		{"ff00::/8", string(ClassMulticast)},
	}
	out := make([]classRange, len(r))
	for i, x := range r {
		out[i] = classRange{netip.MustParsePrefix(x.p), Class(x.c)}
	}
	return out
}()

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	six4   = netip.MustParsePrefix("2002::/16")
	teredo = netip.MustParsePrefix("2001::/32")
)

// classify returns the class of ip ignoring any allowance, looking through
// NAT64, 6to4 and Teredo embeddings to the IPv4 addresses they carry.
func classify(ip netip.Addr) Class {
	ip = ip.WithZone("")
	for _, r := range deniedRanges {
		if r.prefix.Contains(ip) {
			return r.class
		}
	}
	if !ip.Is6() {
		return ClassPublic
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return classify(netip.AddrFrom4([4]byte(b[12:16])))
	case six4.Contains(ip):
		return classify(netip.AddrFrom4([4]byte(b[2:6])))
	case teredo.Contains(ip):
		if c := classify(netip.AddrFrom4([4]byte(b[4:8]))); c != ClassPublic {
			return c
		}
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return classify(netip.AddrFrom4(client))
	}
	return ClassPublic
}

// alwaysDenied classes cannot be lifted by AllowCIDRs: connecting to them
// reaches the local host or no host at all.
func alwaysDenied(c Class) bool {
	switch c {
	case ClassUnspecified, ClassThisNetwork, ClassMulticast, ClassBroadcast, ClassSelf:
		return true
	}
	return false
}

// addrPolicy decides whether one resolved address may be dialled for one
// sandbox.
type addrPolicy struct {
	allow []netip.Prefix
	self  *selfSet
}

// check returns ClassPublic when ap may be dialled, else why not.
func (p *addrPolicy) check(ap netip.AddrPort) Class {
	ip := ap.Addr().WithZone("")
	for _, s := range p.self.load() {
		sip := s.Addr()
		if s.Port() == ap.Port() && sip == ip {
			return ClassSelf
		}
	}
	c := classify(ip)
	if c == ClassPublic || alwaysDenied(c) {
		return c
	}
	for _, a := range p.allow {
		if a.Contains(ip) {
			return ClassPublic
		}
	}
	return c
}
