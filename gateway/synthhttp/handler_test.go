package synthhttp

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestNDJSON(t *testing.T) {
	srv := newServer(t, Config{})
	resp, body := get(t, srv.URL+"/synth/ehr/patients?rows=250&seed=4")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("got %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	n := 0
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, sc.Text())
		}
		if row["patient_id"] != float64(n+1) {
			t.Fatalf("line %d: patient_id %v", n+1, row["patient_id"])
		}
		n++
	}
	if n != 250 {
		t.Errorf("got %d rows, want 250", n)
	}
	_, again := get(t, srv.URL+"/synth/ehr/patients?rows=250&seed=4")
	if again != body {
		t.Error("the same seed gave different bodies")
	}
}

func TestCSV(t *testing.T) {
	srv := newServer(t, Config{})
	_, body := get(t, srv.URL+"/synth/ehr/conditions?rows=40&format=csv")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 41 || recs[0][0] != "condition_id" {
		t.Fatalf("got %d records, header %v; want 41 with condition_id first", len(recs), recs[0])
	}
}

// TestFHIR decodes each Bundle and checks the elements R4 requires.
func TestFHIR(t *testing.T) {
	srv := newServer(t, Config{})
	for _, c := range []struct{ table, typ string }{
		{"patients", "Patient"}, {"conditions", "Condition"}, {"observations", "Observation"},
	} {
		resp, body := get(t, srv.URL+"/synth/ehr/"+c.table+"?rows=120&format=fhir&bundle=searchset")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/fhir+json" {
			t.Fatalf("%s: got %d: %s", c.table, resp.StatusCode, body)
		}
		var b struct {
			ResourceType, Type string
			Entry              []struct {
				Resource map[string]any
				Search   struct{ Mode string }
			}
		}
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatalf("%s: %v", c.table, err)
		}
		if b.ResourceType != "Bundle" || b.Type != "searchset" || len(b.Entry) != 120 {
			t.Fatalf("%s: bundle %s/%s with %d entries", c.table, b.ResourceType, b.Type, len(b.Entry))
		}
		for i, e := range b.Entry {
			if e.Resource["resourceType"] != c.typ || e.Resource["id"] == "" || e.Search.Mode != "match" {
				t.Fatalf("%s entry %d: %v", c.table, i, e.Resource)
			}
			checkResource(t, c.typ, e.Resource)
		}
	}
}

func checkResource(t *testing.T, typ string, r map[string]any) {
	t.Helper()
	switch typ {
	case "Patient":
		ids := r["identifier"].([]any)
		id := ids[0].(map[string]any)
		if id["system"] != "https://fhir.nhs.uk/Id/nhs-number" || len(id["value"].(string)) != 10 {
			t.Fatalf("patient identifier: %v", id)
		}
		if g := r["gender"]; g != "female" && g != "male" {
			t.Fatalf("gender %v", g)
		}
	case "Condition":
		if !strings.HasPrefix(r["subject"].(map[string]any)["reference"].(string), "Patient/") {
			t.Fatalf("condition subject: %v", r["subject"])
		}
		checkCode(t, r)
	case "Observation":
		if r["status"] != "final" || r["subject"] == nil {
			t.Fatalf("observation status/subject: %v", r)
		}
		checkCode(t, r)
		q := r["valueQuantity"].(map[string]any)
		if _, ok := q["value"].(float64); !ok || q["system"] != "http://unitsofmeasure.org" || q["code"] == "" {
			t.Fatalf("valueQuantity: %v", q)
		}
	}
}

func checkCode(t *testing.T, r map[string]any) {
	t.Helper()
	coding := r["code"].(map[string]any)["coding"].([]any)
	c := coding[0].(map[string]any)
	if c["system"] != "http://snomed.info/sct" || c["code"] == "" {
		t.Fatalf("code: %v", c)
	}
}

func TestErrors(t *testing.T) {
	srv := newServer(t, Config{MaxRows: 500})
	for _, c := range []struct {
		path, code string
		status     int
		want       string
	}{
		{"/synth/ehr/patients?rows=501", "bad-rows", 400, "rows must be a whole number from 1 to 500"},
		{"/synth/ehr/patients?rows=-1", "bad-rows", 400, `got "-1"`},
		{"/synth/ehr/patients?rows=ten", "bad-rows", 400, `got "ten"`},
		{"/synth/ehr/patients?seed=x", "bad-seed", 400, "seed must be a whole number"},
		{"/synth/ehr/patients?format=xml", "bad-format", 400, "format must be ndjson, csv or fhir"},
		{"/synth/ehr/encounters?format=fhir", "bad-format", 400, "has no FHIR form"},
		{"/synth/ehr/patients?format=fhir&bundle=batch", "bad-bundle", 400, "collection or searchset"},
		{"/synth/nope/patients", "unknown-dataset", 404, "Try one of: ehr"},
		{"/synth/ehr/nope", "unknown-table", 404, "patients, encounters"},
	} {
		resp, body := get(t, srv.URL+c.path)
		if resp.StatusCode != c.status || resp.Header.Get("X-Sandgate-Error") != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %q %q, want %d %q containing %q", c.path, resp.StatusCode,
				resp.Header.Get("X-Sandgate-Error"), body, c.status, c.code, c.want)
		}
	}
	resp, _ := get(t, srv.URL+"/synth/ehr/patients?rows=500")
	if resp.StatusCode != 200 {
		t.Errorf("rows at the limit: got %d, want 200", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/synth/ehr/patients", nil)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %v %v, want 405", r.StatusCode, err)
	}
}

// TestStreams: a large response arrives in several flushed chunks.
func TestStreams(t *testing.T) {
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	req := httptest.NewRequest("GET", "/synth/ehr/observations?rows=5000", nil)
	New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).ServeHTTP(rec, req)
	if rec.Code != 200 || rec.flushes < 3 {
		t.Errorf("got status %d and %d flushes, want 200 and several", rec.Code, rec.flushes)
	}
	if n := strings.Count(rec.Body.String(), "\n"); n != 5000 {
		t.Errorf("got %d rows, want 5000", n)
	}
}

type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++; f.ResponseRecorder.Flush() }
