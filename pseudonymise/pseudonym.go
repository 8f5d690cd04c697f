package pseudonymise

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
)

// macPool hands out HMAC-SHA256 states keyed with one subkey. hash.Hash is
// not safe for concurrent use, so each call takes its own.
type macPool struct{ p sync.Pool }

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newMacPool(key []byte) *macPool {
	mp := &macPool{}
	mp.p.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return mp
}

// sum computes HMAC(key, in) into the returned state's sum; the caller must
// put the state back.
func (mp *macPool) sum(in []byte) *macState {
	st := mp.p.Get().(*macState)
	st.h.Reset()
	st.h.Write(in)
	st.h.Sum(st.sum[:0])
	return st
}

func (mp *macPool) put(st *macState) { mp.p.Put(st) }

// macMaker derives per-scope HMAC pools for one (purpose, domain).
func (e *Engine) macMaker(purpose, domain string) func(scopeKey) (*macPool, error) {
	return func(k scopeKey) (*macPool, error) {
		key, err := e.subkey(subkeyID{purpose: purpose, scope: k, domain: domain})
		if err != nil {
			return nil, err
		}
		return newMacPool(key), nil
	}
}

// pseudonym is the one-way transform.
type pseudonym struct {
	e      *Engine
	id     uint64
	bytes  int
	prefix string
	macs   perScope[macPool]
}

func (e *Engine) buildPseudonym(s Spec) (Transform, error) {
	if err := checkDomain(s.Name, s.Domain); err != nil {
		return nil, err
	}
	t, err := e.newPseudonym(s.Domain, newParams(s))
	if err != nil {
		return nil, err
	}
	return t, nil
}

// newPseudonym reads bits and prefix from p; it is also the fallback of
// nhs_number and digits for on_invalid: pseudonym.
func (e *Engine) newPseudonym(domain string, p *params) (*pseudonym, error) {
	bits, err := p.int("bits", 128, 128, 256)
	if err != nil {
		return nil, err
	}
	if bits%8 != 0 {
		return nil, p.errf("bits", "must be a multiple of 8; got %d", bits)
	}
	prefix, _ := p.str("prefix", "")
	if len(prefix) > 16 || !isIdent(prefix) {
		return nil, p.errf("prefix", "must be at most 16 lower-case letters, digits and underscores; got %q", truncate(prefix, 40))
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	t := &pseudonym{e: e, id: e.nextID.Add(1), bytes: bits / 8, prefix: prefix}
	t.macs.make = e.macMaker("pseudonym", domain)
	return t, nil
}

func (t *pseudonym) Name() string { return NamePseudonym }

func (t *pseudonym) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	if err := checkContext(NamePseudonym, c); err != nil {
		return dst, false, err
	}
	if len(in) > t.e.maxValue {
		return dst, false, tooLong(NamePseudonym, t.e.maxValue)
	}
	out, err := t.apply(dst, c.scope(), in)
	return out, false, err
}

func (t *pseudonym) apply(dst []byte, sk scopeKey, in []byte) ([]byte, error) {
	return t.e.cached(dst, t.id, sk, in, func(dst []byte) ([]byte, error) {
		mp, err := t.macs.get(sk)
		if err != nil {
			return dst, fmt.Errorf("transform pseudonym: %w", err)
		}
		st := mp.sum(in)
		dst = append(dst, t.prefix...)
		dst = b32.AppendEncode(dst, st.sum[:t.bytes])
		mp.put(st)
		return dst, nil
	})
}
