package pseudonymise

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var (
	ctxA = Context{Sandbox: "sandbox_a"}
	ctxB = Context{Sandbox: "sandbox_b"}
)

// keyedSpecs are the transforms whose output depends on key, scope and domain.
func keyedSpecs(domain string) []Spec {
	return []Spec{
		{Name: NameToken, Domain: domain},
		{Name: NamePseudonym, Domain: domain},
		{Name: NameNHSNumber, Domain: domain},
		{Name: NameDigits, Domain: domain, Params: map[string]string{"length": "10"}},
		{Name: NameSynthetic, Domain: domain, Params: map[string]string{"kind": "given_name"}},
	}
}

func TestDeterministicAcrossEnginesAndCache(t *testing.T) {
	keys := newTestKeys(t)
	cached := newTestEngine(t, Config{Keys: keys, Synthesiser: fakeSynth{}})
	uncached := newTestEngine(t, Config{Keys: keys, Synthesiser: fakeSynth{}, CacheBytes: -1})
	for _, s := range keyedSpecs("nhs_number") {
		t.Run(s.Name, func(t *testing.T) {
			a, b := mustBuild(t, cached, s), mustBuild(t, uncached, s)
			first := apply(t, a, ctxA, "9434765919")
			for range 3 { // the second and third calls hit the cache
				if got := apply(t, a, ctxA, "9434765919"); got != first {
					t.Fatalf("got %q, want %q", got, first)
				}
			}
			if got := apply(t, b, ctxA, "9434765919"); got != first {
				t.Fatalf("another engine with the same keys: got %q, want %q", got, first)
			}
			if first == "9434765919" {
				t.Fatalf("output equals input")
			}
		})
	}
}

func TestScopesAndDomainsDiffer(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}})
	for i, s := range keyedSpecs("nhs_number") {
		if s.Name == NameSynthetic {
			continue // eight fake names: collisions are expected
		}
		t.Run(s.Name, func(t *testing.T) {
			tr := mustBuild(t, e, s)
			other := keyedSpecs("patient_id")[i]
			trOther := mustBuild(t, e, other)
			in := "9434765919"
			a := apply(t, tr, ctxA, in)
			b := apply(t, tr, ctxB, in)
			d := apply(t, trOther, ctxA, in)
			if a == b {
				t.Errorf("sandboxes a and b: both got %q", a)
			}
			if a == d {
				t.Errorf("domains nhs_number and patient_id: both got %q", a)
			}
			// A link group replaces the sandbox: two sandboxes in it agree,
			// and differ from a sandbox of the link group's name.
			la := apply(t, tr, Context{Sandbox: "sandbox_a", LinkGroup: "trial_1"}, in)
			lb := apply(t, tr, Context{Sandbox: "sandbox_b", LinkGroup: "trial_1"}, in)
			plain := apply(t, tr, Context{Sandbox: "trial_1"}, in)
			if la != lb {
				t.Errorf("link group: got %q and %q, want equal", la, lb)
			}
			if la == a || la == plain {
				t.Errorf("link group output %q equals an unlinked one", la)
			}
		})
	}
}

func TestTokenReveal(t *testing.T) {
	e := newTestEngine(t, Config{})
	tr := mustBuild(t, e, Spec{Name: NameToken, Domain: "email"})
	for _, in := range []string{"a@example.org", "", "\xff\xfe not utf-8", strings.Repeat("x", 5000)} {
		tok := apply(t, tr, ctxA, in)
		if !strings.HasPrefix(tok, TokenPrefix) {
			t.Fatalf("token %q lacks prefix %q", tok, TokenPrefix)
		}
		got, err := e.Reveal(ctxA, "email", []byte(tok))
		if err != nil {
			t.Fatalf("reveal: %v", err)
		}
		if string(got) != in {
			t.Fatalf("reveal: got %q, want %q", truncate(string(got), 20), truncate(in, 20))
		}
		// Upper case (a spreadsheet's doing) still reveals.
		if got, err := e.Reveal(ctxA, "email", []byte("tok_"+strings.ToUpper(tok[4:]))); err != nil || string(got) != in {
			t.Fatalf("reveal upper case: %v", err)
		}
	}
	tok := []byte(apply(t, tr, ctxA, "a@example.org"))
	for name, tc := range map[string]struct {
		c      Context
		domain string
		tok    []byte
	}{
		"other sandbox": {ctxB, "email", tok},
		"other domain":  {ctxA, "patient_id", tok},
		"link group":    {Context{Sandbox: "sandbox_a", LinkGroup: "g"}, "email", tok},
		"no prefix":     {ctxA, "email", tok[4:]},
		"not base32":    {ctxA, "email", []byte("tok_!!!!")},
		"truncated":     {ctxA, "email", tok[:len(tok)-3]},
		"empty":         {ctxA, "email", nil},
	} {
		if _, err := e.Reveal(tc.c, tc.domain, tc.tok); !errors.Is(err, ErrReveal) {
			t.Errorf("%s: got %v, want ErrReveal", name, err)
		} else if strings.Contains(err.Error(), "example") {
			t.Errorf("%s: error %q leaks the value", name, err)
		}
	}
	if _, err := e.Reveal(Context{}, "email", tok); err == nil {
		t.Errorf("empty context: got no error")
	}
}

