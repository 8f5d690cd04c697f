package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sandgate/sandgate/pseudonymise"
)

var testKey = bytes.Repeat([]byte{7}, 32)

const testVerifier = "SCRAM-SHA-256$4096:K6cI4zRyjEzPIN3a3Nl0Ng==$6c2OaC0LGCMlyr0dA+HBBS2opiCPlquz1+/6W0qx9uM=:um+Ul3BmHHo1mJtTfgpRGX5g3fBHTkxLOlTcGbZQGIY="

func testSandbox(t testing.TB) *Sandbox {
	t.Helper()
	set, err := Compile(Options{HashKey: testKey}, Source{Name: "t.yaml", Data: []byte(`
version: 1
sandboxes:
  - name: ward_board
    database: clinic
    password_verifier: "` + testVerifier + `"
    tables:
      patients: {patient_id: allow, nhs_number: hash, family_name: deny}
      public.wards: {ward_id: allow, name: allow}
`)})
	if err != nil {
		t.Fatal(err)
	}
	return set.Sandbox("ward_board")
}

func TestBrokenPolicyFiles(t *testing.T) {
	for file, want := range map[string]string{
		"unknown_key.yaml":        `unknown_key.yaml:5:1: unknown key "pasword_verifier"`,
		"bad_rule.yaml":           `bad_rule.yaml:8:21: column public.patients.nhs_number: rule "encrypt" is not one of allow, hash, deny`,
		"plaintext_password.yaml": `plaintext_password.yaml:5:24: sandbox "ward_board": password_verifier must start with SCRAM-SHA-256$ (generate one with 'sandgate passwd'`,
		"no_version.yaml":         `no_version.yaml:1:1: version must be 1, got 0 (add 'version: 1' at the top)`,
	} {
		t.Run(file, func(t *testing.T) {
			_, err := LoadFiles(Options{HashKey: testKey}, filepath.Join("testdata", file))
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("got %q,\nwant it to contain %q", err, want)
			}
		})
	}
}

