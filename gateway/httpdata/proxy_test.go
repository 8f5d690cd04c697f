package httpdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sandgate/sandgate/pseudonymise"
)

// TestFHIRBundleNoRawIdentifiers: a synthetic Bundle through the proxy
// carries no raw identifier anywhere in its bytes, and what the rules keep
// is still there, transformed as named.
func TestFHIRBundleNoRawIdentifiers(t *testing.T) {
	u := newUpstream(t)
	f := synthBundle(t, 50)
	u.set("/R4/Patient", response{ct: "application/fhir+json; charset=utf-8", body: f.body})
	_, s := newProxy(t, u, fhirRules())
	resp, err := http.Get(s.URL + "/Patient?_count=50")
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got %d, %v", resp.StatusCode, err)
	}
	for _, raw := range f.raw {
		if raw != "" && bytes.Contains(out, []byte(raw)) {
			t.Fatalf("output contains the raw identifier %q", raw)
		}
	}
	if h := resp.Header.Get(ErrorHeader); h != "" {
		t.Fatalf("upstream forged %s: %q reached the client", ErrorHeader, h)
	}
	if resp.Header.Get("Location") != "" {
		t.Fatal("upstream Location header reached the client")
	}
	var b struct {
		ResourceType string
		Total        int
		Entry        []struct {
			FullURL  string `json:"fullUrl"`
			Resource map[string]any
		}
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Total != 50 || len(b.Entry) != f.entries {
		t.Fatalf("got %s total %d with %d entries, want Bundle 50 with %d", b.ResourceType, b.Total, len(b.Entry), f.entries)
	}
	checkPatient(t, b.Entry[0].Resource)
	if b.Entry[0].FullURL != "" {
		t.Errorf("fullUrl was not named by a rule but passed: %q", b.Entry[0].FullURL)
	}
	obs := b.Entry[1].Resource
	if obs["resourceType"] != "Observation" || obs["valueQuantity"] == nil || obs["status"] != "final" {
		t.Errorf("observation lost kept fields: %v", obs)
	}
	if ref := obs["subject"].(map[string]any)["reference"].(string); strings.HasPrefix(ref, "Patient/") {
		t.Errorf("subject reference passed raw: %q", ref)
	}
	if m, _ := regexp.MatchString(`^\d{4}-\d{2}$`, obs["effectiveDateTime"].(string)); !m {
		t.Errorf("effectiveDateTime %q is not generalised to a month", obs["effectiveDateTime"])
	}
}

func checkPatient(t *testing.T, p map[string]any) {
	t.Helper()
	want := map[string]bool{"resourceType": true, "id": true, "identifier": true, "name": true, "gender": true, "birthDate": true, "address": true}
	for k := range p {
		if !want[k] {
			t.Errorf("patient member %q is not named by a rule but passed", k)
		}
	}
	id := p["identifier"].([]any)[0].(map[string]any)
	if id["system"] != nhsSystem || !pseudonymise.ValidNHSNumber([]byte(id["value"].(string))) {
		t.Errorf("NHS number identifier: got %v, want a valid (transformed) NHS number", id)
	}
	if m, _ := regexp.MatchString(`^\d{4}$`, p["birthDate"].(string)); !m {
		t.Errorf("birthDate %q is not a year", p["birthDate"])
	}
	addr := p["address"].([]any)[0].(map[string]any)
	if len(addr) != 1 || addr["postalCode"] == nil {
		t.Errorf("address: got %v, want only the outward postcode", addr)
	}
	name := p["name"].([]any)[0].(map[string]any)
	if len(name) != 1 || name["family"] == nil {
		t.Errorf("name: got %v, want only the pseudonymised family name", name)
	}
}

