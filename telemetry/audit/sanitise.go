package audit

import (
	"net"
	"net/url"
	"strings"
)

// SanitiseDestination reduces an egress destination to host[:port]: a
// scheme, user information, path, query and fragment are dropped, since
// any of them may carry a value.
func SanitiseDestination(d string) string {
	if d == "" {
		return ""
	}
	if strings.Contains(d, "://") {
		u, err := url.Parse(d)
		if err != nil {
			return "invalid"
		}
		return u.Host
	}
	if i := strings.LastIndexByte(d, '@'); i >= 0 {
		d = d[i+1:]
	}
	if i := strings.IndexAny(d, "/?#"); i >= 0 {
		d = d[:i]
	}
	if _, _, err := net.SplitHostPort(d); err == nil || !strings.Contains(d, ":") {
		return d
	}
	return "invalid"
}

// SanitiseClass keeps an error class to a short token of lower-case
// letters, digits, '_', '.' and '-': a class, never a message.
func SanitiseClass(c string) string {
	if len(c) > 64 {
		c = c[:64]
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == '-') {
			return "other"
		}
	}
	return c
}
