package egress

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/sandgate/sandgate/policy"
)

var (
	errNoCredentials    = errors.New("no proxy credentials")
	errBadCredentials   = errors.New("proxy credentials not accepted")
	errCertSandbox      = errors.New("client certificate names no configured sandbox")
	errIdentityConflict = errors.New("client certificate and proxy credentials disagree")
)

// identify names the request's sandbox: from the client certificate when
// the TLS handshake verified one (its subject common name), otherwise from
// Proxy-Authorization. Nothing else the client sends names a sandbox.
func (st *state) identify(r *http.Request, rec *record) (string, error) {
	cn, ok := certSandbox(r.TLS)
	if !ok {
		name, err := st.auth.authenticate(r.Header)
		if err == nil {
			rec.identity = "password"
		}
		return name, err
	}
	if _, known := st.sandboxes[cn]; !known {
		return "", errCertSandbox
	}
	if user, _, ok := parseBasic(r.Header.Get("Proxy-Authorization")); ok && user != cn {
		return "", errIdentityConflict
	}
	rec.identity = "certificate"
	return cn, nil
}

// certSandbox returns the common name of a client certificate the TLS
// handshake verified against the configured CAs. An unverified
// certificate (none of the accepted ClientAuth modes lets one through)
// names nothing.
func certSandbox(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	return cn, cn != ""
}

// authenticator checks Proxy-Authorization Basic credentials against the
// sandboxes' SCRAM-SHA-256 verifiers, remembering recent successes under an
// HMAC of user and password so the PBKDF2 cost is paid once per credential.
type authenticator struct {
	verifiers map[string]*policy.Verifier
	key       [32]byte // random per process: cache keys are useless elsewhere

	// derive bounds concurrent PBKDF2 derivations, so a flood of wrong
	// passwords costs at most this many cores.
	derive chan struct{}
	macs   sync.Pool // keyed HMAC-SHA256 states, reset before use

	mu    sync.Mutex
	max   int
	cache map[[32]byte]string // HMAC(user, password) → sandbox
	order [][32]byte          // insertion order, for eviction
}

func newAuthenticator(sandboxes map[string]*Sandbox, cacheSize int) (*authenticator, error) {
	a := &authenticator{verifiers: map[string]*policy.Verifier{}, max: cacheSize, cache: map[[32]byte]string{},
		derive: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	if a.max == 0 {
		a.max = 1024
	}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, err
	}
	for name, s := range sandboxes {
		v, err := policy.ParseVerifier(s.Verifier)
		if err != nil {
			return nil, err
		}
		a.verifiers[name] = v
	}
	return a, nil
}

// authenticate returns the sandbox named by valid credentials in h.
func (a *authenticator) authenticate(h http.Header) (string, error) {
	user, pass, ok := parseBasic(h.Get("Proxy-Authorization"))
	if !ok {
		return "", errNoCredentials
	}
	return a.check(user, pass)
}

// check verifies one user's password.
func (a *authenticator) check(user, pass string) (string, error) {
	v := a.verifiers[user]
	if v == nil {
		return "", errBadCredentials
	}
	k := a.cacheKey(user, pass)
	if a.cached(k, user) {
		return user, nil
	}
	a.derive <- struct{}{}
	d, err := policy.DeriveVerifier(pass, v.Salt, v.Iterations)
	<-a.derive
	if err != nil || subtle.ConstantTimeCompare(d.StoredKey, v.StoredKey) != 1 {
		return "", errBadCredentials
	}
	a.remember(k, user)
	return user, nil
}

func (a *authenticator) cacheKey(user, pass string) [32]byte {
	m, _ := a.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, a.key[:])
	}
	defer a.macs.Put(m)
	m.Reset()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(user)))
	m.Write(n[:])
	m.Write([]byte(user))
	m.Write([]byte(pass))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (a *authenticator) cached(k [32]byte, user string) bool {
	if a.max < 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cache[k] == user
}

func (a *authenticator) remember(k [32]byte, user string) {
	if a.max < 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.cache[k]; ok {
		return
	}
	for len(a.order) >= a.max {
		delete(a.cache, a.order[0])
		a.order = a.order[1:]
	}
	a.cache[k] = user
	a.order = append(a.order, k)
}

// parseBasic parses "Basic base64(user:password)", scheme case-insensitive.
func parseBasic(v string) (user, pass string, ok bool) {
	scheme, cred, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok && user != ""
}

// Credentials checks HTTP Basic credentials against sandboxes' SCRAM
// verifiers, with the same cache and bounded key derivation as the proxy's
// own authentication; other front doors (the HTTP data proxy) use it.
type Credentials struct{ a *authenticator }

// NewCredentials takes sandbox name → verifier (PostgreSQL's SCRAM format).
// cacheSize bounds the cache of recently verified credentials (zero: 1024).
func NewCredentials(verifiers map[string]string, cacheSize int) (*Credentials, error) {
	sbs := make(map[string]*Sandbox, len(verifiers))
	for name, v := range verifiers {
		sbs[name] = &Sandbox{Verifier: v}
	}
	a, err := newAuthenticator(sbs, cacheSize)
	if err != nil {
		return nil, err
	}
	return &Credentials{a: a}, nil
}

// Check returns the sandbox that an Authorization header's Basic
// credentials prove, or false.
func (c *Credentials) Check(authorization string) (string, bool) {
	user, pass, ok := parseBasic(authorization)
	if !ok {
		return "", false
	}
	sb, err := c.a.check(user, pass)
	return sb, err == nil
}
