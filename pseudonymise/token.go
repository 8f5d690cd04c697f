package pseudonymise

import (
	"bytes"
	"fmt"
)

// TokenPrefix starts every token.
const TokenPrefix = "tok_"

// token is the reversible transform: Tink AES256-SIV under the token keyset,
// associated data binding scope and domain.
type token struct {
	e      *Engine
	id     uint64
	domain string
	ads    perScope[[]byte]
}

func (e *Engine) buildToken(s Spec) (Transform, error) {
	if err := checkDomain(s.Name, s.Domain); err != nil {
		return nil, err
	}
	if err := newParams(s).done(); err != nil {
		return nil, err
	}
	t := &token{e: e, id: e.nextID.Add(1), domain: s.Domain}
	t.ads.make = func(k scopeKey) (*[]byte, error) {
		ad := tokenAD(k, s.Domain)
		return &ad, nil
	}
	return t, nil
}

// tokenAD is the associated data of a token: the scope and the domain,
// length-prefixed.
func tokenAD(k scopeKey, domain string) []byte {
	ad := []byte("sandgate/token/v1")
	if k.link {
		ad = appendField(ad, "link")
	} else {
		ad = appendField(ad, "sandbox")
	}
	ad = appendField(ad, k.name)
	return appendField(ad, domain)
}

func (t *token) Name() string { return NameToken }

func (t *token) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	if err := checkContext(NameToken, c); err != nil {
		return dst, false, err
	}
	if len(in) > t.e.maxValue {
		return dst, false, tooLong(NameToken, t.e.maxValue)
	}
	sk := c.scope()
	out, err := t.e.cached(dst, t.id, sk, in, func(dst []byte) ([]byte, error) {
		ad, err := t.ads.get(sk)
		if err != nil {
			return dst, err
		}
		ct, err := t.e.daead.EncryptDeterministically(in, *ad)
		if err != nil {
			return dst, fmt.Errorf("transform token: encrypt: %w", err)
		}
		dst = append(dst, TokenPrefix...)
		return b32.AppendEncode(dst, ct), nil
	})
	return out, false, err
}

// Reveal returns the value that a token transform with this domain produced
// in c's scope (its LinkGroup if set, else its Sandbox). It fails, wrapping
// [ErrReveal], for a token from another scope or domain, a malformed token,
// or one whose key is no longer in the keyset. Callers must audit every
// call: this is re-identification.
func (e *Engine) Reveal(c Context, domain string, tok []byte) ([]byte, error) {
	if err := checkContext("reveal", &c); err != nil {
		return nil, err
	}
	if err := checkDomain("reveal", domain); err != nil {
		return nil, err
	}
	tok = bytes.TrimSpace(tok)
	if !bytes.HasPrefix(tok, []byte(TokenPrefix)) {
		return nil, fmt.Errorf("reveal: no %q prefix: %w", TokenPrefix, ErrReveal)
	}
	body := bytes.ToLower(tok[len(TokenPrefix):])
	ct, err := b32.DecodeString(string(body))
	if err != nil {
		return nil, fmt.Errorf("reveal: token is not base32: %w", ErrReveal)
	}
	pt, err := e.daead.DecryptDeterministically(ct, tokenAD(c.scope(), domain))
	if err != nil {
		return nil, fmt.Errorf("reveal: token is not from this sandbox and domain, or its key was removed: %w", ErrReveal)
	}
	return pt, nil
}
