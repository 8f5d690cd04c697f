package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Host is a parsed request target.
type Host struct {
	// Name is the normalised host name (lower-case, no trailing dot,
	// Punycode), empty when the target is an IP literal.
	Name string
	// IP is the target's address when it is an IP literal in any spelling.
	IP netip.Addr
	// Port is the destination port.
	Port int
}

// String renders h as host:port, with IPv6 literals in brackets.
func (h Host) String() string {
	if h.IP.IsValid() {
		return netip.AddrPortFrom(h.IP, uint16(h.Port)).String()
	}
	return h.Name + ":" + strconv.Itoa(h.Port)
}

// hostname is the name or the IP literal without port.
func (h Host) hostname() string {
	if h.IP.IsValid() {
		return h.IP.String()
	}
	return h.Name
}

var errBadHost = errors.New("bad host")

// maxHostLen bounds an authority before any parsing.
const maxHostLen = 1024

// ParseHost parses an authority (host, host:port, [v6]:port) the way curl
// and glibc would use it. defaultPort is used when the authority has no port;
// zero means a port is required. Any host that inet_aton would accept —
// 127.1, 2130706433, 0x7f000001, 0177.0.0.1 — is returned as that IP, and a
// host whose last label is numeric but which is no valid IPv4 address is an
// error, so such a host can never be looked up as a name.
func ParseHost(authority string, defaultPort int) (Host, error) {
	if authority == "" || len(authority) > maxHostLen {
		return Host{}, fmt.Errorf("%w: empty or longer than %d bytes", errBadHost, maxHostLen)
	}
	host, port, err := splitHostPort(authority, defaultPort)
	if err != nil {
		return Host{}, err
	}
	if strings.HasPrefix(host, "[") {
		ip, err := parseBracketed(host)
		return Host{IP: ip, Port: port}, err
	}
	if strings.ContainsAny(host, "[]%@:\\/ ") {
		return Host{}, fmt.Errorf("%w: %q has characters not allowed in a host", errBadHost, host)
	}
	h := strings.TrimSuffix(host, ".")
	if ip, ok := parseIPv4Spelling(h); ok {
		return Host{IP: ip, Port: port}, nil
	}
	if looksNumeric(h) {
		return Host{}, fmt.Errorf("%w: %q is neither a valid IPv4 address nor a name", errBadHost, host)
	}
	name, err := normaliseName(h)
	if err != nil {
		return Host{}, err
	}
	return Host{Name: name, Port: port}, nil
}

// splitHostPort splits host and port without net.SplitHostPort's leniency:
// the port is decimal digits from 1 to 65535, with no sign or spaces.
func splitHostPort(a string, defaultPort int) (string, int, error) {
	host, portStr := a, ""
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%w: unclosed [ in %q", errBadHost, a)
		}
		host, portStr = a[:end+1], a[end+1:]
		if portStr != "" && !strings.HasPrefix(portStr, ":") {
			return "", 0, fmt.Errorf("%w: junk after ] in %q", errBadHost, a)
		}
		portStr = strings.TrimPrefix(portStr, ":")
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, portStr = a[:i], a[i+1:]
	}
	if host == "" || host == "[]" {
		return "", 0, fmt.Errorf("%w: no host in %q", errBadHost, a)
	}
	if portStr == "" {
		if defaultPort == 0 {
			return "", 0, fmt.Errorf("%w: %q has no port", errBadHost, a)
		}
		return host, defaultPort, nil
	}
	if len(portStr) > 5 || strings.Trim(portStr, "0123456789") != "" {
		return "", 0, fmt.Errorf("%w: bad port %q", errBadHost, portStr)
	}
	p, _ := strconv.Atoi(portStr)
	if p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("%w: port %d out of range", errBadHost, p)
	}
	return host, p, nil
}

