package pseudonymise

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Spec is a transform as a policy names it: plain data, validated by
// [Engine.Build].
type Spec struct {
	// Name is the transform: token, pseudonym, nhs_number, digits,
	// date_shift, generalise, mask, redact or synthetic.
	Name string
	// Domain is the identifier domain (e.g. nhs_number, patient_id, mrn).
	// It is required by the keyed transforms (token, pseudonym, nhs_number,
	// digits, date_shift — for which it is the subject's domain — and
	// synthetic) and ignored by the others. Lower-case letters, digits and
	// underscores, at most 64 bytes.
	Domain string
	// Params are the transform's parameters; an unknown one is an error.
	// Nil means none.
	Params map[string]string
}

// Names of the transforms, as a policy spells them.
const (
	NameToken      = "token"
	NamePseudonym  = "pseudonym"
	NameNHSNumber  = "nhs_number"
	NameDigits     = "digits"
	NameDateShift  = "date_shift"
	NameGeneralise = "generalise"
	NameMask       = "mask"
	NameRedact     = "redact"
	NameSynthetic  = "synthetic"
)

// Names lists every transform name [Engine.Build] accepts.
func Names() []string {
	return []string{NameToken, NamePseudonym, NameNHSNumber, NameDigits, NameDateShift,
		NameGeneralise, NameMask, NameRedact, NameSynthetic}
}

// OnInvalid says what a transform does with a value it cannot handle.
type OnInvalid uint8

const (
	// InvalidNull turns the value into SQL NULL (the default: fail closed
	// without failing the query).
	InvalidNull OnInvalid = iota
	// InvalidPseudonym replaces the value with its keyed pseudonym
	// (nhs_number and digits only).
	InvalidPseudonym
	// InvalidError fails the field with an error wrapping [ErrInvalidValue].
	InvalidError
)

// params reads a Spec's parameters and remembers which were used, so that
// unknown ones can be reported.
type params struct {
	name string
	m    map[string]string
	used map[string]bool
}

func newParams(s Spec) *params {
	return &params{name: s.Name, m: s.Params, used: map[string]bool{}}
}

func (p *params) errf(param, format string, args ...any) error {
	return &SpecError{Transform: p.name, Param: param, Msg: fmt.Sprintf(format, args...)}
}

func (p *params) str(key, def string) (string, bool) {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok {
		return def, false
	}
	return v, true
}

// int reads an integer in [lo, hi]; def is used when the key is absent.
func (p *params) int(key string, def, lo, hi int) (int, error) {
	v, ok := p.str(key, "")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, p.errf(key, "must be a whole number from %d to %d; got %q", lo, hi, v)
	}
	return n, nil
}

func (p *params) onInvalid(allowPseudonym bool) (OnInvalid, error) {
	v, ok := p.str("on_invalid", "")
	if !ok {
		return InvalidNull, nil
	}
	switch v {
	case "null":
		return InvalidNull, nil
	case "error":
		return InvalidError, nil
	case "pseudonym":
		if allowPseudonym {
			return InvalidPseudonym, nil
		}
		return 0, p.errf("on_invalid", "must be one of null, error; got %q", v)
	}
	if allowPseudonym {
		return 0, p.errf("on_invalid", "must be one of null, pseudonym, error; got %q", v)
	}
	return 0, p.errf("on_invalid", "must be one of null, error; got %q", v)
}

// done reports parameters that no one asked for.
func (p *params) done() error {
	var unknown []string
	for k := range p.m {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	known := make([]string, 0, len(p.used))
	for k := range p.used {
		known = append(known, k)
	}
	slices.Sort(known)
	msg := "takes no parameters"
	if len(known) > 0 {
		msg = "takes only " + strings.Join(known, ", ")
	}
	return &SpecError{Transform: p.name, Msg: fmt.Sprintf("unknown parameter %s (it %s)", quoteList(unknown), msg)}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// checkDomain validates an identifier domain name.
func checkDomain(name, domain string) error {
	if domain == "" {
		return &SpecError{Transform: name, Param: "domain", Msg: "is required (e.g. nhs_number, patient_id, mrn)"}
	}
	if len(domain) > 64 || !isIdent(domain) {
		return &SpecError{Transform: name, Param: "domain", Msg: fmt.Sprintf("must be lower-case letters, digits and underscores, at most 64 bytes; got %q", truncate(domain, 80))}
	}
	return nil
}

func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
