package pseudonymise

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	capff1 "github.com/capitalone/fpe/ff1"
)

// The radix-10 samples of NIST's FF1 examples (SP 800-38G, "FF1samples"):
// samples 1, 2 (AES-128), 4, 5 (AES-192), 7, 8 (AES-256). Samples 3, 6 and 9
// are radix 36, which this implementation does not support.
var nistFF1 = []struct {
	sample         int
	key, tweak     string
	plain, cipher_ string
}{
	{1, "2B7E151628AED2A6ABF7158809CF4F3C", "", "0123456789", "2433477484"},
	{2, "2B7E151628AED2A6ABF7158809CF4F3C", "39383736353433323130", "0123456789", "6124200773"},
	{4, "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F", "", "0123456789", "2830668132"},
	{5, "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F", "39383736353433323130", "0123456789", "2496655549"},
	{7, "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94", "", "0123456789", "6657667009"},
	{8, "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94", "39383736353433323130", "0123456789", "1001623463"},
}

func TestFF1NISTSamples(t *testing.T) {
	for _, v := range nistFF1 {
		t.Run(fmt.Sprintf("Sample%d", v.sample), func(t *testing.T) {
			key, _ := hex.DecodeString(v.key)
			tweak, _ := hex.DecodeString(v.tweak)
			f, err := newFF1(key, tweak)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := strconv.ParseUint(v.plain, 10, 64)
			got := fmt.Sprintf("%0*d", len(v.plain), f.encrypt(x, len(v.plain)))
			if got != v.cipher_ {
				t.Errorf("encrypt: got %s, want %s", got, v.cipher_)
			}
			y, _ := strconv.ParseUint(v.cipher_, 10, 64)
			back := fmt.Sprintf("%0*d", len(v.plain), f.decrypt(y, len(v.plain)))
			if back != v.plain {
				t.Errorf("decrypt: got %s, want %s", back, v.plain)
			}
		})
	}
}

// TestFF1MatchesCapitalOne cross-checks this FF1 against
// github.com/capitalone/fpe on random keys, tweaks and lengths.
func TestFF1MatchesCapitalOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		key := make([]byte, []int{16, 24, 32}[i%3])
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		tweak := make([]byte, rng.IntN(24))
		for j := range tweak {
			tweak[j] = byte(rng.Uint32())
		}
		n := ff1MinLen + rng.IntN(ff1MaxLen-ff1MinLen+1)
		x := rng.Uint64N(pow10[n])
		in := fmt.Sprintf("%0*d", n, x)

		ref, err := capff1.NewCipher(10, len(tweak), key, tweak)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Encrypt(in)
		if err != nil {
			t.Fatal(err)
		}
		f, err := newFF1(key, tweak)
		if err != nil {
			t.Fatal(err)
		}
		y := f.encrypt(x, n)
		if got := fmt.Sprintf("%0*d", n, y); got != want {
			t.Fatalf("case %d (n=%d, tweak %d bytes): got %s, want %s", i, n, len(tweak), got, want)
		}
		if back := f.decrypt(y, n); back != x {
			t.Fatalf("case %d: decrypt got %d, want %d", i, back, x)
		}
	}
}

func TestNHSCheckDigit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"9434765919", true},   // NHS Digital's example
		{"943 476 5919", true}, // with spaces
		{"943-476-5919", true},
		{"9434765918", false}, // wrong check digit
		{"4010232137", true},
		{"0000000000", true},  // check digit 0 from remainder 0
		{"1000000010", false}, // body 100000001 sums to 12, check 10: invalid
		{"943476591", false},
		{"94347659190", false},
		{" 9434765919", false},
		{"", false},
		{"94347659a9", false},
	} {
		if got := ValidNHSNumber([]byte(tc.in)); got != tc.want {
			t.Errorf("ValidNHSNumber(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}