func TestRotationKeepsTokensRevealable(t *testing.T) {
	keys := newTestKeys(t)
	e1 := newTestEngine(t, Config{Keys: keys})
	old := apply(t, mustBuild(t, e1, Spec{Name: NameToken, Domain: "mrn"}), ctxA, "MRN123")
	oldPs := apply(t, mustBuild(t, e1, Spec{Name: NamePseudonym, Domain: "mrn"}), ctxA, "MRN123")

	if _, _, err := keys.Rotate(RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	e2 := newTestEngine(t, Config{Keys: keys})
	fresh := apply(t, mustBuild(t, e2, Spec{Name: NameToken, Domain: "mrn"}), ctxA, "MRN123")
	if fresh == old {
		t.Errorf("token after rotation equals the old one; want a new primary key")
	}
	for _, tok := range []string{old, fresh} {
		if got, err := e2.Reveal(ctxA, "mrn", []byte(tok)); err != nil || string(got) != "MRN123" {
			t.Errorf("reveal after rotation: got %q, %v", got, err)
		}
	}
	if ps := apply(t, mustBuild(t, e2, Spec{Name: NamePseudonym, Domain: "mrn"}), ctxA, "MRN123"); ps != oldPs {
		t.Errorf("token-only rotation changed the pseudonym: got %q, want %q", ps, oldPs)
	}
	if _, _, err := keys.Rotate(RotateOptions{Pseudonyms: true}); err != nil {
		t.Fatal(err)
	}
	e3 := newTestEngine(t, Config{Keys: keys})
	if ps := apply(t, mustBuild(t, e3, Spec{Name: NamePseudonym, Domain: "mrn"}), ctxA, "MRN123"); ps == oldPs {
		t.Errorf("pseudonym rotation kept the pseudonym %q", ps)
	}
	if got, err := e3.Reveal(ctxA, "mrn", []byte(old)); err != nil || string(got) != "MRN123" {
		t.Errorf("reveal after two rotations: got %q, %v", got, err)
	}
	info := keys.Info()
	if len(info.Token) != 3 || len(info.Pseudonym) != 2 {
		t.Errorf("info: got %d token and %d pseudonym keys, want 3 and 2", len(info.Token), len(info.Pseudonym))
	}
}

func TestPseudonymShape(t *testing.T) {
	e := newTestEngine(t, Config{})
	tr := mustBuild(t, e, Spec{Name: NamePseudonym, Domain: "email"})
	if got := apply(t, tr, ctxA, "x"); len(got) != 26 { // 128 bits in base32
		t.Errorf("default pseudonym %q: got %d chars, want 26", got, len(got))
	}
	tr = mustBuild(t, e, Spec{Name: NamePseudonym, Domain: "email", Params: map[string]string{"bits": "256", "prefix": "ps_"}})
	if got := apply(t, tr, ctxA, "x"); len(got) != 3+52 || !strings.HasPrefix(got, "ps_") {
		t.Errorf("256-bit prefixed pseudonym %q: wrong shape", got)
	}
}

func TestNHSNumberIsValidAndFormatted(t *testing.T) {
	e := newTestEngine(t, Config{})
	tr := mustBuild(t, e, Spec{Name: NameNHSNumber, Domain: "nhs_number"})
	plain := apply(t, tr, ctxA, "9434765919")
	if !ValidNHSNumber([]byte(plain)) || len(plain) != 10 {
		t.Fatalf("got %q, want a valid 10-digit NHS number", plain)
	}
	spaced := apply(t, tr, ctxA, "943 476 5919")
	if want := plain[:3] + " " + plain[3:6] + " " + plain[6:]; spaced != want {
		t.Errorf("spaced input: got %q, want %q", spaced, want)
	}
}

// TestNHSNumberPermutation maps one million distinct valid NHS numbers and
// checks that the outputs are one million distinct valid NHS numbers.
func TestNHSNumberPermutation(t *testing.T) {
	const want = 1_000_000
	e := newTestEngine(t, Config{CacheBytes: -1})
	tr := mustBuild(t, e, Spec{Name: NameNHSNumber, Domain: "nhs_number"})
	outs := make([]uint64, 0, want)
	var in, out []byte
	c := ctxA
	for body := uint64(400_000_000); len(outs) < want; body++ {
		d, ok := nhsCheckDigit(body)
		if !ok {
			continue
		}
		in = fmt.Appendf(in[:0], "%09d%d", body, d)
		var null bool
		var err error
		out, null, err = tr.Apply(out[:0], &c, in, false)
		if err != nil || null {
			t.Fatalf("valid input: got null=%v, err=%v", null, err)
		}
		if len(out) != 10 || !ValidNHSNumber(out) {
			t.Fatalf("output %q is not a valid NHS number", out)
		}
		var v uint64
		for _, ch := range out {
			v = v*10 + uint64(ch-'0')
		}
		outs = append(outs, v)
	}
	slices.Sort(outs)
	if n := len(slices.Compact(outs)); n != want {
		t.Fatalf("got %d distinct outputs, want %d", n, want)
	}
}

func TestDigits(t *testing.T) {
	e := newTestEngine(t, Config{})
	tr := mustBuild(t, e, Spec{Name: NameDigits, Domain: "mrn"})
	for _, in := range []string{"000123", "12345678", "123456789012345678", "12-3456-78"} {
		got := apply(t, tr, ctxA, in)
		if len(got) != len(in) {
			t.Errorf("%q: got %q, want the same length", in, got)
		}
		for i := range in {
			if (in[i] >= '0' && in[i] <= '9') != (got[i] >= '0' && got[i] <= '9') {
				t.Errorf("%q: got %q, separators moved", in, got)
			}
		}
	}
	fixed := mustBuild(t, e, Spec{Name: NameDigits, Domain: "mrn", Params: map[string]string{"length": "8", "on_invalid": "error"}})
	if _, _, err := fixed.Apply(nil, &ctxA, []byte("1234567"), false); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("7 digits with length 8: got %v, want ErrInvalidValue", err)
	}
}