func parseBracketed(h string) (netip.Addr, error) {
	inner := h[1 : len(h)-1]
	if strings.Contains(inner, "%") {
		return netip.Addr{}, fmt.Errorf("%w: IPv6 zones are not allowed", errBadHost)
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil || !ip.Is6() {
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IPv6 literal", errBadHost, h)
	}
	return ip, nil
}

// parseIPv4Spelling parses s as inet_aton(3) does: one to four parts
// separated by dots, each decimal, octal (leading 0) or hex (0x); the last
// part fills the remaining bytes.
func parseIPv4Spelling(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		v, ok := parseAtonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	var ip uint64
	for i := 0; i < n-1; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		ip |= vals[i] << (24 - 8*uint(i))
	}
	rest := 8 * uint(4-(n-1))
	if vals[n-1] >= 1<<rest {
		return netip.Addr{}, false
	}
	ip |= vals[n-1]
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func parseAtonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base, digits := 10, p
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, digits = 16, p[2:]
		if digits == "" { // glibc reads "0x" as zero
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	if len(digits) > 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil || v > 0xffffffff {
		return 0, false
	}
	return v, true
}

// looksNumeric reports whether the last label of s is a number in any base:
// the WHATWG URL standard treats such a host as an IPv4 address or an error.
func looksNumeric(s string) bool {
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last == "" {
		return false
	}
	if strings.Trim(last, "0123456789") == "" {
		return true
	}
	l := strings.ToLower(last)
	return strings.HasPrefix(l, "0x") && strings.Trim(l[2:], "0123456789abcdef") == ""
}

var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.ValidateLabels(true), idna.StrictDomainName(false), idna.VerifyDNSLength(true))

// normaliseName lower-cases and converts IDNA to
// Punycode. It accepts letters, digits, hyphens and underscores in labels.
func normaliseName(s string) (string, error) {
	if plainLDH(s) {
		return s, nil // what ToASCII would return, without its cost
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: host name is not valid UTF-8", errBadHost)
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not a valid host name", errBadHost, s)
	}
	if again, err := idnaProfile.ToASCII(a); err != nil || again != a {
		return "", fmt.Errorf("%w: %q does not have one stable ASCII form", errBadHost, s)
	}
	a = strings.ToLower(a)
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%w: %q has an empty or over-long label", errBadHost, s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%w: %q has a character not allowed in a host name", errBadHost, s)
			}
		}
	}
	return a, nil
}

// hostPattern is one compiled Rule.Hosts entry.
type hostPattern struct {
	name   string       // exact name, or the suffix ".example.org" of a glob
	glob   bool         // name is a "*." suffix
	prefix netip.Prefix // IP literal or CIDR entry
}

func parseHostPattern(s string) (hostPattern, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return hostPattern{prefix: p.Masked()}, nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return hostPattern{prefix: netip.PrefixFrom(ip, ip.BitLen())}, nil
	}
	rest, glob := strings.CutPrefix(s, "*.")
	if strings.Contains(rest, "*") {
		return hostPattern{}, errors.New("a wildcard is allowed only as a leading \"*.\" (e.g. *.example.org)")
	}
	if _, ok := parseIPv4Spelling(strings.TrimSuffix(rest, ".")); ok || looksNumeric(strings.TrimSuffix(rest, ".")) {
		return hostPattern{}, errors.New("write IP addresses in dotted-decimal form or as a CIDR range")
	}
	name, err := normaliseName(strings.TrimSuffix(rest, "."))
	if err != nil {
		return hostPattern{}, errors.New("is not a valid host name")
	}
	if glob {
		return hostPattern{name: "." + name, glob: true}, nil
	}
	return hostPattern{name: name}, nil
}

// match reports whether the pattern matches h. Names match only names, IP
// patterns only IP literals.
func (p hostPattern) match(h Host) bool {
	if h.IP.IsValid() {
		return p.prefix.IsValid() && p.prefix.Contains(h.IP)
	}
	if p.prefix.IsValid() {
		return false
	}
	if p.glob {
		return strings.HasSuffix(h.Name, p.name)
	}
	return h.Name == p.name
}

// plainLDH reports whether s is already a normalised ASCII name: lower-case
// letters, digits, hyphens and underscores in labels of 1 to 63 bytes, at
// most 253 bytes, and no Punycode label (those go through IDNA validation).
func plainLDH(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		case c == '-':
			if label == 0 || i+1 == len(s) || s[i+1] == '.' {
				return false // IDNA rejects leading and trailing hyphens
			}
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
		if label == 4 && s[i-3:i+1] == "xn--" || label == 4 && s[i-1:i+1] == "--" {
			return false
		}
	}
	return label > 0
}
