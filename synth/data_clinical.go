package synth

// Clinical code lists. Codes are SNOMED CT (international release, or the UK
// extension where marked); observation codes also carry LOINC for FHIR.

// concept is a coded clinical idea.
type concept struct {
	code, display string
}

// ageBands are the bands of the prevalence tables: 0–17, 18–39, 40–59,
// 60–79, 80+.
var ageBandFrom = [5]int{0, 18, 40, 60, 80}

func ageBandOf(age int) int {
	b := 0
	for b < 4 && age >= ageBandFrom[b+1] {
		b++
	}
	return b
}

// condition is a long-term condition with its prevalence model.
type condition struct {
	concept
	// per100k is the prevalence per 100 000 people in each age band.
	per100k [5]int
	// female and male scale per100k, per mille.
	female, male int
	// boostBy, when ≥ 0, names an earlier condition that multiplies the
	// risk by boost per mille (comorbidity).
	boostBy, boost int
	// onsetFrom is the youngest age of diagnosis.
	onsetFrom int
	// meds are the usual first-line treatments; treated is per mille.
	meds    []concept
	treated int
}

// Condition indexes, in catalogue order (a boost refers to an earlier one).
const (
	condObesity = iota
	condDiabetes
	condHypertension
	condAsthma
	condCOPD
	condCHD
	condAF
	condHeartFailure
	condStroke
	condCKD
	condDepression
	condDementia
	condHypothyroid
	condEpilepsy
	nConditions
)

// Medication concepts are SNOMED CT substance concepts, which dm+d's virtual
// therapeutic moieties map to.
var (
	metformin     = concept{"372567009", "Metformin"}
	amlodipine    = concept{"386864001", "Amlodipine"}
	ramipril      = concept{"386872004", "Ramipril"}
	salbutamol    = concept{"372897005", "Salbutamol"}
	atorvastatin  = concept{"373444002", "Atorvastatin"}
	apixaban      = concept{"698090000", "Apixaban"}
	bisoprolol    = concept{"386868003", "Bisoprolol"}
	furosemide    = concept{"387475002", "Furosemide"}
	clopidogrel   = concept{"386952008", "Clopidogrel"}
	sertraline    = concept{"372594008", "Sertraline"}
	levothyroxine = concept{"710809001", "Levothyroxine"}
)

// conditions are tuned so that whole-population prevalence lands near the
// QOF 2022-23 register prevalence for England (NHS England, "Quality and
// Outcomes Framework, 2022-23", prevalence tables): hypertension ~14%,
// diabetes ~7.5% of 17+, asthma ~6.5%, depression ~13% of 18+, CKD ~4% of
// 18+, obesity ~10% of 18+. Age gradients and sex ratios are rounded from
// the same source and Health Survey for England 2021.
var conditions = [nConditions]condition{
	{concept{"414916001", "Obesity"}, [5]int{0, 8000, 13000, 14000, 8000}, 1050, 950, -1, 0, 18, nil, 0},
	{concept{"44054006", "Diabetes mellitus type 2"}, [5]int{30, 1300, 6500, 14000, 15000}, 850, 1150, condObesity, 2500, 18, []concept{metformin}, 850},
	{concept{"38341003", "Hypertensive disorder, systemic arterial"}, [5]int{10, 2000, 14000, 38000, 55000}, 950, 1050, condDiabetes, 1600, 18, []concept{amlodipine, ramipril}, 700},
	{concept{"195967001", "Asthma"}, [5]int{9000, 7000, 6500, 6500, 6000}, 1100, 900, -1, 0, 2, []concept{salbutamol}, 900},
	{concept{"13645005", "Chronic obstructive lung disease"}, [5]int{0, 200, 1500, 5500, 8000}, 1000, 1000, -1, 0, 35, []concept{salbutamol}, 900},
	{concept{"53741008", "Coronary arteriosclerosis"}, [5]int{0, 100, 2000, 9000, 16000}, 600, 1400, -1, 0, 30, []concept{atorvastatin}, 850},
	{concept{"49436004", "Atrial fibrillation"}, [5]int{0, 50, 700, 5000, 13000}, 800, 1200, -1, 0, 30, []concept{apixaban}, 750},
	{concept{"84114007", "Heart failure"}, [5]int{0, 50, 500, 2500, 8000}, 900, 1100, -1, 0, 30, []concept{bisoprolol, furosemide}, 800},
	{concept{"230690007", "Cerebrovascular accident"}, [5]int{0, 100, 900, 4000, 9000}, 950, 1050, -1, 0, 30, []concept{clopidogrel, atorvastatin}, 800},
	{concept{"709044004", "Chronic kidney disease"}, [5]int{0, 300, 1800, 8000, 22000}, 1200, 800, condDiabetes, 2000, 18, []concept{ramipril}, 500},
	{concept{"35489007", "Depressive disorder"}, [5]int{0, 14000, 16000, 12000, 10000}, 1300, 700, -1, 0, 18, []concept{sertraline}, 600},
	{concept{"52448006", "Dementia"}, [5]int{0, 0, 100, 1800, 11000}, 1100, 900, -1, 0, 45, nil, 0},
	{concept{"40930008", "Hypothyroidism"}, [5]int{100, 1000, 3500, 6500, 8000}, 1700, 300, -1, 0, 5, []concept{levothyroxine}, 950},
	{concept{"84757009", "Epilepsy"}, [5]int{600, 900, 900, 900, 800}, 1000, 1000, -1, 0, 1, nil, 0},
}

