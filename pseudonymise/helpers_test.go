package pseudonymise

import (
	"errors"
	"testing"
)

func newTestKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = newTestKeys(t)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustBuild(t testing.TB, e *Engine, s Spec) Transform {
	t.Helper()
	tr, err := e.Build(s)
	if err != nil {
		t.Fatalf("build %+v: %v", s, err)
	}
	return tr
}

// apply runs tr on a non-NULL value and fails the test on error or NULL.
func apply(t testing.TB, tr Transform, c Context, in string) string {
	t.Helper()
	out, null, err := tr.Apply(nil, &c, []byte(in), false)
	if err != nil {
		t.Fatalf("%s: %v", tr.Name(), err)
	}
	if null {
		t.Fatalf("%s: got NULL, want a value", tr.Name())
	}
	return string(out)
}

// fakeSynth picks a name from a list by the seed.
type fakeSynth struct{}

var fakeNames = []string{"Ada", "Brook", "Cai", "Dee", "Eli", "Fen", "Gus", "Hal"}

func (fakeSynth) Replace(kind string, seed []byte, dst []byte) []byte {
	dst = append(dst, kind...)
	dst = append(dst, ':')
	return append(dst, fakeNames[int(seed[0])%len(fakeNames)]...)
}

var _ Synthesiser = fakeSynth{}

func isSpecErr(err error) bool {
	var se *SpecError
	return errors.As(err, &se) && errors.Is(err, ErrSpec)
}
