package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// generateCSV returns the first n slots of every ehr table as CSV.
func generateCSV(tb testing.TB, seed uint64, n int64) []byte {
	tb.Helper()
	spec, err := Builtin("ehr")
	if err != nil {
		tb.Fatal(err)
	}
	var b []byte
	for _, t := range spec.Tables {
		g := spec.NewGenerator(t, seed)
		b = append(b, "# "+t.Name+"\n"...)
		b = g.AppendCSVHeader(b)
		for s := int64(0); s < n; s++ {
			if g.Gen(s) {
				b = g.AppendCSV(b)
				b = g.AppendJSON(b)
				b = append(b, '\n')
			}
		}
	}
	return b
}

// TestDeterminism: the same seed gives the same bytes, here and on every
// other machine (the golden hash was recorded once; -update rewrites it).
func TestDeterminism(t *testing.T) {
	a := generateCSV(t, 42, 5000)
	b := generateCSV(t, 42, 5000)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with seed 42 differ")
	}
	if c := generateCSV(t, 43, 5000); bytes.Equal(a, c) {
		t.Fatal("seeds 42 and 43 give the same data")
	}
	sum := sha256.Sum256(a)
	got := hex.EncodeToString(sum[:])
	path := filepath.Join("testdata", "ehr-seed42.sha256")
	if *update {
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Errorf("sha256 of ehr seed 42: got %s, want %s (if the change is intended, run go test -run TestDeterminism -update)", got, want)
	}
}

// TestSlotsIndependent: generating slot i alone gives the same row as
// generating it after others (the caches change nothing).
func TestSlotsIndependent(t *testing.T) {
	spec, _ := Builtin("ehr")
	for _, tb := range spec.Tables {
		seq := spec.NewGenerator(tb, 9)
		for s := int64(0); s < 300; s++ {
			okSeq := seq.Gen(s)
			one := spec.NewGenerator(tb, 9)
			okOne := one.Gen(s)
			if okSeq != okOne || (okSeq && string(seq.AppendCSV(nil)) != string(one.AppendCSV(nil))) {
				t.Fatalf("%s slot %d: sequential and fresh generators disagree", tb.Name, s)
			}
		}
	}
}

// postcodeRe is the UK Government Data Standards Catalogue postcode pattern
// (GIR 0AA aside).
var postcodeRe = regexp.MustCompile(`^([A-Z]{1,2}[0-9][A-Z0-9]?|ASCN|STHL|TDCU|BBND|[BFS]IQQ|PCRN|TKCA) ?[0-9][ABD-HJLNP-UW-Z]{2}$`)

var (
	phoneRe = regexp.MustCompile(`^(07700 900[0-9]{3}|01632 960[0-9]{3}|020 7946 0[0-9]{3})$`)
	emailRe = regexp.MustCompile(`^[a-z]+\.[a-z]+[0-9]{2}@(example\.(com|org|net)|[a-z]+\.(invalid|test))$`)
	gpRe    = regexp.MustCompile(`^[A-Z][0-9]{5}$`)
	ethRe   = regexp.MustCompile(`^[A-HJ-NPRSZ]$`)
)

func TestPatientFormats(t *testing.T) {
	spec, _ := Builtin("ehr")
	g, _ := spec.GeneratorFor("patients", 1)
	const n = 100000
	seen := make(map[[10]byte]bool, n)
	for s := int64(0); s < n; s++ {
		g.Gen(s)
		p := &g.Row().Patient
		nhs := string(p.NHS[:])
		if !ValidNHSNumber(nhs) || !strings.HasPrefix(nhs, "999") {
			t.Fatalf("patient %d: NHS number %s is not a valid 999 number", s, nhs)
		}
		if seen[p.NHS] {
			t.Fatalf("patient %d: NHS number %s repeats", s, nhs)
		}
		seen[p.NHS] = true
		checkFormat(t, s, "postcode", postcodeRe, string(p.Postcode()))
		checkFormat(t, s, "phone", phoneRe, string(p.Phone()))
		checkFormat(t, s, "email", emailRe, string(p.Email()))
		checkFormat(t, s, "gp practice", gpRe, string(p.Practice[:]))
		checkFormat(t, s, "ethnicity", ethRe, p.EthnicityCode())
		if p.BirthDate >= spec.AsOf || p.Age < 0 || p.Age > 104 {
			t.Fatalf("patient %d: born %s, age %d", s, p.BirthDate, p.Age)
		}
	}
}