func TestOnInvalid(t *testing.T) {
	e := newTestEngine(t, Config{})
	build := func(mode string) Transform {
		return mustBuild(t, e, Spec{Name: NameNHSNumber, Domain: "nhs_number", Params: map[string]string{"on_invalid": mode}})
	}
	bad := []byte("9434765918")
	if out, null, err := build("null").Apply([]byte("x"), &ctxA, bad, false); err != nil || !null || string(out) != "x" {
		t.Errorf("null: got %q, %v, %v", out, null, err)
	}
	_, _, err := build("error").Apply(nil, &ctxA, bad, false)
	if !errors.Is(err, ErrInvalidValue) || strings.Contains(err.Error(), string(bad)) {
		t.Errorf("error: got %v, want ErrInvalidValue without the value", err)
	}
	ps := mustBuild(t, e, Spec{Name: NamePseudonym, Domain: "nhs_number"})
	if got, want := apply(t, build("pseudonym"), ctxA, string(bad)), apply(t, ps, ctxA, string(bad)); got != want {
		t.Errorf("pseudonym: got %q, want the domain's pseudonym %q", got, want)
	}
}

func TestDateShiftKeepsIntervals(t *testing.T) {
	e := newTestEngine(t, Config{})
	tr := mustBuild(t, e, Spec{Name: NameDateShift, Domain: "patient_id", Params: map[string]string{"max_days": "30"}})
	shift := func(subject, in string) string {
		c := Context{Sandbox: "sandbox_a", Subject: []byte(subject)}
		return apply(t, tr, c, in)
	}
	days := func(s string) int {
		d, _, ok := parseDateText([]byte(s))
		if !ok {
			t.Fatalf("output %q is not a date", s)
		}
		return d.addDays(0).days()
	}
	offsets := map[int]bool{}
	for p := range 200 {
		subject := fmt.Sprintf("P%04d", p)
		a, b := shift(subject, "2024-02-27"), shift(subject, "2024-03-01")
		if got := days(b) - days(a); got != 3 {
			t.Fatalf("%s: interval got %d days, want 3 (%s, %s)", subject, got, a, b)
		}
		off := days(a) - days("2024-02-27")
		if off == 0 || off < -30 || off > 30 {
			t.Fatalf("%s: offset %d outside ±30 or zero", subject, off)
		}
		offsets[off] = true
		if shift(subject, "2024-02-27") != a {
			t.Fatalf("%s: not deterministic", subject)
		}
	}
	if len(offsets) < 20 {
		t.Errorf("200 subjects got only %d distinct offsets", len(offsets))
	}
	// Timestamps keep their time and zone.
	for _, in := range []string{"2024-03-01 10:11:12", "2024-03-01T10:11:12.123456", "2024-03-01 10:11:12+00", "2024-03-01 10:11:12.5-08:30", "2024-03-01 10:11Z"} {
		got := shift("P0001", in)
		if got[10:] != in[10:] || days(got)-days(in) != days(shift("P0001", "2024-03-01"))-days("2024-03-01") {
			t.Errorf("%q: got %q", in, got)
		}
	}
	// Different subjects in another sandbox get other offsets.
	c := Context{Sandbox: "sandbox_b", Subject: []byte("P0001")}
	diff := 0
	for p := range 20 {
		subject := fmt.Sprintf("P%04d", p)
		c.Subject = []byte(subject)
		if apply(t, tr, c, "2024-03-01") != shift(subject, "2024-03-01") {
			diff++
		}
	}
	if diff < 15 {
		t.Errorf("only %d of 20 subjects shift differently in another sandbox", diff)
	}
	// No subject, or not a date: NULL by default.
	for _, tc := range []struct{ subject, in string }{{"", "2024-03-01"}, {"P1", "2024-02-30"}, {"P1", "yesterday"}, {"P1", "2024-03-01 25:00:00"}} {
		cc := Context{Sandbox: "a", Subject: []byte(tc.subject)}
		if _, null, err := tr.Apply(nil, &cc, []byte(tc.in), false); err != nil || !null {
			t.Errorf("subject %q, value %q: got null=%v err=%v, want NULL", tc.subject, tc.in, null, err)
		}
	}
}

