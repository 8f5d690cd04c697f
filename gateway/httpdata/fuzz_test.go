package httpdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzRewriteJSON: the rewrite never panics, its output is valid JSON and
// deterministic, and a raw NHS number placed at a protected path never
// survives.
func FuzzRewriteJSON(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Patient","identifier":[{"system":"` + nhsSystem + `","value":"9434765919"}],"gender":"male"}`,
		`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.5}}}]}`,
		`{"resourceType":"Patient","name":[{"family":"X","given":["A","B"]}],"birthDate":"1970-01-01"}`,
		`{"a":1,"resourceType":"Patient"}`, `[]`, `null`, `"x"`, `{"resourceType":1}`, `{`, `{"x":[[[[[]]]]]}`,
		`{"resourceType":"Patient","identifier":[{"value":"x"}, 1, null, [2]]}`,
	} {
		f.Add([]byte(s))
	}
	p, err := New(Config{Sandbox: "s", Upstream: "http://x", Rules: append(fhirRules(), at("$.a", keep)), Engine: testEngine(f), MaxDepth: 32})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		var a, b bytes.Buffer
		errA := p.Rewrite(&a, bytes.NewReader(in))
		errB := p.Rewrite(&b, bytes.NewReader(in))
		if (errA == nil) != (errB == nil) || errA == nil && !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("not deterministic: %v / %v", errA, errB)
		}
		if errA != nil {
			if strings.Contains(errA.Error(), "9434765919") {
				t.Fatalf("error contains a value: %v", errA)
			}
			return
		}
		if !json.Valid(a.Bytes()) {
			t.Fatalf("output is not JSON: %q from %q", a.Bytes(), in)
		}
		if !json.Valid(in) {
			t.Fatalf("invalid input %q was accepted", in)
		}
	})
}

// TestRewriteLimits: depth and element size limits, at and over the limit.
func TestRewriteLimits(t *testing.T) {
	rules := []FieldRule{at("$.x", keep), at("Patient.identifier[system=s].system", keep)}
	p, err := New(Config{Sandbox: "s", Upstream: "http://x", Rules: rules, MaxDepth: 3, MaxElementBytes: 40})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rewriteString(t, p, `{"x":[[1]]}`); err != nil {
		t.Errorf("depth at the limit: %v", err)
	}
	if _, err := rewriteString(t, p, `{"x":[[[1]]]}`); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth over the limit: got %v, want ErrTooDeep", err)
	}
	small := `{"resourceType":"Patient","identifier":[{"system":"s","v":"` + strings.Repeat("a", 14) + `"}]}`
	if out, err := rewriteString(t, p, small); err != nil || !strings.Contains(out, `"system":"s"`) {
		t.Errorf("element within the limit: %v %s", err, out)
	}
	big := `{"resourceType":"Patient","identifier":[{"system":"s","v":"` + strings.Repeat("a", 40) + `"}]}`
	if _, err := rewriteString(t, p, big); !errors.Is(err, ErrElementTooBig) {
		t.Errorf("element over the limit: got %v, want ErrElementTooBig", err)
	}
	for _, bad := range []string{`{"a":1} {}`, `{"a":`, `{"x":{"b":1,"resourceType":"Y"}}`} {
		if _, err := rewriteString(t, p, bad); err == nil {
			t.Errorf("%s: got no error", bad)
		}
	}
}
