package httpdata

import (
	"bufio"
	"encoding/json"
	"unicode/utf8"
)

// jsonWriter writes JSON tokens, placing commas and colons.
type jsonWriter struct {
	w        *bufio.Writer
	first    []bool // per open container: nothing written in it yet
	afterKey bool
	buf      []byte
}

func (j *jsonWriter) sep() {
	if j.afterKey {
		j.afterKey = false
		return
	}
	if n := len(j.first); n > 0 {
		if j.first[n-1] {
			j.first[n-1] = false
		} else {
			j.w.WriteByte(',')
		}
	}
}

func (j *jsonWriter) key(k string) {
	j.sep()
	j.string(k)
	j.w.WriteByte(':')
	j.afterKey = true
}

func (j *jsonWriter) open(c byte) {
	j.sep()
	j.w.WriteByte(c)
	j.first = append(j.first, true)
}

func (j *jsonWriter) close(c byte) {
	j.first = j.first[:len(j.first)-1]
	j.w.WriteByte(c)
}

// scalar writes a token as it came from the decoder (json.Number kept as
// written).
func (j *jsonWriter) scalar(t json.Token) {
	j.sep()
	switch v := t.(type) {
	case string:
		j.string(v)
	case json.Number:
		j.w.WriteString(string(v))
	case bool:
		if v {
			j.w.WriteString("true")
		} else {
			j.w.WriteString("false")
		}
	default:
		j.w.WriteString("null")
	}
}

// stringBytes writes a transformed value as a JSON string.
func (j *jsonWriter) stringBytes(b []byte) {
	j.sep()
	j.string(string(b))
}

func (j *jsonWriter) null() {
	j.sep()
	j.w.WriteString("null")
}

const hexDigits = "0123456789abcdef"

func (j *jsonWriter) string(s string) {
	b := append(j.buf[:0], '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	b = append(b, '"')
	j.w.Write(b)
	j.buf = b
}
