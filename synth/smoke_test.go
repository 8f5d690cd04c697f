package synth

import (
	"testing"
)

func TestSmokePrint(t *testing.T) {
	s, err := Builtin("ehr")
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range s.Tables {
		g := s.NewGenerator(tb, 1)
		var b []byte
		b = g.AppendCSVHeader(b)
		n := 0
		for i := int64(0); n < 4; i++ {
			if g.Gen(i) {
				b = g.AppendCSV(b)
				n++
			}
		}
		g.Gen(0)
		b = g.AppendJSON(b)
		t.Logf("%s\n%s", tb.Name, b)
	}
}
