package egress

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ErrorCode is the stable value of the X-Sandgate-Error header.
type ErrorCode string

// Error codes. They are part of the API: scripts and dashboards match them.
const (
	CodeAuthRequired   ErrorCode = "auth_required"   // 407: no Proxy-Authorization
	CodeAuthFailed     ErrorCode = "auth_failed"     // 407: unknown sandbox or wrong password
	CodeBadRequest     ErrorCode = "bad_request"     // 400: not a proxy request, bad host or port
	CodeBadPath        ErrorCode = "bad_path"        // 400: ambiguous path (dot segments, //, encoded /)
	CodeNoRule         ErrorCode = "no_rule"         // 403: the allowlist names no such destination
	CodeAddressDenied  ErrorCode = "address_denied"  // 403: a resolved address is private, loopback, …
	CodeResolveFailed  ErrorCode = "resolve_failed"  // 502: the name did not resolve
	CodeUpstream       ErrorCode = "upstream_failed" // 502: connect or response failure
	CodeRateLimited    ErrorCode = "rate_limited"    // 429: request rate over the sandbox's limit
	CodeTooConcurrent  ErrorCode = "too_many_requests_in_flight"
	CodeTooManyTunnels ErrorCode = "too_many_tunnels"
	CodeHostMismatch   ErrorCode = "host_mismatch" // 403: Host or SNI inside a tunnel differs from its target
	CodeShuttingDown   ErrorCode = "shutting_down"
)

// ErrorHeader is the response header that carries an ErrorCode.
const ErrorHeader = "X-Sandgate-Error"

// denial is a refused request, rendered for the client and the log.
type denial struct {
	status     int
	code       ErrorCode
	rule       string // the rule that was missing, in the policy's words
	reason     string // one sentence for the client and the log
	retryAfter int    // seconds, for 429
}

// body renders the denial for a person: who, where, what was missing and
// how to ask for it.
func (d *denial) body(sandbox, dest string) string {
	var b strings.Builder
	if sandbox == "" {
		sandbox = "(not identified)"
	}
	fmt.Fprintf(&b, "sandgate egress: request from sandbox %s to %s refused (%s).\n", sandbox, dest, d.code)
	fmt.Fprintf(&b, "Reason: %s\n", d.reason)
	if d.rule != "" {
		fmt.Fprintf(&b, "Missing rule: %s\n", d.rule)
		b.WriteString("Try: ask your information governance team to add this rule to the sandbox's egress allowlist in the sandgate policy, and say why the prototype needs it.\n")
	}
	return b.String()
}

func (d *denial) writeHeaders(h http.Header) {
	h.Set(ErrorHeader, string(d.code))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if d.status == http.StatusProxyAuthRequired {
		h.Set("Proxy-Authenticate", `Basic realm="sandgate"`)
	}
	if d.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(d.retryAfter))
	}
}

// response builds the denial as an *http.Response, for goproxy's hooks and
// for writing into a hijacked connection.
func (d *denial) response(req *http.Request, sandbox, dest string) *http.Response {
	body := d.body(sandbox, dest)
	resp := &http.Response{
		StatusCode:    d.status,
		Status:        fmt.Sprintf("%d %s", d.status, http.StatusText(d.status)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		Body:          http.NoBody,
		ContentLength: int64(len(body)),
		Request:       req,
		Close:         true,
	}
	d.writeHeaders(resp.Header)
	resp.Body = &denialBody{strings.NewReader(body)}
	return resp
}

func noRule(q *request) *denial {
	var rule string
	if q.method == "CONNECT" {
		rule = fmt.Sprintf("hosts: [%s], ports: [%d], methods: [CONNECT]", q.host.hostname(), q.host.Port)
	} else {
		rule = fmt.Sprintf("hosts: [%s], ports: [%d], methods: [%s], path_prefixes: [%s]", q.host.hostname(), q.host.Port, q.method, q.path)
	}
	reason := "no rule of the sandbox's egress allowlist names this destination"
	if q.host.IP.IsValid() {
		reason += "; an IP address is matched only by IP or CIDR entries, never by host names"
	}
	return &denial{status: http.StatusForbidden, code: CodeNoRule, rule: rule, reason: reason}
}

// denialBody marks a response sandgate built, so the response hook does not
// strip its X-Sandgate-Error.
type denialBody struct{ *strings.Reader }

func (*denialBody) Close() error { return nil }