func (c civil) days() int {
	n := 0
	for y := 1; y < c.y; y++ {
		n += 365
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			n++
		}
	}
	for m := 1; m < c.m; m++ {
		n += daysIn(c.y, m)
	}
	return n + c.d
}

func TestGeneralise(t *testing.T) {
	e := newTestEngine(t, Config{})
	for _, tc := range []struct {
		params map[string]string
		in     string
		want   string // "NULL" for NULL
	}{
		{map[string]string{"to": "year"}, "2024-03-01", "2024"},
		{map[string]string{"to": "year"}, "2024-03-01 10:11:12+00", "2024"},
		{map[string]string{"to": "month"}, "2024-03-01", "2024-03"},
		{map[string]string{"to": "month"}, "March", "NULL"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30"}, "1980-07-01", "40-44"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30"}, "1980-06-30", "40-44"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30", "band_years": "10"}, "1935-01-01", "80-89"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30"}, "1934-06-30", "90+"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30"}, "1934-07-01", "85-89"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30", "band_years": "7"}, "1936-01-01", "84-89"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30", "band_years": "1"}, "2020-01-01", "4"},
		{map[string]string{"to": "age_band", "reference_date": "2024-06-30"}, "2025-01-01", "NULL"},
		{map[string]string{"to": "postcode_outward"}, "SW1A 1AA", "SW1A"},
		{map[string]string{"to": "postcode_outward"}, "m11ae", "M1"},
		{map[string]string{"to": "postcode_sector"}, "ec1a 1bb", "EC1A 1"},
		{map[string]string{"to": "postcode_sector"}, "B33 8TH", "B33 8"},
		{map[string]string{"to": "postcode_sector"}, "CR2 6XH", "CR2 6"},
		{map[string]string{"to": "postcode_outward"}, "DN55 1PT", "DN55"},
		{map[string]string{"to": "postcode_outward"}, "12345", "NULL"},
		{map[string]string{"to": "postcode_outward"}, "SW1A", "NULL"},
		{map[string]string{"to": "bucket", "width": "10"}, "47", "40-50"},
		{map[string]string{"to": "bucket", "width": "10"}, "-3", "-10-0"},
		{map[string]string{"to": "bucket", "width": "0.5"}, "7.3", "7-7.5"},
		{map[string]string{"to": "bucket", "width": "10", "top": "100"}, "120", "100+"},
		{map[string]string{"to": "bucket", "width": "10"}, "NaN", "NULL"},
	} {
		tr := mustBuild(t, e, Spec{Name: NameGeneralise, Params: tc.params})
		out, null, err := tr.Apply(nil, &ctxA, []byte(tc.in), false)
		got := string(out)
		if null {
			got = "NULL"
		}
		if err != nil || got != tc.want {
			t.Errorf("%v on %q: got %q (err %v), want %q", tc.params, tc.in, got, err, tc.want)
		}
	}
}

