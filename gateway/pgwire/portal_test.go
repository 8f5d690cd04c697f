package pgwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestPortalDescribedNext: the lookahead that lets a Parse of the unnamed
// statement skip the internal Describe recognises only a Bind of that
// statement followed by a Describe of the same portal, whole.
func TestPortalDescribedNext(t *testing.T) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			b, _ = m.Encode(b)
		}
		return b
	}
	libpq := enc(&pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	for _, tc := range []struct {
		name string
		rest []byte
		want bool
	}{
		{"libpq", libpq, true},
		{"named portal", enc(&pgproto3.Bind{DestinationPortal: "p1"}, &pgproto3.Describe{ObjectType: 'P', Name: "p1"}), true},
		{"other portal", enc(&pgproto3.Bind{DestinationPortal: "p1"}, &pgproto3.Describe{ObjectType: 'P', Name: "p2"}), false},
		{"named statement", enc(&pgproto3.Bind{PreparedStatement: "s1"}, &pgproto3.Describe{ObjectType: 'P'}), false},
		{"statement describe", enc(&pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'S'}), false},
		{"no describe", enc(&pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"split", libpq[:len(libpq)-20], false},
		{"bind only", libpq[:12], false},
		{"nothing", nil, false},
		{"bad length", []byte{'B', 0xff, 0xff, 0xff, 0xff, 0, 0}, false},
	} {
		c := &clientPump{peek: func() []byte { return tc.rest }}
		if got := c.portalDescribedNext(); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestUnnamedStatementDescribedByPortal sends what libpq sends for a
// parameterised query (Parse, Bind, Describe portal, Execute, Sync in one
// write), so the plan comes from the portal's description: a hashed column
// is still hashed and a denied one still refused, through both relays.
func TestUnnamedStatementDescribedByPortal(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		w := newWorld(t, worldOpts{mutate: func(c *Config) { c.GoroutineRelay = goroutines }})
		conn := hijacked(t, w)
		exchange := func(sql string) []byte {
			var b []byte
			for _, m := range []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: sql},
				&pgproto3.Bind{Parameters: [][]byte{[]byte("1")}},
				&pgproto3.Describe{ObjectType: 'P'},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			} {
				b, _ = m.Encode(b)
			}
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
			return readUntilReady(t, conn)
		}
		got := exchange("select nhs_number, patient_id from patients where patient_id = $1")
		if kinds := msgKinds(got); kinds != "12TDCZ" {
			t.Fatalf("goroutines=%v: messages %q, want ParseComplete, BindComplete, RowDescription, DataRow, CommandComplete, ReadyForQuery", goroutines, kinds)
		}
		if bytes.Contains(got, []byte(secretNHS)) || !bytes.Contains(got, []byte("h_")) {
			t.Fatalf("goroutines=%v: the NHS number was not hashed: %q", goroutines, got)
		}
		got = exchange("select family_name from patients where patient_id = $1")
		if bytes.Contains(got, []byte(secretFamily)) || !bytes.Contains(got, []byte("42501")) || strings.Contains(msgKinds(got), "D") {
			t.Fatalf("goroutines=%v: a denied column through a described portal: %q", goroutines, got)
		}
	}
}

func readUntilReady(t *testing.T, conn io.Reader) []byte {
	t.Helper()
	if c, ok := conn.(interface{ SetReadDeadline(time.Time) error }); ok {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	var all []byte
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			t.Fatalf("read: %v after %q", err, all)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(conn, body); err != nil {
			t.Fatal(err)
		}
		all = append(append(all, hdr[:]...), body...)
		if hdr[0] == 'Z' {
			return all
		}
	}
}

// msgKinds lists the type bytes of a stream of backend messages.
func msgKinds(b []byte) string {
	var k []byte
	for len(b) >= 5 {
		k = append(k, b[0])
		b = b[1+binary.BigEndian.Uint32(b[1:5]):]
	}
	return string(k)
}
