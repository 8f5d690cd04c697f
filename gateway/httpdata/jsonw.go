package httpdata

import (
	"bufio"
	"encoding/json"
	"github.com/sandgate/sandgate/internal/jsonstr"
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

func (j *jsonWriter) string(s string) {
	b := jsonstr.Append(j.buf[:0], s, true)
	j.w.Write(b)
	j.buf = b
}
