package synth

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Date is a calendar date as days since 1970-01-01. It formats without the
// time package and encodes to PostgreSQL's date type through pgx.
type Date int32

// Timestamp is a UTC instant in whole seconds since the Unix epoch; it
// encodes to timestamptz.
type Timestamp int64

// civil returns the proleptic Gregorian date of d (Howard Hinnant's
// days_from_civil inverse, integer only).
func (d Date) civil() (y, m, day int) {
	z := int(d) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, day
}

// dateOf returns the Date of a civil date.
func dateOf(y, m, d int) Date {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return Date(era*146097 + doe - 719468)
}

// AppendText appends d as YYYY-MM-DD.
func (d Date) AppendText(dst []byte) []byte {
	y, m, day := d.civil()
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, day)
}

func (d Date) String() string { return string(d.AppendText(nil)) }

// DateValue lets pgx encode a Date.
func (d Date) DateValue() (pgtype.Date, error) {
	return pgtype.Date{Time: time.Unix(int64(d)*86400, 0).UTC(), Valid: true}, nil
}

// AppendText appends t as RFC 3339 in UTC (2006-01-02T15:04:05Z).
func (t Timestamp) AppendText(dst []byte) []byte {
	days := int64(t) / 86400
	secs := int64(t) % 86400
	if secs < 0 {
		secs += 86400
		days--
	}
	dst = Date(days).AppendText(dst)
	dst = append(dst, 'T')
	dst = append2(dst, int(secs/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(secs/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(secs%60))
	return append(dst, 'Z')
}

// TimestamptzValue lets pgx encode a Timestamp.
func (t Timestamp) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: time.Unix(int64(t), 0).UTC(), Valid: true}, nil
}

// yearsBetween returns whole years from birth to at.
func yearsBetween(birth, at Date) int {
	by, bm, bd := birth.civil()
	y, m, d := at.civil()
	age := y - by
	if m < bm || (m == bm && d < bd) {
		age--
	}
	return age
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10%10), byte('0'+v%10))
}

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendTenths appends v/10 with one decimal place ("123.4", "-0.5").
func appendTenths(dst []byte, v int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = appendUint(dst, uint64(v/10))
	return append(dst, '.', byte('0'+v%10))
}

// appendUint is strconv.AppendUint for base 10 without the import.
func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for v >= 10 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	b[i] = byte('0' + v)
	return append(dst, b[i:]...)
}