// conditionRisk returns the chance per 100 000 that a person of this age and
// sex has condition c, given the conditions already drawn.
func conditionRisk(c int, age int, female bool, has uint32) int {
	cd := &conditions[c]
	p := cd.per100k[ageBandOf(age)]
	if female {
		p = p * cd.female / 1000
	} else {
		p = p * cd.male / 1000
	}
	if cd.boostBy >= 0 && has&(1<<cd.boostBy) != 0 {
		p = p * cd.boost / 1000
	}
	return min(p, 100000)
}

// obsKind is an observation type with its codes and unit.
type obsKind struct {
	concept
	loinc, loincDisplay string
	unit, ucum          string
	category            string // FHIR observation-category code
}

const (
	obsHeight = iota
	obsWeight
	obsBMI
	obsSystolic
	obsDiastolic
	obsHeartRate
	obsHbA1c
	nObsKinds
)

var obsKinds = [nObsKinds]obsKind{
	{concept{"50373000", "Body height measure"}, "8302-2", "Body height", "cm", "cm", "vital-signs"},
	{concept{"27113001", "Body weight"}, "29463-7", "Body weight", "kg", "kg", "vital-signs"},
	{concept{"60621009", "Body mass index"}, "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", "vital-signs"},
	{concept{"271649006", "Systolic blood pressure"}, "8480-6", "Systolic blood pressure", "mmHg", "mm[Hg]", "vital-signs"},
	{concept{"271650006", "Diastolic blood pressure"}, "8462-4", "Diastolic blood pressure", "mmHg", "mm[Hg]", "vital-signs"},
	{concept{"364075005", "Heart rate"}, "8867-4", "Heart rate", "beats/minute", "/min", "vital-signs"},
	// UK extension: HbA1c level, IFCC standardised.
	{concept{"999791000000106", "Haemoglobin A1c level - IFCC standardised"}, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", "mmol/mol", "mmol/mol", "laboratory"},
}

// encounterType is a kind of contact with its share of contacts.
type encounterType struct {
	concept
	class   string // FHIR v3 ActCode
	w       int
	minutes [2]int // duration range
}

var encounterTypes = []encounterType{
	{concept{"185347001", "Encounter for problem"}, "AMB", 55, [2]int{10, 20}},
	{concept{"4525004", "Emergency department patient visit"}, "EMER", 18, [2]int{60, 360}},
	{concept{"11429006", "Consultation"}, "AMB", 19, [2]int{20, 60}},
	{concept{"32485007", "Hospital admission"}, "IMP", 8, [2]int{720, 14400}},
}

// encounterPer100k is the chance that one encounter slot of a patient is
// used, by age band; NHS Digital "Hospital Accident and Emergency Activity"
// and GP appointment data show contact rates rising with age.
var encounterPer100k = [5]int{35000, 30000, 40000, 55000, 70000}

var encounterChoice = newWeighted(encounterTypes, func(e encounterType) int { return e.w })
