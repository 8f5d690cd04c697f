package pseudonymise

import "fmt"

// fpeTransform is nhs_number and digits: a keyed permutation of digit
// strings through FF1. Separators (spaces and hyphens) in the input stay
// where they were; only the digits change.
type fpeTransform struct {
	e         *Engine
	id        uint64
	name      string
	nhs       bool // cycle-walk to a valid modulus-11 check digit
	length    int  // digits: exact digit count, 0 = any from 6 to 18
	onInvalid OnInvalid
	fallback  *pseudonym // on_invalid: pseudonym
	ciphers   perScope[ff1]
}

func (e *Engine) buildFPE(s Spec) (Transform, error) {
	if err := checkDomain(s.Name, s.Domain); err != nil {
		return nil, err
	}
	p := newParams(s)
	t := &fpeTransform{e: e, id: e.nextID.Add(1), name: s.Name, nhs: s.Name == NameNHSNumber}
	var err error
	if !t.nhs {
		if t.length, err = p.int("length", 0, ff1MinLen, ff1MaxLen); err != nil {
			return nil, err
		}
	}
	if t.onInvalid, err = p.onInvalid(true); err != nil {
		return nil, err
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if t.onInvalid == InvalidPseudonym {
		// The fallback is a plain pseudonym in the same domain.
		t.fallback, _ = e.newPseudonym(s.Domain, newParams(Spec{Name: NamePseudonym}))
	}
	domain := s.Domain
	t.ciphers.make = func(k scopeKey) (*ff1, error) {
		key, err := e.subkey(subkeyID{purpose: "ff1/" + s.Name, scope: k, domain: domain})
		if err != nil {
			return nil, err
		}
		return newFF1(key, nil)
	}
	return t, nil
}

func (t *fpeTransform) Name() string { return t.name }

func (t *fpeTransform) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	if err := checkContext(t.name, c); err != nil {
		return dst, false, err
	}
	sk := c.scope()
	x, n, ok := t.parse(in)
	if !ok {
		return t.invalid(dst, sk, in)
	}
	out, err := t.e.cached(dst, t.id, sk, in, func(dst []byte) ([]byte, error) {
		f, err := t.ciphers.get(sk)
		if err != nil {
			return dst, fmt.Errorf("transform %s: %w", t.name, err)
		}
		var y uint64
		if t.nhs {
			// FF1 permutes the 10^9 bodies; walking the cycle until the
			// body has a valid check digit permutes the valid bodies.
			y = x
			for {
				y = f.encrypt(y, 9)
				if _, ok := nhsCheckDigit(y); ok {
					break
				}
			}
			d, _ := nhsCheckDigit(y)
			y = y*10 + d
		} else {
			y = f.encrypt(x, n)
		}
		return writeDigits(dst, in, y, n+boolInt(t.nhs)), nil
	})
	return out, false, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parse returns the digits of in as a number (for nhs_number, the nine-digit
// body after checking the check digit) and the count of digits it permutes.
func (t *fpeTransform) parse(in []byte) (x uint64, n int, ok bool) {
	if len(in) > 2*ff1MaxLen+2 {
		return 0, 0, false
	}
	total := 0
	for i, c := range in {
		switch {
		case c >= '0' && c <= '9':
			if total == ff1MaxLen {
				return 0, 0, false
			}
			x = x*10 + uint64(c-'0')
			total++
		case (c == ' ' || c == '-') && i > 0 && i < len(in)-1:
		default:
			return 0, 0, false
		}
	}
	if t.nhs {
		if total != 10 {
			return 0, 0, false
		}
		body, check := x/10, x%10
		if d, ok := nhsCheckDigit(body); !ok || d != check {
			return 0, 0, false
		}
		return body, 9, true
	}
	if total < ff1MinLen || t.length != 0 && total != t.length {
		return 0, 0, false
	}
	return x, total, true
}

// nhsCheckDigit computes the NHS number modulus-11 check digit of a
// nine-digit body: weights 10 down to 2, 11 minus the remainder, 11 meaning
// 0 and 10 meaning no valid number.
func nhsCheckDigit(body uint64) (uint64, bool) {
	sum := uint64(0)
	for w := uint64(2); w <= 10; w++ {
		sum += (body % 10) * w
		body /= 10
	}
	d := 11 - sum%11
	switch d {
	case 11:
		return 0, true
	case 10:
		return 0, false
	}
	return d, true
}

// ValidNHSNumber reports whether s is ten digits with a valid modulus-11
// check digit.
func ValidNHSNumber(s []byte) bool {
	t := fpeTransform{nhs: true}
	_, _, ok := t.parse(s)
	return ok
}

// writeDigits appends in with its digits replaced by the n digits of y,
// keeping separators in place.
func writeDigits(dst, in []byte, y uint64, n int) []byte {
	start := len(dst)
	dst = append(dst, in...)
	out := dst[start:]
	k := n - 1
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] >= '0' && out[i] <= '9' {
			out[i] = byte('0' + (y/pow10[n-1-k])%10)
			k--
		}
	}
	return dst
}

func (t *fpeTransform) invalid(dst []byte, sk scopeKey, in []byte) ([]byte, bool, error) {
	switch t.onInvalid {
	case InvalidPseudonym:
		if len(in) > t.e.maxValue {
			return dst, false, tooLong(t.name, t.e.maxValue)
		}
		out, err := t.fallback.apply(dst, sk, in)
		return out, false, err
	case InvalidError:
		if t.nhs {
			return dst, false, invalidValue(t.name, "value is not a valid NHS number (10 digits, modulus-11 check digit)")
		}
		if t.length != 0 {
			return dst, false, invalidValue(t.name, fmt.Sprintf("value is not a %d-digit number", t.length))
		}
		return dst, false, invalidValue(t.name, fmt.Sprintf("value is not a number of %d to %d digits", ff1MinLen, ff1MaxLen))
	}
	return dst, true, nil
}
