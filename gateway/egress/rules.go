package egress

import (
	"fmt"
	"slices"
	"strings"
)

// rule is a compiled Rule.
type rule struct {
	id       string
	hosts    []hostPattern
	ports    []int
	methods  []string
	prefixes []string
}

func compileRule(sandbox string, i int, r Rule) (rule, error) {
	c := rule{id: r.ID, ports: slices.Clone(r.Ports), methods: slices.Clone(r.Methods), prefixes: slices.Clone(r.PathPrefixes)}
	if c.id == "" {
		c.id = fmt.Sprintf("%s#%d", sandbox, i)
	}
	if len(c.methods) == 0 {
		c.methods = []string{"GET", "HEAD"}
	}
	for _, h := range r.Hosts {
		p, err := parseHostPattern(h)
		if err != nil {
			return rule{}, fmt.Errorf("rule %s host %q: %w", c.id, h, err)
		}
		c.hosts = append(c.hosts, p)
	}
	return c, nil
}

// request is what a rule is matched against.
type request struct {
	host   Host
	method string // CONNECT for tunnels
	path   string // cleaned path for plain HTTP; empty for CONNECT
}

func (r *rule) match(q *request) bool {
	if !slices.Contains(r.ports, q.host.Port) || !slices.Contains(r.methods, q.method) {
		return false
	}
	if !slices.ContainsFunc(r.hosts, func(p hostPattern) bool { return p.match(q.host) }) {
		return false
	}
	if q.method == "CONNECT" {
		return len(r.prefixes) == 0
	}
	if len(r.prefixes) == 0 {
		return true
	}
	return slices.ContainsFunc(r.prefixes, func(p string) bool { return pathHasPrefix(q.path, p) })
}

// pathHasPrefix matches at a segment boundary: /api matches /api and
// /api/x but not /apix; /api/ matches /api/x only.
func pathHasPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// cleanPath reports whether an escaped request path is unambiguous: it has
// no dot segments (plain or percent-encoded), no empty segments, no encoded
// slash or backslash, no backslash, no NUL and no invalid escapes. Such a
// path means the same thing to sandgate and to every upstream.
func cleanPath(escaped string) bool {
	if escaped == "" {
		return true
	}
	if escaped[0] != '/' || strings.Contains(escaped, "//") || strings.ContainsAny(escaped, "\\\x00") {
		return false
	}
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
		return false
	}
	for _, seg := range strings.Split(lower[1:], "/") {
		s := dotReplacer.Replace(seg)
		s, _, _ = strings.Cut(s, ";") // Tomcat reads "..;x" as ".."
		if s == "." || s == ".." || countBadEscapes(seg) > 0 {
			return false
		}
	}
	return true
}

// countBadEscapes counts % signs not followed by two hex digits.
func countBadEscapes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			n++
		}
	}
	return n
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

var dotReplacer = strings.NewReplacer("%2e", ".", "%3b", ";")
