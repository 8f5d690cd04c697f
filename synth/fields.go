package synth

import (
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// Row is one generated row: the patient it descends from and, for child
// tables, the entity itself. A Generator reuses one Row.
type Row struct {
	ID          int64 // 1-based: slot + 1
	ParentID    int64 // parent row's ID; 0 for root tables
	PatientID   int64 // the patient's ID
	Patient     Patient
	Encounter   Encounter
	Condition   Condition
	Observation Observation
	Medication  Medication
}

// cell holds one column's value handed to pgx by pointer, so that encoding
// a row allocates as little as possible.
type cell struct {
	text string
	f64  float64
}

// pgInt, pgText and pgFloat let pgx encode a pointer into a Row or cell
// through its Valuer interfaces, without the reflection (and allocation) it
// needs to dereference a plain *int64, *string or *float64.
type (
	pgInt   int64
	pgText  string
	pgFloat float64
)

func (v *pgInt) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(*v), Valid: true}, nil
}
func (v *pgText) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*v), Valid: true}, nil
}
func (v *pgFloat) Float64Value() (pgtype.Float8, error) {
	return pgtype.Float8{Float64: float64(*v), Valid: true}, nil
}

// entity describes what a table's rows are.
type entity struct {
	name      string
	parent    string // entity of the parent table; "" for a root
	perParent int64  // default slots per parent row
	maxPer    int64
}

var entities = []entity{
	{"patient", "", 0, 0},
	{"encounter", "patient", 5, 50},
	{"condition", "patient", nConditions, nConditions},
	{"observation", "patient", 2 * nObsKinds, 20 * nObsKinds},
	{"medication", "condition", 1, 1},
}

func entityNamed(name string) *entity {
	for i := range entities {
		if entities[i].name == name {
			return &entities[i]
		}
	}
	return nil
}

func entityNames() string {
	var s []string
	for _, e := range entities {
		s = append(s, e.name)
	}
	return strings.Join(s, ", ")
}

// field is a generator: one value of a Row, as SQL type, text and pgx value.
type field struct {
	typ   string
	quote bool // a JSON string rather than a number
	safe  bool // its text never needs CSV quoting
	text  func(dst []byte, r *Row) []byte
	value func(r *Row, c *cell) any
}

// safe marks f's text as never needing CSV quoting; TestSafeFields checks
// the static lists behind every safe field.
func safe(f *field) *field {
	f.safe = true
	return f
}

func textField(f func(r *Row) string) *field {
	return &field{typ: "text", quote: true,
		text:  func(dst []byte, r *Row) []byte { return append(dst, f(r)...) },
		value: func(r *Row, c *cell) any { c.text = f(r); return (*pgText)(&c.text) }}
}

func bytesField(f func(r *Row) []byte) *field {
	return &field{typ: "text", quote: true, safe: true,
		text:  func(dst []byte, r *Row) []byte { return append(dst, f(r)...) },
		value: func(r *Row, c *cell) any { c.text = string(f(r)); return (*pgText)(&c.text) }}
}

func intField(f func(r *Row) *int64) *field {
	return &field{typ: "bigint", safe: true,
		text:  func(dst []byte, r *Row) []byte { return appendUint(dst, uint64(*f(r))) },
		value: func(r *Row, _ *cell) any { return (*pgInt)(f(r)) }}
}

func dateField(f func(r *Row) *Date) *field {
	return &field{typ: "date", quote: true, safe: true,
		text:  func(dst []byte, r *Row) []byte { return f(r).AppendText(dst) },
		value: func(r *Row, _ *cell) any { return f(r) }}
}

func timeField(f func(r *Row) *Timestamp) *field {
	return &field{typ: "timestamptz", quote: true, safe: true,
		text:  func(dst []byte, r *Row) []byte { return f(r).AppendText(dst) },
		value: func(r *Row, _ *cell) any { return f(r) }}
}

// commonFields apply to every table.
var commonFields = map[string]*field{
	"id":         intField(func(r *Row) *int64 { return &r.ID }),
	"parent_id":  intField(func(r *Row) *int64 { return &r.ParentID }),
	"patient_id": intField(func(r *Row) *int64 { return &r.PatientID }),
}

