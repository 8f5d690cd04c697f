package pseudonymise

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Context is where a value is transformed.
type Context struct {
	// Sandbox names the sandbox that will see the output. Required.
	Sandbox string
	// LinkGroup, when not empty, replaces Sandbox in every keyed derivation:
	// sandboxes that a policy puts in the same link group see the same
	// outputs and so can be linked. Empty means no linkage.
	LinkGroup string
	// Subject is the subject's identifier for date_shift: the raw value of
	// another column of the same row (e.g. the patient id), in the domain of
	// the date_shift spec. Other transforms ignore it.
	Subject []byte
}

// scopeKey is the keyed scope of a Context. A sandbox and a link group of the
// same name are different scopes.
type scopeKey struct {
	link bool
	name string
}

func (c *Context) scope() scopeKey {
	if c.LinkGroup != "" {
		return scopeKey{link: true, name: c.LinkGroup}
	}
	return scopeKey{name: c.Sandbox}
}

// Transform is one built transform. Implementations are safe for concurrent
// use.
type Transform interface {
	// Name is the spec name the transform was built from.
	Name() string
	// Apply appends the transformed value to dst and returns the extended
	// slice. inNull marks SQL NULL input (in is then ignored). When outNull is
	// true the output is SQL NULL and out has dst's length. An error means
	// the field must not be sent; it never contains the value.
	Apply(dst []byte, c *Context, in []byte, inNull bool) (out []byte, outNull bool, err error)
}

// Synthesiser supplies consistent synthetic replacements (the synth
// package implements it). Replace appends to dst a value of the given kind
// chosen by seed, which is the keyed 32-byte pseudonym of the original value:
// the same seed must give the same value. It must not retain seed.
type Synthesiser interface {
	Replace(kind string, seed []byte, dst []byte) []byte
}

// Config configures an [Engine].
type Config struct {
	// Keys are the deployment's keysets. Required.
	Keys *Keys
	// CacheBytes caps the memory of the cache in front of token, pseudonym,
	// nhs_number, digits and synthetic. Zero means 64 MiB; negative
	// disables the cache.
	CacheBytes int64
	// MaxValueBytes is the longest value a transform accepts. Zero means
	// 64 KiB. Longer values are invalid (format transforms) or an error
	// wrapping [ErrTooLong] (token, pseudonym, synthetic).
	MaxValueBytes int
	// Synthesiser backs the synthetic transform. Nil means synthetic specs
	// fail to build.
	Synthesiser Synthesiser
}

// Engine builds transforms from one set of keys. It is safe for concurrent
// use. Build transforms once, apply them per value.
type Engine struct {
	daead    tink.DeterministicAEAD
	prf      prf.PRF
	cache    *cache
	maxValue int
	synth    Synthesiser
	nextID   atomic.Uint64

	mu      sync.Mutex
	subkeys map[subkeyID][]byte
}

const (
	defaultCacheBytes = 64 << 20
	defaultMaxValue   = 64 << 10
)

// New returns an Engine for the given keys.
func New(cfg Config) (*Engine, error) {
	if cfg.Keys == nil || cfg.Keys.token == nil || cfg.Keys.pseudonym == nil {
		return nil, errors.New("pseudonymise: no keys configured")
	}
	d, err := daead.New(cfg.Keys.token)
	if err != nil {
		return nil, fmt.Errorf("pseudonymise: token keyset: %w", err)
	}
	ps, err := prf.NewPRFSet(cfg.Keys.pseudonym)
	if err != nil {
		return nil, fmt.Errorf("pseudonymise: pseudonym keyset: %w", err)
	}
	p, ok := ps.PRFs[ps.PrimaryID]
	if !ok {
		return nil, errors.New("pseudonymise: pseudonym keyset has no primary key")
	}
	e := &Engine{
		daead:    d,
		prf:      p,
		maxValue: cfg.MaxValueBytes,
		synth:    cfg.Synthesiser,
		subkeys:  map[subkeyID][]byte{},
	}
	if e.maxValue <= 0 {
		e.maxValue = defaultMaxValue
	}
	switch {
	case cfg.CacheBytes == 0:
		e.cache = newCache(defaultCacheBytes)
	case cfg.CacheBytes > 0:
		e.cache = newCache(cfg.CacheBytes)
	}
	return e, nil
}

// Build builds a transform from its spec. Errors wrap [ErrSpec] and read as
// sentences for the policy's author.
func (e *Engine) Build(s Spec) (Transform, error) {
	switch s.Name {
	case NameToken:
		return e.buildToken(s)
	case NamePseudonym:
		return e.buildPseudonym(s)
	case NameNHSNumber, NameDigits:
		return e.buildFPE(s)
	case NameDateShift:
		return e.buildDateShift(s)
	case NameGeneralise:
		return buildGeneralise(s)
	case NameMask:
		return buildMask(s)
	case NameRedact:
		return buildRedact(s)
	case NameSynthetic:
		return e.buildSynthetic(s)
	case "":
		return nil, &SpecError{Msg: "has no name; want one of " + quoteList(Names())}
	}
	return nil, &SpecError{Transform: s.Name, Msg: "is not a known transform; want one of " + quoteList(Names())}
}

// subkeyID names a derived per-(purpose, scope, domain) key.
type subkeyID struct {
	purpose string
	scope   scopeKey
	domain  string
}

// subkey derives, once, the 32-byte key for id through the Tink PRF. The
// input is length-prefixed so that no two ids share an encoding.
func (e *Engine) subkey(id subkeyID) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.subkeys[id]; ok {
		return k, nil
	}
	in := []byte("sandgate/pseudonymise/v1")
	in = appendField(in, id.purpose)
	if id.scope.link {
		in = appendField(in, "link")
	} else {
		in = appendField(in, "sandbox")
	}
	in = appendField(in, id.scope.name)
	in = appendField(in, id.domain)
	k, err := e.prf.ComputePRF(in, 32)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", id.purpose, err)
	}
	e.subkeys[id] = k
	return k, nil
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// perScope holds per-scope state of one transform, read without locks.
type perScope[T any] struct {
	m    atomic.Pointer[map[scopeKey]*T]
	mu   sync.Mutex
	make func(scopeKey) (*T, error)
}

func (p *perScope[T]) get(k scopeKey) (*T, error) {
	if m := p.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v, nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v, nil
		}
	}
	v, err := p.make(k)
	if err != nil {
		return nil, err
	}
	next := make(map[scopeKey]*T, 1)
	if old != nil {
		for kk, vv := range *old {
			next[kk] = vv
		}
	}
	next[k] = v
	p.m.Store(&next)
	return v, nil
}

// b32 is lower-case unpadded base32: text-safe, case-insensitive to read.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func checkContext(name string, c *Context) error {
	if c == nil || c.Sandbox == "" && c.LinkGroup == "" {
		return fmt.Errorf("transform %s: context has no sandbox", name)
	}
	return nil
}

var (
	_ Transform = (*token)(nil)
	_ Transform = (*pseudonym)(nil)
	_ Transform = (*fpeTransform)(nil)
	_ Transform = (*dateShift)(nil)
	_ Transform = (*generalise)(nil)
	_ Transform = (*mask)(nil)
	_ Transform = redact{}
	_ Transform = (*synthetic)(nil)
)