// TestPredicateOrderAndOtherIdentifiers: the NHS-number rule applies
// whatever the member order; identifiers of other systems are dropped.
func TestPredicateOrderAndOtherIdentifiers(t *testing.T) {
	p, err := New(Config{Sandbox: "s", Upstream: "http://x", Rules: fhirRules(), Engine: testEngine(t)})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"resourceType":"Patient","identifier":[{"value":"9434765919","system":"` + nhsSystem + `"},` +
		`{"system":"https://trust.example/mrn","value":"MRN-12345"},{"value":"9434765870"}]}`
	out, err := rewriteString(t, p, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"9434765919", "MRN-12345", "9434765870", "trust.example"} {
		if strings.Contains(out, raw) {
			t.Fatalf("output %s contains %q", out, raw)
		}
	}
	var got struct{ Identifier []map[string]string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Identifier) != 1 || !pseudonymise.ValidNHSNumber([]byte(got.Identifier[0]["value"])) {
		t.Fatalf("got %s", out)
	}
}

// TestProtectedPathsNeverKept: an inherited keep does not pass names,
// telecoms, addresses, identifiers or narrative, and a nested resource
// starts again from drop.
func TestProtectedPathsNeverKept(t *testing.T) {
	rules := []FieldRule{at("Bundle.entry", keep), at("Patient.contact", keep), at("*.text", keep), at("Observation.contained", keep), at("Observation.extension", keep)}
	p, err := New(Config{Sandbox: "s", Upstream: "http://x", Rules: rules, Engine: testEngine(t)})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"resourceType":"Bundle","entry":[{"fullUrl":"keep-me","resource":{"resourceType":"Patient","name":[{"family":"Raw"}],` +
		`"text":{"status":"generated","div":"<div>Raw Family</div>"},"contact":[{"name":{"family":"Kin"},"telecom":[{"value":"07700900123"}],"gender":"female"}]}},` +
		`{"resource":{"resourceType":"Observation","contained":[{"resourceType":"Patient","birthDate":"1970-01-01"}],` +
		`"extension":[{"url":"x","valueAddress":{"line":["1 Raw Street"]},"address":{"line":["2 Raw Street"]}}]}}]}`
	out, err := rewriteString(t, p, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"Raw", "Kin", "07700900123", "1970"} {
		if strings.Contains(out, raw) {
			t.Errorf("output contains %q: %s", raw, out)
		}
	}
	for _, kept := range []string{"keep-me", `"gender":"female"`, `"status":"generated"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("output lost %s: %s", kept, out)
		}
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("output is not JSON: %s", out)
	}
}

// TestRefusals: non-JSON, compressed and non-UTF-8 bodies, writes and
// ambiguous paths are refused.
func TestRefusals(t *testing.T) {
	u := newUpstream(t)
	u.set("/R4/text", response{ct: "text/plain", body: []byte("9434765919")})
	u.set("/R4/html", response{ct: "text/html", body: []byte("<p>9434765919</p>")})
	u.set("/R4/gzip", response{ct: "application/json", ce: "gzip", body: []byte("\x1f\x8b")})
	u.set("/R4/latin1", response{ct: "application/json; charset=iso-8859-1", body: []byte(`{}`)})
	_, s := newProxy(t, u, fhirRules())
	for _, path := range []string{"/text", "/html", "/gzip", "/latin1"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(ErrorHeader) != CodeNotJSON || bytes.Contains(body, []byte("9434765919")) {
			t.Errorf("%s: got %d %q %q, want 502 %s", path, resp.StatusCode, resp.Header.Get(ErrorHeader), body, CodeNotJSON)
		}
	}
	resp, err := http.Post(s.URL+"/Patient", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %d, want 405", resp.StatusCode)
	}
	resp, err = http.Get(s.URL + "/Patient/%2e%2e/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("dot-dot path: got %d, want 400", resp.StatusCode)
	}
}

// TestMidStreamFailureAborts: a body that turns bad after the first bytes
// were sent aborts the response; the client never gets a complete
// document, nor the raw value after the fault.
func TestMidStreamFailureAborts(t *testing.T) {
	u := newUpstream(t)
	f := synthBundle(t, 200)
	bad := append(bytes.TrimSuffix(f.body, []byte("]}")), []byte(`,{"resource":{"id":"x","resourceType":"Patient","identifier":[{"value":"9434765919"}]}}]}`)...)
	u.set("/R4/Patient", response{ct: "application/fhir+json", body: bad})
	_, s := newProxy(t, u, fhirRules())
	resp, err := http.Get(s.URL + "/Patient")
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && json.Valid(out) {
		t.Fatalf("got a complete document, want an aborted response")
	}
	if bytes.Contains(out, []byte("9434765919")) {
		t.Fatal("raw value after the fault reached the client")
	}
}

// TestStreams: the first rewritten bytes reach the client while the
// upstream is still sending.
func TestStreams(t *testing.T) {
	u := newUpstream(t)
	f := synthBundle(t, 400)
	half := bytes.LastIndex(f.body[:len(f.body)/2], []byte(`,{"fullUrl"`))
	release := make(chan struct{})
	u.set("/R4/Patient", response{ct: "application/fhir+json", stream: func(w io.Writer) {
		w.Write(f.body[:half])
		w.(http.Flusher).Flush()
		<-release
		w.Write(f.body[half:])
	}})
	_, s := newProxy(t, u, fhirRules())
	resp, err := http.Get(s.URL + "/Patient")
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 4096)
	_, err = io.ReadFull(resp.Body, first)
	close(release)
	if err != nil {
		t.Fatalf("read the first 4 KiB while the upstream was paused: %v", err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !json.Valid(append(first, rest...)) {
		t.Fatalf("complete response: %v", err)
	}
}

func TestValidate(t *testing.T) {
	eng := testEngine(t)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"keep a name", Config{Sandbox: "s", Upstream: "http://x", Rules: []FieldRule{at("Patient.name", keep)}}, "is protected"},
		{"keep an address", Config{Sandbox: "s", Upstream: "http://x", Rules: []FieldRule{at("*.address.line", keep)}}, "is protected"},
		{"no sandbox", Config{Upstream: "http://x", Rules: fhirRules(), Engine: eng}, "sandbox: is required"},
		{"bad upstream", Config{Sandbox: "s", Upstream: "ftp://x", Rules: fhirRules(), Engine: eng}, "upstream"},
		{"no rules", Config{Sandbox: "s", Upstream: "http://x"}, "no rule is given"},
		{"bad path", Config{Sandbox: "s", Upstream: "http://x", Rules: []FieldRule{at("Patient", keep)}}, "names a resource type only"},
		{"bad predicate", Config{Sandbox: "s", Upstream: "http://x", Rules: []FieldRule{at("Patient.identifier[system].value", keep)}}, "malformed predicate"},
		{"bad transform", Config{Sandbox: "s", Upstream: "http://x", Engine: eng, Rules: []FieldRule{at("Patient.gender", tr("scramble", "", nil))}}, "not a known transform"},
		{"date_shift", Config{Sandbox: "s", Upstream: "http://x", Engine: eng, Rules: []FieldRule{at("Patient.birthDate", tr("date_shift", "patient_id", map[string]string{"max_days": "30"}))}}, "date_shift is not offered"},
		{"no engine", Config{Sandbox: "s", Upstream: "http://x", Rules: fhirRules()}, "engine: is required"},
		{"bad action", Config{Sandbox: "s", Upstream: "http://x", Rules: []FieldRule{{Path: "Patient.gender", Action: "show"}}}, "must be one of"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want an ErrInvalidConfig containing %q", c.name, err, c.want)
		}
	}
}
