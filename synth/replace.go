package synth

import (
	"errors"
	"fmt"
)

// ErrUnknownKind means Replace was asked for a kind it does not generate.
var ErrUnknownKind = errors.New("unknown synthetic kind")

// replaceAsOf anchors Replace's dates of birth, so that a replacement never
// changes with the calendar.
var replaceAsOf = dateOf(2025, 1, 1)

// ReplaceKinds lists the kinds Replace accepts, for policy validation.
func ReplaceKinds() []string {
	return []string{"given_name", "family_name", "name", "address", "address_line", "town",
		"postcode", "phone", "email", "nhs_number", "date_of_birth", "gp_practice", "ethnicity"}
}

// Replace appends to dst a synthetic value of the given kind chosen by seed
// (typically the value's keyed pseudonym bytes): the same seed always gives
// the same value, and different kinds drawn from one seed agree (the given
// name, family name and e-mail address of one person match). It allocates
// nothing unless dst must grow. NHS numbers are valid and in the 999 range;
// dates of birth follow the age pyramid as of 2025-01-01.
func Replace(kind string, seed []byte, dst []byte) ([]byte, error) {
	r := rng{s: seedHash(seed)}
	female := r.per100k(femalePer100k)
	given := maleNames.pick(&r).name
	if female {
		given = femaleNames.pick(&r).name
	}
	family := surnames.pick(&r).name
	switch kind {
	case "given_name":
		return append(dst, given...), nil
	case "family_name":
		return append(dst, family...), nil
	case "name":
		return append(append(append(dst, given...), ' '), family...), nil
	case "email":
		return appendEmail(dst, given, family, &r), nil
	case "nhs_number":
		var b [10]byte
		nhsFromIndex(&b, int(r.next()%nhsSpace))
		return append(dst, b[:]...), nil
	case "date_of_birth":
		return birthDate(&r, replaceAsOf).AppendText(dst), nil
	case "gp_practice":
		var b [6]byte
		genPractice(&b, r.next(), 0)
		return append(dst, b[:]...), nil
	case "ethnicity":
		return append(dst, ethnicChoice.pick(&r).code...), nil
	}
	return replacePlace(kind, &r, dst)
}

// replacePlace handles the address kinds; one seed gives one address.
func replacePlace(kind string, r *rng, dst []byte) ([]byte, error) {
	house := 1 + r.intn(180)
	street := streets[r.intn(len(streets))]
	o := &outwardCodes[r.intn(len(outwardCodes))]
	switch kind {
	case "address_line":
		return append(append(appendUint(dst, uint64(house)), ' '), street...), nil
	case "town":
		return append(dst, o.town...), nil
	case "postcode":
		return appendPostcode(dst, o.code, r), nil
	case "phone":
		return appendPhone(dst, r, o.town == "London"), nil
	case "address":
		dst = append(append(appendUint(dst, uint64(house)), ' '), street...)
		dst = append(append(dst, ", "...), o.town...)
		return appendPostcode(append(dst, ", "...), o.code, r), nil
	}
	return dst, fmt.Errorf("%w %q; use one of %v", ErrUnknownKind, kind, ReplaceKinds())
}

// seedHash folds seed bytes into 64 bits (splitmix over 8-byte words).
func seedHash(seed []byte) uint64 {
	h := uint64(len(seed)) * golden
	for len(seed) >= 8 {
		w := uint64(seed[0]) | uint64(seed[1])<<8 | uint64(seed[2])<<16 | uint64(seed[3])<<24 |
			uint64(seed[4])<<32 | uint64(seed[5])<<40 | uint64(seed[6])<<48 | uint64(seed[7])<<56
		h = mix64(h ^ w)
		seed = seed[8:]
	}
	var w uint64
	for i, c := range seed {
		w |= uint64(c) << (8 * i)
	}
	return mix64(h ^ w ^ 0xff)
}