func TestConfigsDemoPolicyLoads(t *testing.T) {
	paths, _ := filepath.Glob("../configs/*policy*.yaml")
	if len(paths) == 0 {
		t.Fatal("no policy files in configs/")
	}
	keys, err := pseudonymise.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := pseudonymise.New(pseudonymise.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := LoadFiles(Options{HashKey: testKey, Engine: engine}, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestCheckStatement(t *testing.T) {
	sb := testSandbox(t)
	for _, tc := range []struct {
		sql    string
		rule   string // "" means allowed
		strict bool
	}{
		{"select patient_id from patients", "", false},
		{"select count(*) from patients", "", false},
		{"select nhs_number from patients", "", true},
		{"select * from patients", "", true},
		{"select p.patient_id from patients p join patients q on p.nhs_number = q.nhs_number", "", true},
		{"select patient_id from patients where nhs_number = 'x'", "protected-column-use", false},
		{"select patient_id from patients order by nhs_number", "protected-column-use", false},
		{"select upper(nhs_number) from patients", "protected-column-use", false},
		{"select count(distinct nhs_number) from patients", "protected-column-use", false},
		{"select patient_id from patients group by patient_id, family_name", "protected-column-use", false},
		{"with x as (select nhs_number from patients) select * from x", "protected-column-use", false},
		{"select row_to_json(p) from patients p", "protected-column-use", false},
		{"select patient_id from patients where address = 'x'", "protected-column-use", false},
		{"select patient_id from patients where patient_id in (select patient_id from patients where nhs_number like '9%')", "protected-column-use", false},
		{"select name from wards where ward_id = 3", "", false},
		{"select 1", "", false},
		{"with x as (select ward_id from wards) select * from x", "", false},
		{"with x as (select ward_id from wards) select y.ward_id from x y join patients p on p.patient_id = y.ward_id where y.ward_id > 1", "", false},
		{"with x as (select nhs_number from patients) select y.nhs_number from x y where y.nhs_number > 'a'", "protected-column-use", false},
		{"select * from pg_catalog.pg_class", "", false},
		{"begin; select name from wards; commit", "", false},
		{"set application_name = 'x'", "", false},
		{"select * from secrets", "not-named", false},
		{"select * from other.patients", "not-named", false},
		{"select patient_id from \"Patients\"", "not-named", false},
		{"select patient_id from public.\"PATIENTS\"", "not-named", false},
		{"delete from patients", "write", false},
		{"select * into t2 from wards", "statement-kind", false},
		{"select * from wards for update", "statement-kind", false},
		{"create table t (x int)", "statement-kind", false},
		{"select * from pg_stats", "catalog", false},
		{"select * from pg_catalog.pg_stat_activity", "catalog", false},
		{"select pg_read_file('/etc/passwd')", "function", false},
		{"select lo_import('/etc/passwd')", "function", false},
		{"select query_to_xml('select 1', true, false, '')", "function", false},
		{"set search_path = evil, public", "set-parameter", false},
		{"set role postgres", "set-parameter", false},
		{"set client_encoding = 'SJIS'", "set-parameter", false},
		{"set names 'big5'", "set-parameter", false},
		{"set client_encoding to \"Shift_JIS_2004\"", "set-parameter", false},
		{"set standard_conforming_strings = off", "set-parameter", false},
		{"set standard_conforming_strings to false", "set-parameter", false},
		{"set client_encoding = 'UTF8'", "", false},
		{"set client_encoding = 'LATIN1'", "", false},
		{"set standard_conforming_strings = on", "", false},
		{"reset client_encoding", "", false},
		{"select * from ts_stat('select nhs_number::tsvector from patients')", "function", false},
		{"copy patients from stdin", "copy", false},
		{"copy patients to '/tmp/x'", "copy", false},
		{"copy (select 1) to program 'sh'", "copy", false},
		{"selec 1", "parse", false},
		{"listen patient_updates", "listen", false},
		{"unlisten *", "", false},
	} {
		st, err := sb.CheckStatement(tc.sql)
		var d *Denial
		switch {
		case tc.rule == "" && err != nil:
			t.Errorf("%q: got %v, want allowed", tc.sql, err)
		case tc.rule == "":
			if st.Strict != tc.strict {
				t.Errorf("%q: Strict = %v, want %v", tc.sql, st.Strict, tc.strict)
			}
		case !errors.As(err, &d):
			t.Errorf("%q: got %v, want denial by rule %s", tc.sql, err, tc.rule)
		case d.Rule != tc.rule:
			t.Errorf("%q: denied by %s (%s), want %s", tc.sql, d.Rule, d.Msg, tc.rule)
		}
	}
}

func TestPlanColumns(t *testing.T) {
	sb := testSandbox(t)
	strict := &Statement{Strict: true}
	col := func(table, attr string) Column {
		return Column{Name: attr, Schema: "public", Table: table, Attr: attr}
	}
	p, err := sb.PlanColumns(strict, []Column{col("patients", "patient_id"), col("patients", "nhs_number")})
	if err != nil || !p.Any || p.Transforms[0] != nil || p.Transforms[1] == nil {
		t.Fatalf("got %+v, %v; want nhs_number hashed, patient_id passed", p, err)
	}
	for name, cols := range map[string][]Column{
		"denied":          {col("patients", "family_name")},
		"unnamed column":  {col("patients", "address")},
		"unnamed table":   {col("secrets", "x")},
		"computed strict": {{Name: "?column?"}},
		"unresolved":      {{Name: "x", Unresolved: true}},
	} {
		if _, err := sb.PlanColumns(strict, cols); err == nil {
			t.Errorf("%s: allowed, want denied", name)
		}
	}
	if _, err := sb.PlanColumns(&Statement{}, []Column{{Name: "?column?"}}); err != nil {
		t.Errorf("computed column of a non-strict statement: %v", err)
	}
}

func TestHashIsKeyedPerSandbox(t *testing.T) {
	a, b := newHasher(testKey, "a"), newHasher(testKey, "b")
	v := []byte("9434765919")
	ha1, ha2, hb := string(a.sum(nil, v)), string(a.sum(nil, v)), string(b.sum(nil, v))
	if ha1 != ha2 || ha1 == hb || len(ha1) != hashLen || strings.Contains(ha1, "9434765919") {
		t.Fatalf("got %q %q %q", ha1, ha2, hb)
	}
}

func TestVerifierRoundTrip(t *testing.T) {
	v, err := NewVerifier("correct horse battery", DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseVerifier(v.String())
	if err != nil || back.String() != v.String() {
		t.Fatalf("got %v, %v", back, err)
	}
	// RFC 7677's test vector: user "user", password "pencil".
	salt := []byte{0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81}
	rv, err := DeriveVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if got := rv.String(); !strings.HasPrefix(got, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$") {
		t.Fatalf("got %s", got)
	}
}

func TestNormalise(t *testing.T) {
	same := [][2]string{
		{"select * from t where a = 1", "select * from t where a = 22"},
		{"select * from t where a = 'x'", "select  *\nfrom t -- c\n where a = 'it''s'"},
		{"select * from t where a = E'\\n'", "select * from t where a = $$q$$"},
		{"select 1.5e3, x'ff'", "select 2, b'01'"},
	}
	for _, p := range same {
		a, b := string(Normalise(nil, p[0])), string(Normalise(nil, p[1]))
		if a != b {
			t.Errorf("%q and %q normalise differently: %q vs %q", p[0], p[1], a, b)
		}
	}
	differ := [][2]string{
		{"select * from t1", "select * from t2"},
		{"select a ? b from t", "select a 'x' b from t"},
		{`select "a" from t`, `select "b" from t`},
		{"select $1 from t", "select $2 from t"},
		{"select pg_read_file('x')", "select upper('x')"},
		{"select 1 -- c", "select 1 --\rfrom secrets"},
		{"", "--\rselect upper(family_name) from patients"},
	}
	for _, p := range differ {
		if string(Normalise(nil, p[0])) == string(Normalise(nil, p[1])) {
			t.Errorf("%q and %q must not share a cache key", p[0], p[1])
		}
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"select 1", "select 'a''b' -- x", "/* /* */ */ select $a$x$a$", "E'\\'", "0x1F 1e+5 .5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out := Normalise(nil, sql)
		// A one-digit number glued to a name becomes its placeholder and a
		// marker (1a → \x00\x02a): at most two bytes per input byte, plus an
		// unclosed-text marker.
		if len(out) > 2*len(sql)+1 {
			t.Fatalf("normalised form too long: %q → %q", sql, out)
		}
	})
}

func FuzzCompile(f *testing.F) {
	for _, name := range []string{"unknown_key.yaml", "bad_rule.yaml", "plaintext_password.yaml", "no_version.yaml", "../../configs/demo-policy.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Compile(Options{HashKey: testKey}, Source{Name: "f.yaml", Data: data})
		if err == nil && set == nil {
			t.Fatal("nil set without error")
		}
	})
}

// TestSchemaMatchesFormat keeps configs/policy.schema.json in step with the
// keys the loader accepts.
func TestSchemaMatchesFormat(t *testing.T) {
	b, err := os.ReadFile("../configs/policy.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			OneOf      []struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"oneOf"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	check := func(what string, props map[string]json.RawMessage, typ reflect.Type) {
		want := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			if tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
				want[tag] = true
				if _, ok := props[tag]; !ok {
					t.Errorf("%s: the schema lacks key %q", what, tag)
				}
			}
		}
		for k := range props {
			if !want[k] {
				t.Errorf("%s: the schema has key %q the loader does not accept", what, k)
			}
		}
	}
	check("sandbox", schema.Defs["sandbox"].Properties, reflect.TypeOf(sandboxYAML{}))
	check("rule", schema.Defs["rule"].OneOf[1].Properties, reflect.TypeOf(ruleYAML{}))
	check("egress", schema.Defs["egress"].Properties, reflect.TypeOf(Egress{}))
	var src struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	json.Unmarshal(schema.Defs["sandbox"].Properties["source"], &src)
	check("source", src.Properties, reflect.TypeOf(DataSource{}))
}

