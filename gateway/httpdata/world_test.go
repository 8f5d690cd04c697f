package httpdata

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/synth"
)

const nhsSystem = "https://fhir.nhs.uk/Id/nhs-number"

var (
	engineOnce sync.Once
	engine     *pseudonymise.Engine
	engineErr  error
)

func testEngine(t testing.TB) *pseudonymise.Engine {
	t.Helper()
	engineOnce.Do(func() {
		keys, err := pseudonymise.NewKeys()
		if err != nil {
			engineErr = err
			return
		}
		engine, engineErr = pseudonymise.New(pseudonymise.Config{Keys: keys})
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engine
}

func tr(name, domain string, params map[string]string) FieldRule {
	return FieldRule{Action: ActionTransform, Transform: pseudonymise.Spec{Name: name, Domain: domain, Params: params}}
}

func at(path string, r FieldRule) FieldRule { r.Path = path; return r }

var keep = FieldRule{Action: ActionKeep}

// fhirRules is a policy an IG officer might write for a FHIR source.
func fhirRules() []FieldRule {
	return []FieldRule{
		at("Bundle.type", keep),
		at("Bundle.total", keep),
		at("Bundle.entry.resource", keep),
		at("Patient.id", tr("pseudonym", "patient_id", nil)),
		at("Patient.identifier[system="+nhsSystem+"].system", keep),
		at("Patient.identifier[system="+nhsSystem+"].value", tr("nhs_number", "nhs_number", map[string]string{"on_invalid": "pseudonym"})),
		at("Patient.name.family", tr("pseudonym", "family_name", nil)),
		at("Patient.gender", keep),
		at("Patient.birthDate", tr("generalise", "", map[string]string{"to": "year"})),
		at("*.address.postalCode", tr("generalise", "", map[string]string{"to": "postcode_outward"})),
		at("*.subject.reference", tr("pseudonym", "patient_ref", nil)),
		at("Observation.status", keep),
		at("Observation.code", keep),
		at("Observation.valueQuantity", keep),
		at("Observation.effectiveDateTime", tr("generalise", "", map[string]string{"to": "month"})),
		at("Condition.code", keep),
	}
}

// fixture is a synthetic FHIR searchset Bundle and the raw identifiers in it.
type fixture struct {
	body    []byte
	raw     []string // values that must not appear in any output
	nhs     []string
	entries int
}

// synthBundle builds a Bundle of n patients, each with observations, from
// the synth package's ehr dataset.
func synthBundle(t testing.TB, n int) fixture {
	t.Helper()
	spec, err := synth.Builtin("ehr")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := spec.GeneratorFor("patients", 42)
	if err != nil {
		t.Fatal(err)
	}
	og, err := spec.GeneratorFor("observations", 42)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	b := []byte(`{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(n) + `,"entry":[`)
	for i := range int64(n) {
		if !pg.Gen(i) {
			continue
		}
		if i > 0 {
			b = append(b, ',')
		}
		p := pg.Row().Patient
		f.nhs = append(f.nhs, string(p.NHS[:]))
		f.raw = append(f.raw, string(p.NHS[:]), p.FamilyName, p.GivenName, string(p.BirthDate.AppendText(nil)),
			fmt.Sprintf("%d %s", p.HouseNumber, p.Street), string(p.Phone()), string(p.Email()), string(p.Postcode()))
		b = append(b, `{"fullUrl":"urn:uuid:p`+strconv.FormatInt(i, 10)+`","resource":`...)
		b = pg.AppendFHIR(b)
		b = append(b, '}')
		f.entries++
		if og.Gen(i) {
			f.entries++
			b = append(b, `,{"resource":`...)
			b = og.AppendFHIR(b)
			b = append(b, '}')
		}
	}
	f.body = append(b, "]}"...)
	return f
}

// upstream serves fixed bodies by path, with the given content types.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string]response
	got    []*http.Request
}

type response struct {
	ct, ce string
	body   []byte
	stream func(w io.Writer) // writes the body itself when set
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{bodies: map[string]response{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) set(path string, r response) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bodies[path] = r
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	res, ok := u.bodies[r.URL.Path]
	u.got = append(u.got, r.Clone(r.Context()))
	u.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", res.ct)
	w.Header().Set("X-Sandgate-Error", "forged")
	w.Header().Set("Location", "https://fhir.example/Patient/9434765919")
	if res.ce != "" {
		w.Header().Set("Content-Encoding", res.ce)
	}
	if res.stream != nil {
		res.stream(w)
		return
	}
	w.Write(res.body)
}

// newProxy starts a data proxy for sandbox ward_a in front of u.
func newProxy(t *testing.T, u *upstream, rules []FieldRule) (*Proxy, *httptest.Server) {
	t.Helper()
	p, err := New(Config{Sandbox: "ward_a", Upstream: u.URL + "/R4", Rules: rules, Engine: testEngine(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(p)
	t.Cleanup(s.Close)
	return p, s
}

func rewriteString(t testing.TB, p *Proxy, in string) (string, error) {
	var out bytes.Buffer
	err := p.Rewrite(&out, bytes.NewReader([]byte(in)))
	return out.String(), err
}
