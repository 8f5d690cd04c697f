package pgwire

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/sandgate/sandgate/policy"
)

// discardConn is an upstream that accepts and drops every byte: the fuzz
// target exercises client-message decoding and policy checks, not the server.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (discardConn) Close() error                { return nil }

// FuzzClientStream feeds arbitrary bytes to the client pump as if a client
// had sent them after logging in. It must end with a protocol error, EOF or
// Terminate — never a panic — and never queue more responses than messages.
func FuzzClientStream(f *testing.F) {
	seeds := [][]byte{
		appendMsg(nil, 'Q', []byte("select patient_id from patients\x00")),
		appendMsg(appendMsg(nil, 'P', []byte("s1\x00select nhs_number from patients where patient_id = $1\x00\x00\x00")),
			'S', nil),
		appendMsg(nil, 'B', []byte("\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x011\x00\x01\x00\x01")),
		appendMsg(nil, 'D', []byte("S\x00")),
		appendMsg(nil, 'E', []byte("\x00\x00\x00\x00\x00")),
		appendMsg(nil, 'C', []byte("Pp\x00")),
		appendMsg(nil, 'F', []byte{0, 0, 0, 1}),
		appendMsg(nil, 'X', nil),
		{'Q', 0xff, 0xff, 0xff, 0xff},
		{'Q', 0, 0, 0, 3},
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	set := fuzzPolicy(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &session{srv: &Server{cfg: Config{MaxMessageBytes: 1 << 16}}, log: slog.New(slog.DiscardHandler),
			sandbox: set.Sandbox("tester")}
		up := &serverConn{conn: discardConn{}}
		cp := &clientPump{s: s, up: up, in: newFrameReader(bytes.NewReader(data), 1<<16), q: &queue{}}
		err := cp.loop()
		var pe *protoError
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errTerminate), errors.As(err, &pe):
		default:
			t.Fatalf("unexpected error kind: %v", err)
		}
		if n := len(cp.q.items) - cp.q.head; n > len(data)/5+1 {
			t.Fatalf("%d pending responses from %d bytes", n, len(data))
		}
	})
}

func fuzzPolicy(t testing.TB) *policy.Set {
	set, err := policy.Compile(policy.Options{HashKey: bytes.Repeat([]byte{1}, 32)}, policy.Source{Name: "fuzz.yaml", Data: []byte(`
version: 1
sandboxes:
  - name: tester
    database: clinic
    password_verifier: "SCRAM-SHA-256$4096:K6cI4zRyjEzPIN3a3Nl0Ng==$6c2OaC0LGCMlyr0dA+HBBS2opiCPlquz1+/6W0qx9uM=:um+Ul3BmHHo1mJtTfgpRGX5g3fBHTkxLOlTcGbZQGIY="
    tables:
      patients: {patient_id: allow, nhs_number: hash}
`)})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// FuzzRewriteRow checks that a DataRow rewrite never panics, and that what
// it produces is a well-formed DataRow.
func FuzzRewriteRow(f *testing.F) {
	f.Add([]byte{0, 2, 0, 0, 0, 1, '7', 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0, 2, 0, 0, 0, 1, '7', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 2, 0xff, 0xff, 0xff, 0xf0})
	f.Add([]byte{0, 1})
	f.Add([]byte{})
	set := fuzzPolicy(f)
	sb := set.Sandbox("tester")
	pl, err := sb.PlanColumns(&policy.Statement{}, []policy.Column{
		{Name: "patient_id", Schema: "public", Table: "patients", Attr: "patient_id"},
		{Name: "nhs_number", Schema: "public", Table: "patients", Attr: "nhs_number"}})
	if err != nil {
		f.Fatal(err)
	}
	rp := &resultPlan{any: true, transforms: pl.Transforms, typeOIDs: []uint32{23, 25}}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := &serverPump{}
		out, err := rp.rewriteRow(nil, body, nil, p)
		if err != nil {
			return
		}
		if len(out) < 7 || out[0] != 'D' || int(out[1])<<24|int(out[2])<<16|int(out[3])<<8|int(out[4]) != len(out)-1 {
			t.Fatalf("malformed DataRow out: %q", out)
		}
		if bytes.Contains(out[5:], []byte("abc")) && bytes.Contains(body, []byte("abc")) && len(body) == 14 {
			t.Fatalf("hashed column passed through: %q", out)
		}
	})
}