// CheckStatement keeps its answer per analysis: the same statement with
// other literals gets the same Statement, a denial stays a denial, and a
// SET of a pinned parameter, whose answer depends on the value, is decided
// afresh every time.
func TestCheckStatementCache(t *testing.T) {
	sb := testSandbox(t)
	a, err := sb.CheckStatement("select name from wards where ward_id = 1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := sb.CheckStatement("select name   from wards where ward_id = 22")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same statement with another literal was decided again, not taken from the cache")
	}
	for range 2 {
		if _, err := sb.CheckStatement("select patient_id from patients where nhs_number = 'x'"); err == nil {
			t.Fatal("a filter on a protected column was allowed")
		}
	}
	for _, tc := range []struct {
		sql     string
		allowed bool
	}{
		{"set client_encoding = 'UTF8'", true},
		{"set client_encoding = 'SJIS'", false},
		{"set client_encoding = 'UTF8'", true},
		{"select 1; set client_encoding = 'BIG5'", false},
		{"select 1; set client_encoding = 'LATIN1'", true},
	} {
		_, err := sb.CheckStatement(tc.sql)
		if (err == nil) != tc.allowed {
			t.Errorf("%s: allowed %v, want %v (err %v)", tc.sql, err == nil, tc.allowed, err)
		}
	}
}

// A parse error quotes the text near the fault, which can be a literal:
// it must describe the statement sent, never an earlier one of the same
// shape (from this client or any other).
func TestParseErrorsAreNotShared(t *testing.T) {
	sb := testSandbox(t)
	if _, err := sb.CheckStatement("select name from wards where name = 'x' 'first-secret'"); err == nil {
		t.Fatal("an unparsable statement was allowed")
	}
	_, err := sb.CheckStatement("select name from wards where name = 'y' 'second-secret'")
	if err == nil {
		t.Fatal("an unparsable statement was allowed")
	}
	if strings.Contains(err.Error(), "first-secret") || !strings.Contains(err.Error(), "second-secret") {
		t.Errorf("the second statement's parse error is %q", err)
	}
}
