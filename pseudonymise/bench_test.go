package pseudonymise

import (
	"strconv"
	"testing"
)

// benchInputs are distinct valid NHS numbers, so that uncached benchmarks do
// not measure one value only.
func benchInputs(n int) [][]byte {
	var out [][]byte
	for body := uint64(400_000_000); len(out) < n; body++ {
		if d, ok := nhsCheckDigit(body); ok {
			out = append(out, []byte(strconv.FormatUint(body*10+d, 10)))
		}
	}
	return out
}

func benchTransform(b *testing.B, cfg Config, s Spec, c Context, inputs [][]byte) {
	e := newTestEngine(b, cfg)
	tr := mustBuild(b, e, s)
	dst := make([]byte, 0, 256)
	var err error
	var null bool
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		dst, null, err = tr.Apply(dst[:0], &c, inputs[i%len(inputs)], false)
		i++
	}
	if err != nil || null || len(dst) == 0 {
		b.Fatalf("last result: %q null=%v err=%v", dst, null, err)
	}
}

var uncached = Config{CacheBytes: -1, Synthesiser: fakeSynth{}}

func BenchmarkToken(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameToken, Domain: "nhs_number"}, ctxA, benchInputs(1024))
}

func BenchmarkPseudonym(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NamePseudonym, Domain: "nhs_number"}, ctxA, benchInputs(1024))
}

func BenchmarkNHSNumber(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameNHSNumber, Domain: "nhs_number"}, ctxA, benchInputs(1024))
}

func BenchmarkDigits(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameDigits, Domain: "mrn"}, ctxA, benchInputs(1024))
}

func BenchmarkSynthetic(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameSynthetic, Domain: "given_name", Params: map[string]string{"kind": "given_name"}}, ctxA, benchInputs(1024))
}

func BenchmarkDateShift(b *testing.B) {
	c := Context{Sandbox: "sandbox_a", Subject: []byte("P000123")}
	benchTransform(b, uncached, Spec{Name: NameDateShift, Domain: "patient_id", Params: map[string]string{"max_days": "180"}}, c,
		[][]byte{[]byte("2024-03-01 10:11:12.123+00"), []byte("1970-01-01")})
}

func BenchmarkGeneraliseAgeBand(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameGeneralise, Params: map[string]string{"to": "age_band", "reference_date": "2024-06-30"}}, ctxA,
		[][]byte{[]byte("1980-07-01"), []byte("1931-02-03")})
}

func BenchmarkGeneralisePostcode(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameGeneralise, Params: map[string]string{"to": "postcode_sector"}}, ctxA,
		[][]byte{[]byte("SW1A 1AA"), []byte("m11ae")})
}

func BenchmarkGeneraliseBucket(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameGeneralise, Params: map[string]string{"to": "bucket", "width": "10"}}, ctxA,
		[][]byte{[]byte("47"), []byte("123.5")})
}

func BenchmarkMask(b *testing.B) {
	benchTransform(b, uncached, Spec{Name: NameMask, Params: map[string]string{"keep_last": "4"}}, ctxA,
		[][]byte{[]byte("4111111111111111"), []byte("Zoë Brown")})
}

// BenchmarkCacheHit applies the expensive transforms to a small set of
// values that are all in the cache.
func BenchmarkCacheHit(b *testing.B) {
	for _, s := range []Spec{
		{Name: NameToken, Domain: "nhs_number"},
		{Name: NameNHSNumber, Domain: "nhs_number"},
		{Name: NamePseudonym, Domain: "nhs_number"},
	} {
		b.Run(s.Name, func(b *testing.B) {
			benchTransform(b, Config{}, s, ctxA, benchInputs(64))
		})
	}
}

// BenchmarkParallelMixed applies a row of five transforms per iteration,
// from all cores, over 4096 patients: the first pass misses the cache, later
// passes hit it. ns/op is per row of five fields.
func BenchmarkParallelMixed(b *testing.B) {
	e := newTestEngine(b, Config{Synthesiser: fakeSynth{}})
	trs := []Transform{
		mustBuild(b, e, Spec{Name: NameNHSNumber, Domain: "nhs_number"}),
		mustBuild(b, e, Spec{Name: NameToken, Domain: "nhs_number"}),
		mustBuild(b, e, Spec{Name: NamePseudonym, Domain: "patient_id"}),
		mustBuild(b, e, Spec{Name: NameDateShift, Domain: "nhs_number", Params: map[string]string{"max_days": "180"}}),
		mustBuild(b, e, Spec{Name: NameGeneralise, Params: map[string]string{"to": "age_band", "reference_date": "2024-06-30"}}),
	}
	inputs := benchInputs(4096)
	dob := []byte("1961-04-05")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, 512)
		c := Context{Sandbox: "sandbox_a"}
		i := 0
		for pb.Next() {
			id := inputs[i%len(inputs)]
			c.Subject = id
			dst = dst[:0]
			for j, tr := range trs {
				in := id
				if j >= 3 {
					in = dob
				}
				var err error
				if dst, _, err = tr.Apply(dst, &c, in, false); err != nil {
					b.Error(err)
					return
				}
			}
			i++
		}
	})
}

// BenchmarkTinkAESSIVBaseline is Tink's Deterministic AEAD alone, the floor
// under BenchmarkToken.
func BenchmarkTinkAESSIVBaseline(b *testing.B) {
	e := newTestEngine(b, uncached)
	in, ad := []byte("9434765919"), tokenAD(scopeKey{name: "sandbox_a"}, "nhs_number")
	var ct []byte
	var err error
	b.ReportAllocs()
	for b.Loop() {
		ct, err = e.daead.EncryptDeterministically(in, ad)
	}
	if err != nil || len(ct) == 0 {
		b.Fatal(err)
	}
}
