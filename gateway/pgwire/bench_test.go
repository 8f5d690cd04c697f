package pgwire

import (
	"encoding/binary"
	"testing"

	"github.com/sandgate/sandgate/policy"
)

func benchRow(cols int) []byte {
	body := binary.BigEndian.AppendUint16(nil, uint16(cols))
	for i := 0; i < cols; i++ {
		v := []byte("9434765919")
		body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
		body = append(body, v...)
	}
	return body
}

// BenchmarkRewriteRow is the per-row cost of a plan with one hashed column
// out of four.
func BenchmarkRewriteRow(b *testing.B) {
	set := fuzzPolicy(b)
	sb := set.Sandbox("tester")
	pl, err := sb.PlanColumns(&policy.Statement{}, []policy.Column{
		{Name: "a", Schema: "public", Table: "patients", Attr: "patient_id"},
		{Name: "b", Schema: "public", Table: "patients", Attr: "nhs_number"},
		{Name: "c", Schema: "public", Table: "patients", Attr: "patient_id"},
		{Name: "d", Schema: "public", Table: "patients", Attr: "patient_id"}})
	if err != nil {
		b.Fatal(err)
	}
	rp := &resultPlan{any: true, transforms: pl.Transforms, typeOIDs: []uint32{25, 25, 25, 25}}
	body := benchRow(4)
	p := &serverPump{}
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, err = rp.rewriteRow(out[:0], body, nil, p)
		if err != nil {
			b.Fatal(err)
		}
	}
	if out[0] != 'D' {
		b.Fatal("not a DataRow")
	}
}

// BenchmarkFrameRelay is the cost of reading and re-framing one DataRow
// when no column is transformed (the pass-through path).
func BenchmarkFrameRelay(b *testing.B) {
	row := appendMsg(nil, 'D', benchRow(4))
	stream := make([]byte, 0, len(row)*1000)
	for i := 0; i < 1000; i++ {
		stream = append(stream, row...)
	}
	out := make([]byte, 0, len(stream))
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		fr := newFrameReader(&loopReader{b: stream}, 32<<10, 1<<20)
		out = out[:0]
		for i := 0; i < 1000; i++ {
			typ, body, err := fr.next()
			if err != nil {
				b.Fatal(err)
			}
			out = appendMsg(out, typ, body)
		}
	}
	if len(out) != len(stream) {
		b.Fatal("short relay")
	}
}

type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}