var patientFields = map[string]*field{
	"nhs_number":    bytesField(func(r *Row) []byte { return r.Patient.NHS[:] }),
	"given_name":    safe(textField(func(r *Row) string { return r.Patient.GivenName })),
	"family_name":   safe(textField(func(r *Row) string { return r.Patient.FamilyName })),
	"sex":           safe(textField(func(r *Row) string { return r.Patient.Sex() })),
	"date_of_birth": dateField(func(r *Row) *Date { return &r.Patient.BirthDate }),
	"address_line":  {typ: "text", quote: true, safe: true, text: appendAddressLine, value: addressValue},
	"town":          safe(textField(func(r *Row) string { return r.Patient.Town })),
	"postcode":      bytesField(func(r *Row) []byte { return r.Patient.Postcode() }),
	"phone":         bytesField(func(r *Row) []byte { return r.Patient.Phone() }),
	"email":         bytesField(func(r *Row) []byte { return r.Patient.Email() }),
	"gp_practice":   bytesField(func(r *Row) []byte { return r.Patient.Practice[:] }),
	"ethnicity":     safe(textField(func(r *Row) string { return r.Patient.Ethnicity.code })),
}

func appendAddressLine(dst []byte, r *Row) []byte {
	dst = appendUint(dst, uint64(r.Patient.HouseNumber))
	dst = append(dst, ' ')
	return append(dst, r.Patient.Street...)
}

func addressValue(r *Row, c *cell) any {
	var b [48]byte
	c.text = string(appendAddressLine(b[:0], r))
	return (*pgText)(&c.text)
}

var entityFields = map[string]map[string]*field{
	"patient": patientFields,
	"encounter": {
		"code":    textField(func(r *Row) string { return r.Encounter.Type.code }),
		"display": textField(func(r *Row) string { return r.Encounter.Type.display }),
		"class":   textField(func(r *Row) string { return r.Encounter.Type.class }),
		"start":   timeField(func(r *Row) *Timestamp { return &r.Encounter.Start }),
		"end":     timeField(func(r *Row) *Timestamp { return &r.Encounter.End }),
	},
	"condition": {
		"code":       textField(func(r *Row) string { return conditions[r.Condition.Catalogue].code }),
		"display":    textField(func(r *Row) string { return conditions[r.Condition.Catalogue].display }),
		"onset_date": dateField(func(r *Row) *Date { return &r.Condition.Onset }),
	},
	"observation": {
		"code":      textField(func(r *Row) string { return r.Observation.Kind.code }),
		"display":   textField(func(r *Row) string { return r.Observation.Kind.display }),
		"loinc":     textField(func(r *Row) string { return r.Observation.Kind.loinc }),
		"unit":      textField(func(r *Row) string { return r.Observation.Kind.unit }),
		"value":     {typ: "double precision", safe: true, text: appendObsValue, value: obsValue},
		"effective": timeField(func(r *Row) *Timestamp { return &r.Observation.Effective }),
	},
	"medication": {
		"code":           textField(func(r *Row) string { return r.Medication.Drug.code }),
		"display":        textField(func(r *Row) string { return r.Medication.Drug.display }),
		"condition_code": textField(func(r *Row) string { return conditions[r.Condition.Catalogue].code }),
		"start_date":     dateField(func(r *Row) *Date { return &r.Medication.Start }),
	},
}

func appendObsValue(dst []byte, r *Row) []byte { return appendTenths(dst, r.Observation.Value) }

func obsValue(r *Row, c *cell) any {
	c.f64 = float64(r.Observation.Value) / 10
	return (*pgFloat)(&c.f64)
}

// lookupField resolves a generator name for an entity: a common field, one
// of the entity's own, or "patient.<field>" in any child table.
func lookupField(ent, gen string) *field {
	if f := commonFields[gen]; f != nil {
		return f
	}
	if name, ok := strings.CutPrefix(gen, "patient."); ok && ent != "patient" {
		return patientFields[name]
	}
	return entityFields[ent][gen]
}

// fieldNames lists the generators allowed for an entity, sorted, for hints.
func fieldNames(ent string) string {
	var names []string
	for n := range commonFields {
		names = append(names, n)
	}
	for n := range entityFields[ent] {
		names = append(names, n)
	}
	sort.Strings(names)
	if ent != "patient" {
		names = append(names, "patient.<any patient generator>")
	}
	return strings.Join(names, ", ")
}