func TestMaskRedactSynthetic(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}})
	m := mustBuild(t, e, Spec{Name: NameMask, Params: map[string]string{"keep_first": "2", "keep_last": "1"}})
	for in, want := range map[string]string{
		"abcdef":    "ab***f",
		"Zoë Brown": "Zo******n",
		"abc":       "***",
		"":          "",
		"a\xffbcd":  "a\xff**d",
	} {
		if got := apply(t, m, ctxA, in); got != want {
			t.Errorf("mask %q: got %q, want %q", in, got, want)
		}
	}
	r := mustBuild(t, e, Spec{Name: NameRedact})
	if out, null, err := r.Apply([]byte("keep"), &ctxA, []byte("secret"), false); !null || err != nil || string(out) != "keep" {
		t.Errorf("redact: got %q null=%v err=%v", out, null, err)
	}
	s := mustBuild(t, e, Spec{Name: NameSynthetic, Domain: "given_name", Params: map[string]string{"kind": "given_name"}})
	got := apply(t, s, ctxA, "Alice")
	if !strings.HasPrefix(got, "given_name:") || apply(t, s, ctxA, "Alice") != got {
		t.Errorf("synthetic: got %q, want a stable given_name", got)
	}
	if _, err := newTestEngine(t, Config{}).Build(Spec{Name: NameSynthetic, Domain: "x", Params: map[string]string{"kind": "k"}}); !isSpecErr(err) {
		t.Errorf("synthetic without a synthesiser: got %v, want a spec error", err)
	}
}

func TestNullPassesAsNull(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}})
	for _, s := range allSpecs() {
		tr := mustBuild(t, e, s)
		out, null, err := tr.Apply([]byte("pre"), &ctxA, []byte("ignored"), true)
		if err != nil || !null || string(out) != "pre" {
			t.Errorf("%s: NULL in gave %q null=%v err=%v", s.Name, out, null, err)
		}
	}
}

func TestOverLongInput(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}, MaxValueBytes: 100})
	long := bytes.Repeat([]byte("7"), 101)
	for _, s := range allSpecs() {
		tr := mustBuild(t, e, s)
		c := ctxA
		c.Subject = long
		out, null, err := tr.Apply(nil, &c, long, false)
		switch s.Name {
		case NameToken, NamePseudonym, NameSynthetic:
			if !errors.Is(err, ErrTooLong) {
				t.Errorf("%s: got %v, want ErrTooLong", s.Name, err)
			}
		case NameMask:
			if err != nil || len(out) != len(long) {
				t.Errorf("%s: got %d bytes, %v", s.Name, len(out), err)
			}
		default:
			if err != nil || !null {
				t.Errorf("%s: got %q null=%v err=%v, want NULL", s.Name, truncate(string(out), 20), null, err)
			}
		}
	}
}

func TestSpecErrors(t *testing.T) {
	e := newTestEngine(t, Config{})
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: NameNHSNumber, Domain: "nhs_number", Params: map[string]string{"on_invalid": "drop"}},
			`transform nhs_number: on_invalid must be one of null, pseudonym, error; got "drop"`},
		{Spec{Name: "tokenise", Domain: "x"}, `transform tokenise: is not a known transform; want one of "token"`},
		{Spec{Name: NameToken}, "transform token: domain is required"},
		{Spec{Name: NameToken, Domain: "NHS Number"}, "transform token: domain must be lower-case"},
		{Spec{Name: NameToken, Domain: "x", Params: map[string]string{"bits": "128"}}, `transform token: unknown parameter "bits" (it takes no parameters)`},
		{Spec{Name: NamePseudonym, Domain: "x", Params: map[string]string{"bits": "64"}}, `transform pseudonym: bits must be a whole number from 128 to 256; got "64"`},
		{Spec{Name: NameDateShift, Domain: "patient_id"}, "transform date_shift: max_days is required"},
		{Spec{Name: NameDateShift, Domain: "patient_id", Params: map[string]string{"max_days": "30", "on_invalid": "pseudonym"}}, `on_invalid must be one of null, error; got "pseudonym"`},
		{Spec{Name: NameGeneralise, Params: map[string]string{"to": "decade"}}, `transform generalise: to must be one of year, month`},
		{Spec{Name: NameGeneralise, Params: map[string]string{"to": "age_band"}}, "reference_date is required"},
		{Spec{Name: NameGeneralise, Params: map[string]string{"to": "bucket", "width": "-1"}}, `width must be a positive number; got "-1"`},
		{Spec{Name: NameMask, Params: map[string]string{"char": "ab"}}, `char must be a single character`},
		{Spec{Name: NameDigits, Domain: "mrn", Params: map[string]string{"length": "30"}}, `length must be a whole number from 6 to 18`},
	} {
		_, err := e.Build(tc.spec)
		if !isSpecErr(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want a spec error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestNoContext(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}})
	for _, s := range keyedSpecs("x") {
		tr := mustBuild(t, e, s)
		if _, _, err := tr.Apply(nil, &Context{}, []byte("9434765919"), false); err == nil {
			t.Errorf("%s: empty context: got no error", s.Name)
		}
		if _, _, err := tr.Apply(nil, nil, []byte("9434765919"), false); err == nil {
			t.Errorf("%s: nil context: got no error", s.Name)
		}
	}
}

