package synth

// FHIR R4 resources (https://hl7.org/fhir/R4/) for patient, condition and
// observation rows, written by appending, like the other formats. The
// resources carry what R4 requires and UK Core expects (NHS number
// identifier system, SNOMED CT codes); they are not validated against UK
// Core profiles.

// FHIR code systems and identifier systems.
const (
	fhirNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	fhirODSCode   = "https://fhir.nhs.uk/Id/ods-organization-code"
	fhirSNOMED    = "http://snomed.info/sct"
	fhirLOINC     = "http://loinc.org"
	fhirUCUM      = "http://unitsofmeasure.org"
)

// FHIRType returns the FHIR resource type of the generator's rows, or ""
// when the entity has no FHIR form here.
func (g *Generator) FHIRType() string {
	switch g.t.Entity {
	case "patient":
		return "Patient"
	case "condition":
		return "Condition"
	case "observation":
		return "Observation"
	}
	return ""
}

// AppendFHIR appends the current row as a FHIR R4 resource in JSON. It
// appends nothing for entities without a FHIR form (see FHIRType).
func (g *Generator) AppendFHIR(dst []byte) []byte {
	switch g.t.Entity {
	case "patient":
		return appendFHIRPatient(dst, &g.row)
	case "condition":
		return appendFHIRCondition(dst, &g.row)
	case "observation":
		return appendFHIRObservation(dst, &g.row)
	}
	return dst
}

func appendStr(dst []byte, key, v string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":"`...)
	dst = append(dst, v...)
	return append(dst, '"')
}

func appendID(dst []byte, typ string, id int64) []byte {
	dst = append(dst, `{"resourceType":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","id":"`...)
	dst = appendUint(dst, uint64(id))
	return append(dst, '"')
}

func appendSubject(dst []byte, patientID int64) []byte {
	dst = append(dst, `,"subject":{"reference":"Patient/`...)
	dst = appendUint(dst, uint64(patientID))
	return append(dst, `"}`...)
}

func appendCoding(dst []byte, system, code, display string) []byte {
	dst = append(dst, '{')
	dst = appendStr(dst, "system", system)
	dst = append(dst, ',')
	dst = appendStr(dst, "code", code)
	if display != "" {
		dst = append(dst, ',')
		dst = appendStr(dst, "display", display)
	}
	return append(dst, '}')
}

func appendConcept(dst []byte, key, system, code string) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, key...)
	dst = append(dst, `":{"coding":[`...)
	dst = appendCoding(dst, system, code, "")
	return append(dst, "]}"...)
}

func appendFHIRPatient(dst []byte, r *Row) []byte {
	p := &r.Patient
	dst = appendID(dst, "Patient", r.ID)
	dst = append(dst, `,"identifier":[{"system":"`+fhirNHSNumber+`","value":"`...)
	dst = append(dst, p.NHS[:]...)
	dst = append(dst, `"}],"name":[{"use":"official",`...)
	dst = appendStr(dst, "family", p.FamilyName)
	dst = append(dst, `,"given":["`...)
	dst = append(dst, p.GivenName...)
	dst = append(dst, `"]}],"telecom":[{"system":"phone","use":"home","value":"`...)
	dst = append(dst, p.Phone()...)
	dst = append(dst, `"},{"system":"email","value":"`...)
	dst = append(dst, p.Email()...)
	dst = append(dst, `"}],`...)
	dst = appendStr(dst, "gender", p.Sex())
	dst = append(dst, `,"birthDate":"`...)
	dst = p.BirthDate.AppendText(dst)
	dst = append(dst, `","address":[{"use":"home","line":["`...)
	dst = appendAddressLine(dst, r)
	dst = append(dst, `"],`...)
	dst = appendStr(dst, "city", p.Town)
	dst = append(dst, `,"postalCode":"`...)
	dst = append(dst, p.Postcode()...)
	dst = append(dst, `","country":"GB"}],"generalPractitioner":[{"identifier":{"system":"`+fhirODSCode+`","value":"`...)
	dst = append(dst, p.Practice[:]...)
	return append(dst, `"}}]}`...)
}

func appendFHIRCondition(dst []byte, r *Row) []byte {
	cd := &conditions[r.Condition.Catalogue]
	dst = appendID(dst, "Condition", r.ID)
	dst = appendConcept(dst, "clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
	dst = appendConcept(dst, "verificationStatus", "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")
	dst = append(dst, `,"category":[{"coding":[`...)
	dst = appendCoding(dst, "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")
	dst = append(dst, `]}],"code":{"coding":[`...)
	dst = appendCoding(dst, fhirSNOMED, cd.code, cd.display)
	dst = append(dst, `],"text":"`...)
	dst = append(dst, cd.display...)
	dst = append(dst, `"}`...)
	dst = appendSubject(dst, r.PatientID)
	dst = append(dst, `,"onsetDateTime":"`...)
	dst = r.Condition.Onset.AppendText(dst)
	return append(dst, `"}`...)
}

func appendFHIRObservation(dst []byte, r *Row) []byte {
	k := r.Observation.Kind
	dst = appendID(dst, "Observation", r.ID)
	dst = append(dst, `,"status":"final","category":[{"coding":[`...)
	dst = appendCoding(dst, "http://terminology.hl7.org/CodeSystem/observation-category", k.category, "")
	dst = append(dst, `]}],"code":{"coding":[`...)
	dst = appendCoding(dst, fhirSNOMED, k.code, k.display)
	dst = append(dst, ',')
	dst = appendCoding(dst, fhirLOINC, k.loinc, k.loincDisplay)
	dst = append(dst, `],"text":"`...)
	dst = append(dst, k.display...)
	dst = append(dst, `"}`...)
	dst = appendSubject(dst, r.PatientID)
	dst = append(dst, `,"effectiveDateTime":"`...)
	dst = r.Observation.Effective.AppendText(dst)
	dst = append(dst, `","valueQuantity":{"value":`...)
	dst = appendTenths(dst, r.Observation.Value)
	dst = append(dst, ',')
	dst = appendStr(dst, "unit", k.unit)
	dst = append(dst, `,"system":"`+fhirUCUM+`",`...)
	dst = appendStr(dst, "code", k.ucum)
	return append(dst, "}}"...)
}
