package pseudonymise

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzTransforms applies every transform to arbitrary input and subject
// bytes: no panics, determinism, tokens that reveal, valid NHS numbers that
// stay valid, NULL that stays NULL, errors that do not quote the value.
func FuzzTransforms(f *testing.F) {
	for _, s := range [][2]string{
		{"9434765919", "P1"}, {"943 476 5919", ""}, {"", ""}, {"\xff\xfe", "\x00"},
		{"2024-03-01 10:11:12+05:30", "9434765919"}, {"SW1A 1AA", "x"}, {"47.5", "y"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), false)
	}
	f.Add([]byte(nil), []byte(nil), true)
	e := newTestEngine(f, Config{Synthesiser: fakeSynth{}, MaxValueBytes: 4096})
	specs := allSpecs()
	trs := make([]Transform, len(specs))
	for i, s := range specs {
		trs[i] = mustBuild(f, e, s)
	}
	f.Fuzz(func(t *testing.T, in, subject []byte, null bool) {
		c := Context{Sandbox: "fuzz", Subject: subject}
		for i, tr := range trs {
			out1, null1, err1 := tr.Apply([]byte("pre"), &c, in, null)
			out2, null2, err2 := tr.Apply(nil, &c, in, null)
			if !bytes.HasPrefix(out1, []byte("pre")) {
				t.Fatalf("%s: output does not extend dst", tr.Name())
			}
			if !bytes.Equal(out1[3:], out2) || null1 != null2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s: not deterministic", tr.Name())
			}
			if null && !null1 {
				t.Fatalf("%s: NULL in, non-NULL out", tr.Name())
			}
			if err1 != nil {
				if len(in) >= 4 && bytes.Contains([]byte(err1.Error()), in) {
					t.Fatalf("%s: error %q quotes the value", tr.Name(), err1)
				}
				continue
			}
			if null1 {
				if len(out1) != 3 {
					t.Fatalf("%s: NULL out with bytes appended", tr.Name())
				}
				continue
			}
			switch specs[i].Name {
			case NameToken:
				got, err := e.Reveal(c, specs[i].Domain, out2)
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("token does not reveal: %v", err)
				}
			case NameNHSNumber:
				if !ValidNHSNumber(in) || !ValidNHSNumber(out2) {
					t.Fatalf("nhs_number: valid=%v in, valid=%v out", ValidNHSNumber(in), ValidNHSNumber(out2))
				}
			case NameDigits, NameDateShift:
				if len(out2) != len(in) {
					t.Fatalf("%s: length changed from %d to %d", tr.Name(), len(in), len(out2))
				}
			case NameGeneralise, NamePseudonym:
				if !utf8.Valid(out2) {
					t.Fatalf("%s: output is not UTF-8", tr.Name())
				}
			case NameMask:
				if utf8.RuneCount(out2) != utf8.RuneCount(in) {
					t.Fatalf("mask: rune count changed")
				}
			}
		}
	})
}

// FuzzReveal feeds arbitrary tokens to Reveal: it must fail cleanly unless
// the token is a real one.
func FuzzReveal(f *testing.F) {
	e := newTestEngine(f, Config{})
	tr := mustBuild(f, e, Spec{Name: NameToken, Domain: "d"})
	real := apply(f, tr, Context{Sandbox: "s"}, "value")
	f.Add([]byte(real))
	f.Add([]byte("tok_"))
	f.Add([]byte("tok_aaaa"))
	f.Add([]byte(""))
	f.Add([]byte("tok_\xff"))
	f.Fuzz(func(t *testing.T, tok []byte) {
		got, err := e.Reveal(Context{Sandbox: "s"}, "d", tok)
		if err == nil {
			if string(got) != "value" {
				t.Fatalf("revealed a value that was never tokenised")
			}
			return
		}
		if !errors.Is(err, ErrReveal) {
			t.Fatalf("got %v, want ErrReveal", err)
		}
	})
}

// FuzzParseDate checks the date parser against its writer.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024-03-01", "2024-02-29 23:59:60.999999+14", "0001-01-01T00:00Z", "2024-13-01", "9999-12-31 10:11-08:30:15"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, rest, ok := parseDateText(in)
		if !ok {
			return
		}
		again := append(appendDate(nil, d), rest...)
		if !bytes.Equal(again, in) {
			t.Fatalf("round trip: got %q, want %q", again, in)
		}
		if d.addDays(0) != d {
			t.Fatalf("parsed an impossible date %v", d)
		}
	})
}

// FuzzFF1 checks that FF1 is a permutation of n-digit numbers: decrypt
// inverts encrypt and the output stays in range.
func FuzzFF1(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), []byte{}, uint64(123456789), uint8(9))
	f.Add([]byte("0123456789abcdef0123456789abcdef"), []byte("tweak"), uint64(0), uint8(6))
	f.Fuzz(func(t *testing.T, key, tweak []byte, x uint64, n uint8) {
		if len(key) != 16 && len(key) != 24 && len(key) != 32 {
			return
		}
		if int(n) < ff1MinLen || int(n) > ff1MaxLen || len(tweak) > 128 {
			return
		}
		x %= pow10[n]
		ff, err := newFF1(key, tweak)
		if err != nil {
			t.Fatal(err)
		}
		y := ff.encrypt(x, int(n))
		if y >= pow10[n] {
			t.Fatalf("encrypt out of range: %d for n=%d", y, n)
		}
		if back := ff.decrypt(y, int(n)); back != x {
			t.Fatalf("decrypt(encrypt(%d)) = %d", x, back)
		}
	})
}

// FuzzBuild builds arbitrary specs: an error must be a SpecError.
func FuzzBuild(f *testing.F) {
	f.Add("nhs_number", "nhs_number", "on_invalid", "drop")
	f.Add("generalise", "", "to", "age_band")
	f.Add("date_shift", "patient_id", "max_days", "99999999999999999999")
	f.Add("mask", "", "char", "\xff")
	e := newTestEngine(f, Config{Synthesiser: fakeSynth{}})
	f.Fuzz(func(t *testing.T, name, domain, key, value string) {
		tr, err := e.Build(Spec{Name: name, Domain: domain, Params: map[string]string{key: value}})
		if err != nil {
			if !isSpecErr(err) {
				t.Fatalf("got %T %v, want a SpecError", err, err)
			}
			return
		}
		if tr.Name() != name {
			t.Fatalf("built %s from %s", tr.Name(), name)
		}
		c := Context{Sandbox: "s", Subject: []byte("p")}
		tr.Apply(nil, &c, []byte(value), false)
	})
}
