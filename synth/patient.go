package synth

// Patient is one synthetic person. String fields point into static tables;
// the fixed-size byte arrays are filled in place, so generating a patient
// allocates nothing.
type Patient struct {
	Index       int64 // 0-based row index in the patients table
	Female      bool
	Age         int // whole years at the dataset's as-of date
	BirthDate   Date
	GivenName   string
	FamilyName  string
	HouseNumber int
	Street      string
	Town        string
	NHS         [10]byte
	Practice    [6]byte
	Ethnicity   *ethnicity
	postcode    [8]byte
	postcodeLen uint8
	phone       [13]byte
	phoneLen    uint8
	email       [48]byte
	emailLen    uint8
}

// Postcode, Phone and Email return views of the patient's own arrays.
func (p *Patient) Postcode() []byte { return p.postcode[:p.postcodeLen] }
func (p *Patient) Phone() []byte    { return p.phone[:p.phoneLen] }
func (p *Patient) Email() []byte    { return p.email[:p.emailLen] }

// Sex returns "female" or "male" (FHIR administrative gender codes).
func (p *Patient) Sex() string {
	if p.Female {
		return "female"
	}
	return "male"
}

// EthnicityCode returns the NHS ethnic category letter.
func (p *Patient) EthnicityCode() string { return p.Ethnicity.code }

// genPatient fills p as row index of the patients stream key.
func genPatient(p *Patient, seed, key uint64, index int64, asOf Date) {
	r := newRNG(seed, key, index)
	p.Index = index
	p.Female = r.per100k(femalePer100k)
	genBirth(p, &r, asOf)
	if p.Female {
		p.GivenName = femaleNames.pick(&r).name
	} else {
		p.GivenName = maleNames.pick(&r).name
	}
	p.FamilyName = surnames.pick(&r).name
	nhsFromIndex(&p.NHS, nhsForPatient(seed, index))
	genAddress(p, &r)
	genPhone(p, &r)
	genEmail(p, &r)
	genPractice(&p.Practice, seed, r.intn(practicePool))
	p.Ethnicity = &ethnicities[ethnicChoice.index(&r)]
}

// genBirth draws an age from the pyramid and a birthday within that year.
func genBirth(p *Patient, r *rng, asOf Date) {
	p.BirthDate = birthDate(r, asOf)
	p.Age = yearsBetween(p.BirthDate, asOf)
}

func birthDate(r *rng, asOf Date) Date {
	age := ages.pick(r).from + r.intn(5)
	return asOf - Date(age*36525/100) - Date(r.intn(365)) - 1
}

func genAddress(p *Patient, r *rng) {
	p.HouseNumber = 1 + r.intn(180)
	p.Street = streets[r.intn(len(streets))]
	o := &outwardCodes[r.intn(len(outwardCodes))]
	p.Town = o.town
	b := appendPostcode(p.postcode[:0], o.code, r)
	p.postcodeLen = uint8(len(b))
}

// appendPostcode appends outward code, a space and an inward code (digit and
// two unit letters).
func appendPostcode(dst []byte, outward string, r *rng) []byte {
	dst = append(dst, outward...)
	return append(dst, ' ', byte('0'+r.intn(10)),
		inwardLetters[r.intn(len(inwardLetters))], inwardLetters[r.intn(len(inwardLetters))])
}

// appendPhone appends a number from Ofcom's ranges reserved for drama
// (Ofcom, "Telephone numbers for use in TV and radio drama programmes"):
// 07700 900000–900999, 01632 960000–960999 and 020 7946 0000–0999.
func appendPhone(dst []byte, r *rng, london bool) []byte {
	n := r.intn(1000)
	switch {
	case r.intn(100) < 60:
		dst = append(dst, "07700 900"...)
	case london:
		dst = append(dst, "020 7946 0"...)
	default:
		dst = append(dst, "01632 960"...)
	}
	return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
}

func genPhone(p *Patient, r *rng) {
	b := appendPhone(p.phone[:0], r, p.Town == "London")
	p.phoneLen = uint8(len(b))
}

func genEmail(p *Patient, r *rng) {
	b := appendEmail(p.email[:0], p.GivenName, p.FamilyName, r)
	p.emailLen = uint8(len(b))
}

// appendEmail appends given.family NN@domain in lower case, on a reserved
// domain.
func appendEmail(dst []byte, given, family string, r *rng) []byte {
	dst = appendLower(dst, given)
	dst = append(dst, '.')
	dst = appendLower(dst, family)
	n := r.intn(100)
	dst = append(dst, byte('0'+n/10), byte('0'+n%10), '@')
	return append(dst, emailDomains[r.intn(len(emailDomains))]...)
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// genPractice writes the ODS-style code of practice k of the dataset's pool.
func genPractice(dst *[6]byte, seed uint64, k int) {
	h := mix64(seed ^ 0x7072616374696365 ^ uint64(k)*golden)
	dst[0] = practiceLetters[h%uint64(len(practiceLetters))]
	n := int(h >> 20 % 100000)
	for i := 5; i >= 1; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
}
