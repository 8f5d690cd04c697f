package egress

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseHost checks that authority parsing never panics, normalises
// idempotently, and reads dotted-decimal IPv4 the way netip does.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"example.org:443", "EXAMPLE.org.:80", "127.1:80", "2130706433:80", "0x7f000001:80", "0177.0.0.1:80",
		"[::ffff:127.0.0.1]:80", "[64:ff9b::7f00:1]:80", "[fe80::1%25eth0]:80", "0:80", "999.1.1.1:80",
		"bücher.example:443", "xn--bcher-kva.example:443", "a..b:80", ":80", "host:", "host:0", "host:65536",
		"host:+80", "[::1", "1.2.3.4.5:80", "0x:80", "0xffffffff:1", "4294967296:1", "", "*.example.org:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, a string) {
		h, err := ParseHost(a, 80)
		if err != nil {
			return
		}
		if h.IP.IsValid() == (h.Name != "") {
			t.Fatalf("%q: got name %q and IP %v, want exactly one", a, h.Name, h.IP)
		}
		if h.Port < 1 || h.Port > 65535 {
			t.Fatalf("%q: port %d", a, h.Port)
		}
		if h.Name != "" && (h.Name != strings.ToLower(h.Name) || strings.HasSuffix(h.Name, ".") || !isASCII(h.Name)) {
			t.Fatalf("%q: name %q is not normalised", a, h.Name)
		}
		again, err := ParseHost(h.String(), 0)
		if err != nil || again != h {
			t.Fatalf("%q: re-parsing %q gave %+v, %v; want %+v", a, h.String(), again, err, h)
		}
		host := a
		if i := strings.LastIndexByte(a, ':'); i >= 0 && !strings.HasPrefix(a, "[") {
			host = a[:i]
		}
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() && ip != h.IP {
			t.Fatalf("%q: got %v, netip reads %v", a, h.IP, ip)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestIPSpellings pins the inet_aton readings the fuzz target relies on.
func TestIPSpellings(t *testing.T) {
	for in, want := range map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"0x7f.1": "127.0.0.1", "127.0.1": "127.0.0.1", "0": "0.0.0.0", "0x": "0.0.0.0", "010.0.0.1": "8.0.0.1",
		"169.254.43518": "169.254.169.254", "0xA9FEA9FE": "169.254.169.254",
	} {
		ip, ok := parseIPv4Spelling(in)
		if !ok || ip.String() != want {
			t.Errorf("%s: got %v %v, want %s", in, ip, ok, want)
		}
	}
	for _, in := range []string{"256.0.0.1", "1.2.3.4.5", "0x100.1", "09.1.1.1", "1..1", "4294967296", "1.2.3.256", "-1"} {
		if ip, ok := parseIPv4Spelling(in); ok {
			t.Errorf("%s: got %v, want no IPv4 reading", in, ip)
		}
	}
}

func TestClassifyEmbeddings(t *testing.T) {
	for in, want := range map[string]Class{
		"8.8.8.8": ClassPublic, "2606:4700::1111": ClassPublic, "64:ff9b::808:808": ClassPublic,
		"64:ff9b::a00:1": ClassPrivate, "2002:a9fe:a9fe::": ClassMetadata, "2002:808:808::": ClassPublic,
		"2001:0:4136:e378:8000:63bf:80ff:fffe": ClassLoopback, "2001:0:a00:1::": ClassPrivate,
		"::ffff:8.8.8.8": ClassMapped, "::127.0.0.1": ClassReserved, "fd00:ec2::254": ClassMetadata,
	} {
		if got := classify(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

// FuzzPlainLDH checks the fast path against the IDNA profile: whenever it
// accepts a name, ToASCII returns the name unchanged.
func FuzzPlainLDH(f *testing.F) {
	for _, s := range []string{"example.org", "a-b.c", "xn--bcher-kva.example", "a--b.c", "-a.b", "a-.b", "_dmarc.x", "a..b", "A.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainLDH(s) {
			return
		}
		a, err := idnaProfile.ToASCII(s)
		if err != nil || a != s {
			t.Fatalf("%q: fast path accepts, ToASCII gives %q, %v", s, a, err)
		}
	})
}
