package synth

// Salts separate the random streams derived from one patient.
const (
	saltConditions = 0x636f6e646974696f
	saltVitals     = 0x766974616c730000
)

// Encounter is one contact with a health service.
type Encounter struct {
	Type       *encounterType
	Start, End Timestamp
}

// Condition is one diagnosis from the catalogue.
type Condition struct {
	Catalogue int // index into the condition catalogue
	Onset     Date
}

// Concept returns the SNOMED CT code and display of the condition.
func (c *Condition) Concept() (code, display string) {
	cd := &conditions[c.Catalogue]
	return cd.code, cd.display
}

// Observation is one measurement; Value is in tenths of Kind's unit.
type Observation struct {
	Kind      *obsKind
	Value     int
	Effective Timestamp
}

// Medication is a treatment for a condition.
type Medication struct {
	Drug  *concept
	Start Date
}

// conditionSet draws which catalogue conditions patient p has, as a bit set.
// It depends only on (seed, the patients stream, p.Index).
func conditionSet(p *Patient, seed, key uint64) uint32 {
	r := newRNG(seed, key^saltConditions, p.Index)
	var has uint32
	for c := 0; c < nConditions; c++ {
		x := r.intn(100000) // always draw, so streams stay aligned
		if p.Age >= conditions[c].onsetFrom && x < conditionRisk(c, p.Age, p.Female, has) {
			has |= 1 << c
		}
	}
	return has
}

// genCondition fills c for catalogue entry j of patient p (slot s of the
// conditions stream key).
func genCondition(c *Condition, p *Patient, j int, seed, key uint64, s int64, asOf Date) {
	r := newRNG(seed, key, s)
	lo := p.BirthDate + Date(conditions[j].onsetFrom*36525/100)
	hi := max(asOf-1, lo)
	c.Catalogue = j
	c.Onset = lo + Date(r.intn(int(hi-lo)+1))
}

// genMedication decides whether condition c (slot s) is treated and fills m.
func genMedication(m *Medication, c *Condition, seed, key uint64, s int64, asOf Date) bool {
	r := newRNG(seed, key, s)
	cd := &conditions[c.Catalogue]
	if len(cd.meds) == 0 || !r.per100k(cd.treated*100) {
		return false
	}
	m.Drug = &cd.meds[r.intn(len(cd.meds))]
	m.Start = min(c.Onset+Date(r.intn(180)), asOf)
	return true
}

// genEncounter decides whether encounter slot s of p is used and fills e.
func genEncounter(e *Encounter, p *Patient, seed, key uint64, s int64, asOf Date) bool {
	r := newRNG(seed, key, s)
	if !r.per100k(encounterPer100k[ageBandOf(p.Age)]) {
		return false
	}
	e.Type = &encounterTypes[encounterChoice.index(&r)]
	window := min(365, int(asOf-p.BirthDate))
	day := asOf - 1 - Date(r.intn(max(window, 1)))
	secs := 8*3600 + r.intn(10*3600)
	if e.Type.class != "AMB" {
		secs = r.intn(86400)
	}
	e.Start = Timestamp(int64(day)*86400 + int64(secs))
	mins := e.Type.minutes[0] + r.intn(e.Type.minutes[1]-e.Type.minutes[0]+1)
	e.End = e.Start + Timestamp(mins*60)
	return true
}

// vitals are one round of measurements of a patient, in tenths of a unit,
// drawn together so that height, weight and BMI agree.
type vitals struct {
	date  Date
	secs  int
	value [nObsKinds]int
	ok    [nObsKinds]bool
}

// genVitals draws measurement round k of patient p, whose conditions are has.
func genVitals(v *vitals, p *Patient, has uint32, seed, key uint64, k int, asOf Date) {
	r := newRNG(seed, key^saltVitals, p.Index*64+int64(k))
	v.date = asOf - Date(k*365) - Date(r.intn(300)) - 1
	v.secs = 8*3600 + r.intn(9*3600)
	age := p.Age - k
	if v.date < p.BirthDate || age < 0 {
		v.ok = [nObsKinds]bool{}
		return
	}
	adult := age >= 18
	h := height(&r, age, p.Female)
	bmi := bodyMassIndex(&r, adult, has&(1<<condObesity) != 0)
	v.value[obsHeight] = h
	v.value[obsBMI] = bmi
	v.value[obsWeight] = int((int64(bmi)*int64(h)*int64(h) + 500000) / 1000000)
	sys, dia := bloodPressure(&r, age, has&(1<<condHypertension) != 0)
	v.value[obsSystolic], v.value[obsDiastolic] = sys, dia
	v.value[obsHeartRate] = heartRate(&r, age, has&(1<<condAF) != 0)
	diabetic := has&(1<<condDiabetes) != 0
	v.value[obsHbA1c] = hba1c(&r, diabetic)
	tested := adult && (diabetic || (age >= 40 && r.intn(100) < 30))
	v.ok = [nObsKinds]bool{true, true, true, age >= 16, age >= 16, true, tested}
}

// height in millimetres (tenths of a centimetre).
func height(r *rng, age int, female bool) int {
	mean, sd := 1755, 70
	if female {
		mean, sd = 1620, 65
	}
	if age < 18 {
		mean = min(750+60*age, mean)
		if age == 0 {
			mean = 650
		}
		sd = mean / 20
	}
	return clamp(r.normal(mean, sd), 450, 2150)
}

func bodyMassIndex(r *rng, adult, obese bool) int {
	switch {
	case !adult:
		return clamp(r.normal(170, 18), 130, 260)
	case obese:
		d := r.normal(0, 50)
		return clamp(300+max(d, -d), 300, 600)
	default:
		return clamp(r.normal(255, 28), 175, 299)
	}
}

// bloodPressure returns systolic and diastolic pressure, rounded to whole
// mmHg.
func bloodPressure(r *rng, age int, hypertensive bool) (int, int) {
	var sys, dia int
	switch {
	case age < 18:
		sys, dia = r.normal(1050, 90), r.normal(650, 80)
	case hypertensive:
		sys, dia = r.normal(1460, 140), r.normal(880, 100)
	default:
		sys, dia = r.normal(1180+3*(age-20), 120), r.normal(760, 80)
	}
	sys = clamp(sys, 800, 2200)
	dia = clamp(dia, 400, sys-150)
	return round10(sys), round10(dia)
}

func heartRate(r *rng, age int, af bool) int {
	switch {
	case af:
		return round10(clamp(r.normal(880, 160), 400, 1800))
	case age < 18:
		return round10(clamp(r.normal(max(1300-40*age, 750), 120), 500, 1800))
	default:
		return round10(clamp(r.normal(720, 100), 400, 1800))
	}
}

// hba1c in tenths of mmol/mol, rounded to whole mmol/mol.
func hba1c(r *rng, diabetic bool) int {
	if diabetic {
		return round10(clamp(r.normal(580, 120), 420, 1200))
	}
	return round10(clamp(r.normal(370, 40), 250, 470))
}

func round10(v int) int { return (v + 5) / 10 * 10 }
