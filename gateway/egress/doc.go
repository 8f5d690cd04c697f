// Package egress is sandgate's HTTP egress proxy: the one way from a sandbox
// to the network. It speaks plain HTTP in absolute form and CONNECT on one
// listener (by default 127.0.0.1:3128), built on github.com/elazarl/goproxy
// with every permissive default of that package overridden.
//
// # What a request goes through
//
//  1. Identity comes only from an authenticated channel: a client
//     certificate verified against the configured CA when the proxy speaks
//     TLS (Config.TLS; its subject common name is the sandbox, as in
//     PostgreSQL's cert authentication), or else Proxy-Authorization (Basic,
//     user = sandbox name), checked against the sandbox's SCRAM-SHA-256
//     verifier ([policy.ParseVerifier]); a bounded cache keyed by an HMAC of
//     user and password under a random per-process key saves the PBKDF2
//     cost. A certificate and a password naming different sandboxes are
//     refused. No header the sandbox controls (X-Forwarded-For,
//     X-Sandgate-*, Forwarded) ever names a sandbox.
//  2. Per-sandbox limits: request rate (429 with Retry-After), concurrent
//     plain requests and open tunnels.
//  3. The target is parsed the way curl and glibc's inet_aton would read it
//     ([ParseHost]): 127.1, 2130706433, 0x7f000001 and 0177.0.0.1 are all
//     127.0.0.1, and an IP literal never matches a name rule. Names are
//     lower-cased, lose a trailing dot and go through IDNA to Punycode.
//  4. The allowlist: the first rule whose host glob, port and (for plain
//     HTTP) method and path prefix match. Paths with dot segments (plain or
//     percent-encoded), double slashes, encoded slashes or backslashes are
//     refused before matching. In report mode a missing rule is logged and
//     the request allowed; nothing else is relaxed.
//  5. Resolve once, classify every address (loopback, RFC 1918, link-local,
//     cloud metadata, CGNAT, ULA, NAT64/6to4/Teredo embeddings of such, IPv4-
//     mapped, unspecified, multicast, broadcast, reserved, documentation,
//     benchmarking, and sandgate's own listeners), deny if any one is bad,
//     then dial exactly the checked addresses with a dialer whose Control
//     hook checks the final address again. A sandbox's AllowCIDRs lift the
//     classification for the ranges it names, never for unspecified,
//     multicast or broadcast addresses nor for sandgate's own listeners.
//  6. Plain HTTP is forwarded (through goproxy, over a per-sandbox pool of
//     kept-alive connections each dialled to a checked address; https:// in
//     absolute form through an http.Transport that verifies TLS) without
//     proxy and hop-by-hop headers and
//     without any X-Sandgate-* header the client sent; redirects are not
//     followed; X-Sandgate-* headers are stripped from responses. CONNECT is
//     tunnelled, never intercepted: before relaying, the first bytes are
//     checked — a TLS ClientHello whose SNI names another host, or a
//     plaintext HTTP request whose Host differs from the CONNECT target, is
//     refused, and plaintext HTTP inside a tunnel is checked request by
//     request.
//
// A denial is a 403 (407 for authentication, 429 for limits, 400 for
// malformed targets) with the header X-Sandgate-Error carrying a stable code
// ([ErrorCode]) and a body that names the sandbox, the destination, the
// missing rule and how to ask for it. Each request produces one canonical
// log line and one span named sandgate.egress.
//
// # What this package leaves out
//
// It does not intercept TLS, cache, rewrite bodies, speak HTTP/2 (either
// side), nor support WebSocket upgrades in plain HTTP. It does not load
// YAML: the caller fills [Config].
// It does not follow redirects: the client sees the 3xx and its next request
// is checked like any other.
package egress
