package synth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenSpecs: every broken spec in testdata/broken is rejected with
// file:line and a message that says what to do.
func TestBrokenSpecs(t *testing.T) {
	cases := []struct {
		file string
		want []string // substrings of the error, in any order
	}{
		{"unknown_key.yaml", []string{`unknown_key.yaml:6: unknown key "colums" in a table; the keys allowed there are: name, entity, parent, rows, per_parent, columns`}},
		{"unknown_generator.yaml", []string{`unknown_generator.yaml:7: table patients, column nhs: unknown generator "nhs_numbr" for a patient; use one of:`, "nhs_number"}},
		{"bad_reference.yaml", []string{`bad_reference.yaml:12: table encounters, column patient_id: references patients.patient_id but generates "id"; use 'gen: parent_id'`}},
		{"missing_parent.yaml", []string{`missing_parent.yaml:5: table conditions: parent "patients" is not defined above it; define the patient table first`}},
		{"wrong_version.yaml", []string{`wrong_version.yaml:1: version is 2; this sandgate reads 'version: 1'`}},
		{"bad_type.yaml", []string{`bad_type.yaml:5: string "many" is the wrong kind of value here (want a whole number)`}},
		{"bad_indent.yaml", []string{`bad_indent.yaml:2: did not find expected`, "check the indentation"}},
		{"per_parent.yaml", []string{
			`per_parent.yaml:2: as_of "2025-13-01" is not a date; write it as YYYY-MM-DD`,
			`per_parent.yaml:6: table patients: per_parent applies to child tables; use 'rows' for a patient table`,
			`per_parent.yaml:11: table meds: parent patients holds patient rows, but a medication belongs to a condition`,
			`per_parent.yaml:12: table meds: per_parent is 4; a medication table allows 1 to 1`,
			`per_parent.yaml:14: table meds: column name "Bad-Name" is not a plain SQL name`,
		}},
		{"empty.yaml", []string{"empty.yaml: empty spec; start it with 'version: 1'"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "broken", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := ParseSpec(f, c.file)
			if err == nil {
				t.Fatalf("got spec %v, want an error", s.Name)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain:\n%s", err, w)
				}
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Errorf("got %T, want a *SpecError inside", err)
			}
		})
	}
}

func TestBuiltin(t *testing.T) {
	s, err := Builtin("ehr")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) != 5 || s.Table("medications").Parent != s.Table("conditions") {
		t.Fatalf("ehr spec: got %d tables, want 5 with medications under conditions", len(s.Tables))
	}
	if _, err := Builtin("nope"); !errors.Is(err, ErrUnknownSpec) {
		t.Errorf("Builtin(nope): got %v, want ErrUnknownSpec", err)
	}
	if !strings.Contains(s.DDL(), `REFERENCES "conditions" ("condition_id")`) {
		t.Errorf("DDL lacks the medications foreign key:\n%s", s.DDL())
	}
}

// FuzzParseSpec: no input makes ParseSpec panic, and whatever it accepts
// generates rows without panicking.
func FuzzParseSpec(f *testing.F) {
	ehr, _ := builtinFS.ReadFile("specs/ehr.yaml")
	f.Add(ehr)
	entries, _ := os.ReadDir(filepath.Join("testdata", "broken"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join("testdata", "broken", e.Name()))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // bound the work per input
		}
		s, err := ParseSpec(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, tb := range s.Tables {
			g := s.NewGenerator(tb, 1)
			for i := int64(0); i < 20; i++ {
				if g.Gen(i) {
					g.AppendCSV(nil)
					g.AppendJSON(nil)
				}
			}
		}
		_ = s.DDL()
	})
}