func checkFormat(t *testing.T, s int64, what string, re *regexp.Regexp, v string) {
	t.Helper()
	if !re.MatchString(v) {
		t.Fatalf("patient %d: %s %q does not match %s", s, what, v, re)
	}
}

func TestValidNHSNumber(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"9434765919", true}, // NHS Digital's published example
		{"9434765918", false},
		{"943476591", false},
		{"94347659190", false},
		{"943476591a", false},
		{"0000000000", true},
	} {
		if got := ValidNHSNumber(c.in); got != c.want {
			t.Errorf("ValidNHSNumber(%q): got %v, want %v", c.in, got, c.want)
		}
	}
	// every index of the space maps to a distinct valid number
	seen := map[[10]byte]bool{}
	var b [10]byte
	for q := 0; q < nhsSpace; q += 7 {
		nhsFromIndex(&b, q)
		if !ValidNHSNumber(string(b[:])) || seen[b] {
			t.Fatalf("q=%d: %s invalid or repeated", q, b[:])
		}
		seen[b] = true
	}
}

func TestDates(t *testing.T) {
	for _, c := range []struct {
		y, m, d int
		s       string
	}{{1970, 1, 1, "1970-01-01"}, {2000, 2, 29, "2000-02-29"}, {1900, 3, 1, "1900-03-01"}, {2025, 12, 31, "2025-12-31"}} {
		d := dateOf(c.y, c.m, c.d)
		if d.String() != c.s {
			t.Errorf("dateOf(%d,%d,%d) = %s, want %s", c.y, c.m, c.d, d, c.s)
		}
		if tv, _ := d.DateValue(); tv.Time.Format("2006-01-02") != c.s {
			t.Errorf("DateValue of %s = %s", c.s, tv.Time)
		}
	}
	if got := string(Timestamp(86400 + 3661).AppendText(nil)); got != "1970-01-02T01:01:01Z" {
		t.Errorf("timestamp: got %s", got)
	}
}

// TestSafeFields: the static lists behind fields marked safe hold nothing
// that CSV would need to quote.
func TestSafeFields(t *testing.T) {
	var all []string
	for _, l := range [][]nameFreq{givenFemale, givenMale, familyNames} {
		for _, n := range l {
			all = append(all, n.name)
		}
	}
	for _, o := range outwardCodes {
		all = append(all, o.town, o.code)
	}
	for _, e := range ethnicities {
		all = append(all, e.code)
	}
	all = append(all, streets...)
	all = append(all, emailDomains...)
	for _, s := range all {
		if needsQuote([]byte(s)) || strings.ContainsAny(s, `\`) {
			t.Errorf("%q is in a list behind a safe field but needs quoting", s)
		}
	}
}

// TestParallelHalves: two goroutines generating disjoint halves of a table
// produce exactly what one sequential pass does.
func TestParallelHalves(t *testing.T) {
	spec, _ := Builtin("ehr")
	for _, tb := range spec.Tables {
		const n = 4000
		var seq []byte
		g := spec.NewGenerator(tb, 2)
		for s := int64(0); s < n; s++ {
			if g.Gen(s) {
				seq = g.AppendCSV(seq)
			}
		}
		halves := make([][]byte, 2)
		done := make(chan int)
		for h := range 2 {
			go func() {
				g := spec.NewGenerator(tb, 2)
				for s := int64(h * n / 2); s < int64((h+1)*n/2); s++ {
					if g.Gen(s) {
						halves[h] = g.AppendCSV(halves[h])
					}
				}
				done <- h
			}()
		}
		<-done
		<-done
		if got := append(halves[0], halves[1]...); !bytes.Equal(got, seq) {
			t.Errorf("%s: parallel halves differ from a sequential pass", tb.Name)
		}
	}
}
