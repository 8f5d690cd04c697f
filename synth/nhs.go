package synth

// NHS numbers: ten digits, the last a modulus-11 check digit over the first
// nine with weights 10 down to 2 (NHS Data Dictionary, "NHS Number").
// Numbers starting 999 are never issued to a person, so synthetic numbers
// are drawn from that range only.

// nhsSpace is how many distinct valid numbers nhsFromIndex can produce:
// 100 000 eight-digit prefixes 999xxxxx, nine usable ninth digits each.
const nhsSpace = 900000

// nhsFromIndex writes the NHS number for q in [0, nhsSpace); distinct q give
// distinct numbers.
func nhsFromIndex(dst *[10]byte, q int) {
	block, r := q/9, q%9
	dst[0], dst[1], dst[2] = '9', '9', '9'
	sum := 9*10 + 9*9 + 9*8
	for i := 7; i >= 3; i-- {
		d := block % 10
		block /= 10
		dst[i] = byte('0' + d)
		sum += d * (10 - i) // weights run 10 down to 2
	}
	for d9 := 0; d9 <= 9; d9++ {
		if (sum+2*d9)%11 == 1 { // check digit would be 10: invalid
			continue
		}
		if r == 0 {
			dst[8] = byte('0' + d9)
			check := 11 - (sum+2*d9)%11
			if check == 11 {
				check = 0
			}
			dst[9] = byte('0' + check)
			return
		}
		r--
	}
}

// nhsForPatient maps a patient index to q in [0, nhsSpace) through a keyed
// permutation (a three-round Feistel network on 1000×1000, cycle-walked into
// range), so that neighbouring patients get unrelated numbers. Numbers
// repeat only after nhsSpace patients.
func nhsForPatient(seed uint64, index int64) int {
	x := int(index % nhsSpace)
	for {
		l, r := x/1000, x%1000
		for round := uint64(0); round < 3; round++ {
			l, r = r, (l+int(mix64(seed^round<<32^uint64(r))%1000))%1000
		}
		x = l*1000 + r
		if x < nhsSpace {
			return x
		}
	}
}

// ValidNHSNumber reports whether s is ten digits with a correct modulus-11
// check digit.
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(s[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(s[9]-'0')
}
