package synth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var kindRe = map[string]*regexp.Regexp{
	"given_name":    regexp.MustCompile(`^[A-Z][a-z]+$`),
	"family_name":   regexp.MustCompile(`^[A-Z][a-z]+$`),
	"name":          regexp.MustCompile(`^[A-Z][a-z]+ [A-Z][a-z]+$`),
	"address":       regexp.MustCompile(`^[0-9]+ [A-Za-z ]+, [A-Za-z -]+, [A-Z0-9]+ [0-9][A-Z]{2}$`),
	"address_line":  regexp.MustCompile(`^[0-9]+ [A-Za-z ]+$`),
	"town":          regexp.MustCompile(`^[A-Za-z -]+$`),
	"postcode":      postcodeRe,
	"phone":         phoneRe,
	"email":         emailRe,
	"nhs_number":    regexp.MustCompile(`^999[0-9]{7}$`),
	"date_of_birth": regexp.MustCompile(`^(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]$`),
	"gp_practice":   gpRe,
	"ethnicity":     ethRe,
}

func TestReplace(t *testing.T) {
	for _, kind := range ReplaceKinds() {
		re := kindRe[kind]
		if re == nil {
			t.Fatalf("no pattern for kind %s", kind)
		}
		distinct := map[string]bool{}
		for i := 0; i < 2000; i++ {
			seed := []byte("pseudonym-" + itoa(i))
			a, err := Replace(kind, seed, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Replace(kind, seed, []byte("prefix:"))
			if string(b) != "prefix:"+string(a) {
				t.Fatalf("%s: seed %q gave %q then %q", kind, seed, a, b)
			}
			if !re.Match(a) {
				t.Fatalf("%s: %q does not match %s", kind, a, re)
			}
			if kind == "nhs_number" && !ValidNHSNumber(string(a)) {
				t.Fatalf("nhs_number %s fails modulus 11", a)
			}
			distinct[string(a)] = true
		}
		if len(distinct) < 5 {
			t.Errorf("%s: only %d distinct values over 2000 seeds", kind, len(distinct))
		}
	}
}

func TestReplaceConsistentPerson(t *testing.T) {
	seed := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	given, _ := Replace("given_name", seed, nil)
	family, _ := Replace("family_name", seed, nil)
	name, _ := Replace("name", seed, nil)
	email, _ := Replace("email", seed, nil)
	if string(name) != string(given)+" "+string(family) {
		t.Errorf("name %q, want %q %q", name, given, family)
	}
	if !strings.HasPrefix(string(email), strings.ToLower(string(given)+"."+string(family))) {
		t.Errorf("email %q does not belong to %s %s", email, given, family)
	}
}

func TestReplaceUnknownKind(t *testing.T) {
	_, err := Replace("shoe_size", []byte("x"), nil)
	if !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), "given_name") {
		t.Errorf("got %v, want ErrUnknownKind listing the kinds", err)
	}
}

func TestReplaceAllocs(t *testing.T) {
	dst := make([]byte, 0, 128)
	seed := []byte("0123456789abcdef0123")
	for _, kind := range ReplaceKinds() {
		n := testing.AllocsPerRun(100, func() { dst, _ = Replace(kind, seed, dst[:0]) })
		if n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", kind, n)
		}
	}
}

func BenchmarkReplace(b *testing.B) {
	dst := make([]byte, 0, 128)
	seed := []byte("0123456789abcdef0123")
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = Replace("address", seed, dst[:0])
	}
	if len(dst) == 0 {
		b.Fatal("empty")
	}
}
