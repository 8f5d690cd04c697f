package synth

import "fmt"

// Generator produces the rows of one table. Row slot s is a pure function
// of (seed, table, s); the Generator only caches the last patient and
// measurement round it computed, because consecutive child slots share
// them. A Generator is not safe for concurrent use: give each goroutine its
// own (they are cheap) and split the slot range between them.
type Generator struct {
	t    *Table
	spec *Spec
	seed uint64
	row  Row

	patientOK bool
	patient   int64  // index of the cached patient
	has       uint32 // its conditions
	vitalsKey int64  // patient*64+round of the cached vitals, or -1
	vitals    vitals
}

// NewGenerator returns a Generator for table t of s.
func (s *Spec) NewGenerator(t *Table, seed uint64) *Generator {
	return &Generator{t: t, spec: s, seed: seed, vitalsKey: -1}
}

// GeneratorFor returns a Generator for the named table.
func (s *Spec) GeneratorFor(table string, seed uint64) (*Generator, error) {
	t := s.Table(table)
	if t == nil {
		return nil, fmt.Errorf("spec %s has no table %q", s.Name, table)
	}
	return s.NewGenerator(t, seed), nil
}

// Table returns the generator's table.
func (g *Generator) Table() *Table { return g.t }

// Row returns the row filled by the last successful Gen. It is overwritten
// by the next call.
func (g *Generator) Row() *Row { return &g.row }

// Gen fills the row for slot s and reports whether the slot holds a row.
func (g *Generator) Gen(s int64) bool {
	r := &g.row
	r.ID = s + 1
	switch g.t.Entity {
	case "patient":
		genPatient(&r.Patient, g.seed, g.t.key, s, g.spec.AsOf)
		r.ParentID, r.PatientID = 0, s+1
		return true
	case "medication":
		return g.genMedication(s)
	}
	parent := s / g.t.PerParent
	g.loadPatient(g.t.Parent, parent)
	r.ParentID, r.PatientID = parent+1, parent+1
	w := int(s % g.t.PerParent)
	switch g.t.Entity {
	case "encounter":
		return genEncounter(&r.Encounter, &r.Patient, g.seed, g.t.key, s, g.spec.AsOf)
	case "condition":
		if g.has&(1<<w) == 0 {
			return false
		}
		genCondition(&r.Condition, &r.Patient, w, g.seed, g.t.key, s, g.spec.AsOf)
		return true
	default: // observation
		return g.genObservation(w)
	}
}

// loadPatient makes row.Patient patient i of root table t.
func (g *Generator) loadPatient(t *Table, i int64) {
	if g.patientOK && g.patient == i {
		return
	}
	genPatient(&g.row.Patient, g.seed, t.key, i, g.spec.AsOf)
	g.has = conditionSet(&g.row.Patient, g.seed, t.key)
	g.patient, g.patientOK = i, true
}

func (g *Generator) genObservation(w int) bool {
	r := &g.row
	round := w / nObsKinds
	kind := w % nObsKinds
	if key := r.Patient.Index*64 + int64(round); key != g.vitalsKey {
		genVitals(&g.vitals, &r.Patient, g.has, g.seed, g.t.key, round, g.spec.AsOf)
		g.vitalsKey = key
	}
	if !g.vitals.ok[kind] {
		return false
	}
	r.Observation.Kind = &obsKinds[kind]
	r.Observation.Value = g.vitals.value[kind]
	r.Observation.Effective = Timestamp(int64(g.vitals.date)*86400 + int64(g.vitals.secs))
	return true
}

// genMedication: slot s belongs to condition slot s/PerParent, which must
// hold a condition that is treated.
func (g *Generator) genMedication(s int64) bool {
	r := &g.row
	ct := g.t.Parent
	cs := s / g.t.PerParent
	patient := cs / ct.PerParent
	g.loadPatient(ct.Parent, patient)
	w := int(cs % ct.PerParent)
	if g.has&(1<<w) == 0 {
		return false
	}
	genCondition(&r.Condition, &r.Patient, w, g.seed, ct.key, cs, g.spec.AsOf)
	r.ParentID, r.PatientID = cs+1, patient+1
	return genMedication(&r.Medication, &r.Condition, g.seed, g.t.key, s, g.spec.AsOf)
}
