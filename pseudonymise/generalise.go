package pseudonymise

import (
	"math"
	"strconv"
	"strings"
)

// generalise coarsens a value: dates, dates of birth, UK postcodes, numbers.
type generalise struct {
	to        string
	ref       civil   // age_band: the reference date
	band      int     // age_band: band width in years
	width     float64 // bucket
	top       float64 // bucket: values at or above go to "top+"; NaN = none
	topText   string
	onInvalid OnInvalid
}

// Generalisation targets, for the to parameter.
const (
	toYear            = "year"
	toMonth           = "month"
	toAgeBand         = "age_band"
	toPostcodeOutward = "postcode_outward"
	toPostcodeSector  = "postcode_sector"
	toBucket          = "bucket"
	ageCap            = 90 // HIPAA Safe Harbor: ages over 89 are one group
)

func buildGeneralise(s Spec) (Transform, error) {
	p := newParams(s)
	g := &generalise{top: math.NaN()}
	to, _ := p.str("to", "")
	g.to = to
	var err error
	switch to {
	case toYear, toMonth, toPostcodeOutward, toPostcodeSector:
	case toAgeBand:
		ref, ok := p.str("reference_date", "")
		if !ok {
			return nil, p.errf("reference_date", "is required for to: age_band (YYYY-MM-DD, the date ages are computed at)")
		}
		c, rest, ok := parseDateText([]byte(ref))
		if !ok || len(rest) != 0 {
			return nil, p.errf("reference_date", "must be a date YYYY-MM-DD; got %q", truncate(ref, 40))
		}
		g.ref = c
		if g.band, err = p.int("band_years", 5, 1, ageCap); err != nil {
			return nil, err
		}
	case toBucket:
		w, ok := p.str("width", "")
		if !ok {
			return nil, p.errf("width", "is required for to: bucket (a positive number)")
		}
		g.width, err = strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || !(g.width > 0) || math.IsInf(g.width, 0) {
			return nil, p.errf("width", "must be a positive number; got %q", truncate(w, 40))
		}
		if top, ok := p.str("top", ""); ok {
			g.top, err = strconv.ParseFloat(strings.TrimSpace(top), 64)
			if err != nil || math.IsNaN(g.top) || math.IsInf(g.top, 0) {
				return nil, p.errf("top", "must be a number; got %q", truncate(top, 40))
			}
			g.topText = strconv.FormatFloat(g.top, 'f', -1, 64) + "+"
		}
	case "":
		return nil, p.errf("to", "is required: one of year, month, age_band, postcode_outward, postcode_sector, bucket")
	default:
		return nil, p.errf("to", "must be one of year, month, age_band, postcode_outward, postcode_sector, bucket; got %q", truncate(to, 40))
	}
	if g.onInvalid, err = p.onInvalid(false); err != nil {
		return nil, err
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *generalise) Name() string { return NameGeneralise }

func (g *generalise) Apply(dst []byte, c *Context, in []byte, inNull bool) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	var ok bool
	out := dst
	switch g.to {
	case toYear, toMonth, toAgeBand:
		var d civil
		if d, _, ok = parseDateText(in); ok {
			out, ok = g.date(dst, d)
		}
	case toPostcodeOutward, toPostcodeSector:
		out, ok = g.postcode(dst, in)
	case toBucket:
		out, ok = g.bucket(dst, in)
	}
	if ok {
		return out, false, nil
	}
	if g.onInvalid == InvalidError {
		return dst, false, invalidValue(NameGeneralise, "value cannot be generalised to "+g.to)
	}
	return dst, true, nil
}

func (g *generalise) date(dst []byte, d civil) ([]byte, bool) {
	switch g.to {
	case toYear:
		return append4(dst, d.y), true
	case toMonth:
		dst = append4(dst, d.y)
		return append2(append(dst, '-'), d.m), true
	}
	age := g.ref.y - d.y
	if g.ref.m < d.m || g.ref.m == d.m && g.ref.d < d.d {
		age--
	}
	if age < 0 {
		return dst, false // born after the reference date
	}
	if age >= ageCap {
		return append(dst, "90+"...), true
	}
	lo := age / g.band * g.band
	hi := min(lo+g.band-1, ageCap-1)
	dst = strconv.AppendInt(dst, int64(lo), 10)
	if hi == lo {
		return dst, true
	}
	return strconv.AppendInt(append(dst, '-'), int64(hi), 10), true
}

// postcode reduces a UK postcode (any case, with or without the space) to
// its outward code ("SW1A") or sector ("SW1A 1").
func (g *generalise) postcode(dst []byte, in []byte) ([]byte, bool) {
	var buf [8]byte
	n := 0
	for _, c := range in {
		switch {
		case c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return dst, false
		}
		if n == len(buf) {
			return dst, false
		}
		buf[n] = c
		n++
	}
	if n < 5 || n > 7 {
		return dst, false
	}
	pc := buf[:n]
	out, inward := pc[:n-3], pc[n-3:]
	if !isDigit(inward[0]) || !isLetter(inward[1]) || !isLetter(inward[2]) || !validOutward(out) {
		return dst, false
	}
	dst = append(dst, out...)
	if g.to == toPostcodeSector {
		dst = append(dst, ' ', inward[0])
	}
	return dst, true
}

// validOutward accepts A9, A99, A9A, AA9, AA99, AA9A and GIR.
func validOutward(o []byte) bool {
	if string(o) == "GIR" {
		return true
	}
	if len(o) < 2 || !isLetter(o[0]) {
		return false
	}
	i := 1
	if isLetter(o[1]) {
		i = 2
	}
	if i >= len(o) || !isDigit(o[i]) {
		return false
	}
	switch rest := o[i+1:]; len(rest) {
	case 0:
		return true
	case 1:
		return isDigit(rest[0]) || isLetter(rest[0])
	}
	return false
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }

// bucket writes "lo-hi" for the half-open bucket [lo, hi) holding the
// number, or "top+" at or above top.
func (g *generalise) bucket(dst []byte, in []byte) ([]byte, bool) {
	if len(in) == 0 || len(in) > 64 {
		return dst, false
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(string(in)), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return dst, false
	}
	if !math.IsNaN(g.top) && x >= g.top {
		return append(dst, g.topText...), true
	}
	lo := math.Floor(x/g.width) * g.width
	dst = strconv.AppendFloat(dst, lo, 'f', -1, 64)
	dst = append(dst, '-')
	return strconv.AppendFloat(dst, lo+g.width, 'f', -1, 64), true
}
