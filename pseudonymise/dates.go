package pseudonymise

import (
	"encoding/binary"
	"fmt"
	"time"
)

// civil is a calendar date.
type civil struct {
	y, m, d int
}

// parseDateText splits a PostgreSQL date or timestamp in text form into its
// date and the rest: "2024-03-01", "2024-03-01 10:11:12",
// "2024-03-01T10:11:12.5", "2024-03-01 10:11:12+00", "…+05:30", "…Z".
// The rest is checked but kept verbatim.
func parseDateText(in []byte) (civil, []byte, bool) {
	if len(in) < 10 || len(in) > 40 || in[4] != '-' || in[7] != '-' {
		return civil{}, nil, false
	}
	y, ok1 := atoiN(in[0:4])
	m, ok2 := atoiN(in[5:7])
	d, ok3 := atoiN(in[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return civil{}, nil, false
	}
	rest := in[10:]
	if !validTimeTail(rest) {
		return civil{}, nil, false
	}
	return civil{y, m, d}, rest, true
}

func atoiN(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// validTimeTail accepts "", or [ T]HH:MM[:SS[.fraction]] followed by an
// optional zone: Z, or ±HH[[:]MM[[:]SS]].
func validTimeTail(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if b[0] != ' ' && b[0] != 'T' {
		return false
	}
	b = b[1:]
	if len(b) < 5 || !twoDigits(b, 0, 23) || b[2] != ':' || !twoDigits(b[3:], 0, 59) {
		return false
	}
	b = b[5:]
	if len(b) >= 3 && b[0] == ':' {
		if !twoDigits(b[1:], 0, 60) {
			return false
		}
		b = b[3:]
		if len(b) > 0 && b[0] == '.' {
			i := 1
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				i++
			}
			if i == 1 || i > 10 {
				return false
			}
			b = b[i:]
		}
	}
	return validZone(b)
}

func validZone(b []byte) bool {
	if len(b) == 0 || len(b) == 1 && b[0] == 'Z' {
		return true
	}
	if b[0] != '+' && b[0] != '-' || len(b) < 3 || !twoDigits(b[1:], 0, 15) {
		return false
	}
	b = b[3:]
	for part := 0; part < 2 && len(b) > 0; part++ {
		if b[0] == ':' {
			b = b[1:]
		}
		if len(b) < 2 || !twoDigits(b, 0, 59) {
			return false
		}
		b = b[2:]
	}
	return len(b) == 0
}

func twoDigits(b []byte, lo, hi int) bool {
	if len(b) < 2 {
		return false
	}
	n, ok := atoiN(b[:2])
	return ok && n >= lo && n <= hi
}

func (c civil) addDays(n int) civil {
	t := time.Date(c.y, time.Month(c.m), c.d+n, 0, 0, 0, 0, time.UTC)
	return civil{t.Year(), int(t.Month()), t.Day()}
}

func appendDate(dst []byte, c civil) []byte {
	dst = append4(dst, c.y)
	dst = append(dst, '-')
	dst = append2(dst, c.m)
	dst = append(dst, '-')
	return append2(dst, c.d)
}

func append4(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/1000%10), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10%10), byte('0'+n%10))
}

// dateShift moves dates by a per-subject offset.
type dateShift struct {
	e         *Engine
	maxDays   int
	onInvalid OnInvalid
	macs      perScope[macPool]
}

func (e *Engine) buildDateShift(s Spec) (Transform, error) {
	if err := checkDomain(s.Name, s.Domain); err != nil {
		return nil, err
	}
	p := newParams(s)
	if _, ok := p.m["max_days"]; !ok {
		return nil, p.errf("max_days", "is required (the largest shift in days, 1 to 3650)")
	}
	maxDays, err := p.int("max_days", 0, 1, 3650)
	if err != nil {
		return nil, err
	}
	oi, err := p.onInvalid(false)
	if err != nil {
		return nil, err
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	t := &dateShift{e: e, maxDays: maxDays, onInvalid: oi}
	t.macs.make = e.macMaker("date_shift", s.Domain)
	return t, nil
}

func (t *dateShift) Name() string { return NameDateShift }

// Apply shifts in by the offset of c.Subject. A missing (nil or empty)
// subject, or a value that is not a date or timestamp, follows on_invalid;
// "infinity" and "-infinity" pass unchanged.
func (t *dateShift) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	if err := checkContext(NameDateShift, c); err != nil {
		return dst, false, err
	}
	if string(in) == "infinity" || string(in) == "-infinity" {
		return append(dst, in...), false, nil
	}
	if len(c.Subject) == 0 || len(c.Subject) > t.e.maxValue {
		return t.invalid(dst, "the row has no subject identifier to derive the shift from")
	}
	date, rest, ok := parseDateText(in)
	if !ok {
		return t.invalid(dst, "value is not a date or timestamp (YYYY-MM-DD[ HH:MM:SS[.f]][zone])")
	}
	off, err := t.offset(c.scope(), c.Subject)
	if err != nil {
		return dst, false, err
	}
	shifted := date.addDays(off)
	if shifted.y < 1 || shifted.y > 9999 {
		return t.invalid(dst, "shifted date is out of range")
	}
	dst = appendDate(dst, shifted)
	return append(dst, rest...), false, nil
}

// offset is the subject's shift: never zero, within ±maxDays.
func (t *dateShift) offset(sk scopeKey, subject []byte) (int, error) {
	mp, err := t.macs.get(sk)
	if err != nil {
		return 0, fmt.Errorf("transform date_shift: %w", err)
	}
	st := mp.sum(subject)
	r := binary.BigEndian.Uint64(st.sum[:8])
	mp.put(st)
	// 2*maxDays choices; the modulo bias is below 2^-50.
	k := int(r % uint64(2*t.maxDays))
	if k < t.maxDays {
		return k - t.maxDays, nil
	}
	return k - t.maxDays + 1, nil
}

func (t *dateShift) invalid(dst []byte, what string) ([]byte, bool, error) {
	if t.onInvalid == InvalidError {
		return dst, false, invalidValue(NameDateShift, what)
	}
	return dst, true, nil
}