// allSpecs has one spec for each transform.
func allSpecs() []Spec {
	return append(keyedSpecs("nhs_number"),
		Spec{Name: NameDateShift, Domain: "patient_id", Params: map[string]string{"max_days": "365"}},
		Spec{Name: NameGeneralise, Params: map[string]string{"to": "year"}},
		Spec{Name: NameGeneralise, Params: map[string]string{"to": "age_band", "reference_date": "2024-01-01"}},
		Spec{Name: NameGeneralise, Params: map[string]string{"to": "postcode_sector"}},
		Spec{Name: NameGeneralise, Params: map[string]string{"to": "bucket", "width": "5"}},
		Spec{Name: NameMask, Params: map[string]string{"keep_last": "4"}},
		Spec{Name: NameRedact},
	)
}

func TestEmptyInput(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}})
	c := Context{Sandbox: "s", Subject: []byte("P1")}
	for _, s := range allSpecs() {
		tr := mustBuild(t, e, s)
		out, null, err := tr.Apply(nil, &c, []byte{}, false)
		switch s.Name {
		case NameToken:
			if got, rerr := e.Reveal(c, s.Domain, out); err != nil || rerr != nil || len(got) != 0 {
				t.Errorf("token of empty: %v, reveal %v", err, rerr)
			}
		case NamePseudonym, NameSynthetic:
			if err != nil || null || len(out) == 0 {
				t.Errorf("%s of empty: got %q null=%v err=%v", s.Name, out, null, err)
			}
		case NameMask:
			if err != nil || null || len(out) != 0 {
				t.Errorf("mask of empty: got %q null=%v err=%v", out, null, err)
			}
		default: // invalid for the format transforms, and redact: NULL
			if err != nil || !null {
				t.Errorf("%s of empty: got %q null=%v err=%v, want NULL", s.Name, out, null, err)
			}
		}
	}
}

// TestConcurrentApply runs every transform from many goroutines (run with
// -race) and checks each agrees with a serial run.
func TestConcurrentApply(t *testing.T) {
	e := newTestEngine(t, Config{Synthesiser: fakeSynth{}, CacheBytes: 16 << 10})
	specs := allSpecs()
	trs := make([]Transform, len(specs))
	for i, s := range specs {
		trs[i] = mustBuild(t, e, s)
	}
	inputs := benchInputs(50)
	want := make([][]string, len(trs))
	for i, tr := range trs {
		for _, in := range inputs {
			c := Context{Sandbox: "s", Subject: in}
			out, null, err := tr.Apply(nil, &c, in, false)
			want[i] = append(want[i], fmt.Sprint(string(out), null, err))
		}
	}
	errs := make(chan string, 8)
	for g := range 8 {
		go func() {
			var msg string
			for round := range 20 {
				for i, tr := range trs {
					for j, in := range inputs {
						c := Context{Sandbox: "s", Subject: in}
						if (g+round)%2 == 1 {
							c.Sandbox = "other"
						}
						out, null, err := tr.Apply(nil, &c, in, false)
						if c.Sandbox == "s" && fmt.Sprint(string(out), null, err) != want[i][j] && msg == "" {
							msg = fmt.Sprintf("%s on input %d: got %q, want %q", tr.Name(), j, out, want[i][j])
						}
					}
				}
			}
			errs <- msg
		}()
	}
	for range 8 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}
