package synth

import (
	"math"
	"testing"
)

// These tests draw 100 000 patients and check the distributions against
// the model's own expectations (within 4–5 standard errors) and against
// the published figures the model is tuned to (within stated tolerances).

const distN = 100000

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: got %.4f, want %.4f ± %.4f", what, got, want, tol)
	}
}

func TestSexAndAgePyramid(t *testing.T) {
	spec, _ := Builtin("ehr")
	g, _ := spec.GeneratorFor("patients", 5)
	var female int
	bands := make([]int, len(agePyramid))
	for s := int64(0); s < distN; s++ {
		g.Gen(s)
		p := &g.Row().Patient
		if p.Female {
			female++
		}
		bands[min(p.Age/5, len(bands)-1)]++
	}
	within(t, "female share", float64(female)/distN, femalePer100k/1e5, 0.005)
	total := 0
	for _, b := range agePyramid {
		total += b.w
	}
	for i, b := range agePyramid {
		want := float64(b.w) / float64(total)
		within(t, "share aged "+itoa(b.from)+"-"+itoa(b.from+4), float64(bands[i])/distN, want, 0.004)
	}
}

func itoa(v int) string { return string(appendUint(nil, uint64(v))) }

// published prevalence the catalogue is tuned to (QOF 2022-23, England),
// with the tolerance we accept for a simplified model.
var published = []struct {
	cond     int
	minAge   int
	want     float64
	tol      float64
	citation string
}{
	{condHypertension, 0, 0.145, 0.025, "QOF hypertension, all ages"},
	{condDiabetes, 17, 0.075, 0.015, "QOF diabetes, 17+"},
	{condAsthma, 6, 0.065, 0.01, "QOF asthma, 6+"},
	{condDepression, 18, 0.132, 0.025, "QOF depression, 18+"},
	{condCKD, 18, 0.042, 0.015, "QOF CKD 3-5, 18+"},
	{condAF, 0, 0.021, 0.007, "QOF atrial fibrillation"},
	{condObesity, 18, 0.099, 0.02, "QOF obesity, 18+"},
}

func TestConditionPrevalence(t *testing.T) {
	spec, _ := Builtin("ehr")
	root := spec.Table("patients")
	var p Patient
	var got, expect [nConditions]float64
	var has, over [nConditions]int
	for s := int64(0); s < distN; s++ {
		genPatient(&p, 5, root.key, s, spec.AsOf)
		set := conditionSet(&p, 5, root.key)
		for c := 0; c < nConditions; c++ {
			if p.Age >= conditions[c].onsetFrom {
				expect[c] += float64(conditionRisk(c, p.Age, p.Female, set&(1<<c-1))) / 1e5
			}
			if set&(1<<c) != 0 {
				got[c]++
			}
		}
		for _, pub := range published {
			if p.Age >= pub.minAge {
				over[pub.cond]++
				if set&(1<<pub.cond) != 0 {
					has[pub.cond]++
				}
			}
		}
	}
	for c := 0; c < nConditions; c++ {
		sd := math.Sqrt(expect[c]) // Poisson bound on the count's sd
		within(t, conditions[c].display+" count", got[c], expect[c], 4*sd+1)
	}
	for _, pub := range published {
		within(t, pub.citation, float64(has[pub.cond])/float64(over[pub.cond]), pub.want, pub.tol)
	}
}

// TestObservationsFollowConditions draws observations for 20 000 patients
// and checks ranges and the effect of conditions on them.
func TestObservationsFollowConditions(t *testing.T) {
	spec, _ := Builtin("ehr")
	tb := spec.Table("observations")
	g := spec.NewGenerator(tb, 11)
	type acc struct{ sum, n float64 }
	var sysHTN, sysNorm, a1cDM, a1cNon acc
	limits := map[int][2]int{obsHeight: {450, 2150}, obsBMI: {130, 600}, obsSystolic: {800, 2200},
		obsDiastolic: {400, 2050}, obsHeartRate: {400, 1800}, obsHbA1c: {250, 1200}, obsWeight: {20, 3000}}
	for s := int64(0); s < 20000*tb.PerParent; s++ {
		if !g.Gen(s) {
			continue
		}
		r := g.Row()
		kind := int(s % tb.PerParent % nObsKinds)
		v := r.Observation.Value
		if l := limits[kind]; v < l[0] || v > l[1] {
			t.Fatalf("slot %d: %s = %d tenths, outside [%d, %d]", s, r.Observation.Kind.display, v, l[0], l[1])
		}
		round := int(s % tb.PerParent / nObsKinds)
		adult := r.Patient.Age-round >= 18
		switch {
		case kind == obsSystolic && adult && g.has&(1<<condHypertension) != 0:
			sysHTN.sum, sysHTN.n = sysHTN.sum+float64(v)/10, sysHTN.n+1
		case kind == obsSystolic && adult && r.Patient.Age < 60:
			sysNorm.sum, sysNorm.n = sysNorm.sum+float64(v)/10, sysNorm.n+1
		case kind == obsHbA1c && g.has&(1<<condDiabetes) != 0:
			a1cDM.sum, a1cDM.n = a1cDM.sum+float64(v)/10, a1cDM.n+1
		case kind == obsHbA1c:
			a1cNon.sum, a1cNon.n = a1cNon.sum+float64(v)/10, a1cNon.n+1
		case kind == obsBMI && adult && g.has&(1<<condObesity) != 0 && v < 300:
			t.Fatalf("slot %d: obese adult with BMI %d tenths", s, v)
		case kind == obsBMI:
			vs := &g.vitals.value
			bmi := float64(vs[obsWeight]) / 10 / math.Pow(float64(vs[obsHeight])/1000, 2)
			within(t, "BMI from weight and height", bmi, float64(v)/10, 0.3)
		}
	}
	within(t, "mean systolic, hypertensive adults", sysHTN.sum/sysHTN.n, 146, 2)
	within(t, "mean systolic, other adults under 60", sysNorm.sum/sysNorm.n, 123, 3)
	within(t, "mean HbA1c, diabetic", a1cDM.sum/a1cDM.n, 58.5, 2)
	within(t, "mean HbA1c, not diabetic", a1cNon.sum/a1cNon.n, 37, 1)
	if a1cDM.n < 500 || sysHTN.n < 2000 {
		t.Errorf("too few measurements: %v diabetic HbA1c, %v hypertensive BP", a1cDM.n, sysHTN.n)
	}
}
