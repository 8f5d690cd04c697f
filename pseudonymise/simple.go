package pseudonymise

import (
	"fmt"
	"unicode/utf8"
)

// mask keeps the first and last runes and replaces the rest.
type mask struct {
	first, last int
	char        []byte
}

func buildMask(s Spec) (Transform, error) {
	p := newParams(s)
	first, err := p.int("keep_first", 0, 0, 64)
	if err != nil {
		return nil, err
	}
	last, err := p.int("keep_last", 0, 0, 64)
	if err != nil {
		return nil, err
	}
	ch, _ := p.str("char", "*")
	if utf8.RuneCountInString(ch) != 1 || !utf8.ValidString(ch) {
		return nil, p.errf("char", "must be a single character; got %q", truncate(ch, 40))
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	return &mask{first: first, last: last, char: []byte(ch)}, nil
}

func (t *mask) Name() string { return NameMask }

// Apply keeps keep_first and keep_last characters (runes; an invalid UTF-8
// byte counts as one) and replaces each other character by char. A value
// too short to hide anything once those are kept is masked whole.
func (t *mask) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	n := utf8.RuneCount(in)
	first, last := t.first, t.last
	if first+last >= n {
		first, last = 0, 0
	}
	for i := 0; len(in) > 0; i++ {
		_, size := utf8.DecodeRune(in)
		if i < first || i >= n-last {
			dst = append(dst, in[:size]...)
		} else {
			dst = append(dst, t.char...)
		}
		in = in[size:]
	}
	return dst, false, nil
}

// redact turns every value into NULL.
type redact struct{}

func buildRedact(s Spec) (Transform, error) {
	if err := newParams(s).done(); err != nil {
		return nil, err
	}
	return redact{}, nil
}

func (redact) Name() string { return NameRedact }

func (redact) Apply(dst []byte, _ *Context, _ []byte, _ bool) ([]byte, bool, error) {
	return dst, true, nil
}

// synthetic replaces a value with a synthetic one of a kind, chosen by the
// value's keyed pseudonym so that the same value gets the same replacement.
type synthetic struct {
	e    *Engine
	id   uint64
	kind string
	macs perScope[macPool]
}

func (e *Engine) buildSynthetic(s Spec) (Transform, error) {
	if err := checkDomain(s.Name, s.Domain); err != nil {
		return nil, err
	}
	p := newParams(s)
	kind, _ := p.str("kind", "")
	if kind == "" {
		return nil, p.errf("kind", "is required (the kind of synthetic value, e.g. given_name)")
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if e.synth == nil {
		return nil, &SpecError{Transform: s.Name, Msg: "is not available: no synthesiser is configured"}
	}
	t := &synthetic{e: e, id: e.nextID.Add(1), kind: kind}
	t.macs.make = e.macMaker("synthetic", s.Domain)
	return t, nil
}

func (t *synthetic) Name() string { return NameSynthetic }

func (t *synthetic) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	if err := checkContext(NameSynthetic, c); err != nil {
		return dst, false, err
	}
	if len(in) > t.e.maxValue {
		return dst, false, tooLong(NameSynthetic, t.e.maxValue)
	}
	sk := c.scope()
	out, err := t.e.cached(dst, t.id, sk, in, func(dst []byte) ([]byte, error) {
		mp, err := t.macs.get(sk)
		if err != nil {
			return dst, fmt.Errorf("transform synthetic: %w", err)
		}
		st := mp.sum(in)
		dst = t.e.synth.Replace(t.kind, st.sum[:], dst)
		mp.put(st)
		return dst, nil
	})
	return out, false, err
}
