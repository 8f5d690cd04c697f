package pgwire

import (
	"context"
	"strconv"

	"encoding/binary"
	"github.com/jackc/pgx/v5/pgconn"
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
	stream := benchStream()
	out := make([]byte, 0, len(stream))
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		fr := newFrameReader(&loopReader{b: stream}, 1<<20)
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

// BenchmarkFrameBuf is BenchmarkFrameRelay for the event loop's framing:
// the same stream, delivered in 16 KiB reads.
func BenchmarkFrameBuf(b *testing.B) {
	stream := benchStream()
	out := make([]byte, 0, len(stream))
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		fb := frameBuf{max: 1 << 20, buf: make([]byte, frameBufSize)}
		out = out[:0]
		for rest := stream; len(rest) > 0 || fb.buffered() > 0; {
			n := copy(fb.space(), rest)
			fb.filled(n)
			rest = rest[n:]
			for {
				typ, body, ok, err := fb.next()
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					break
				}
				out = appendMsg(out, typ, body)
			}
		}
	}
	if len(out) != len(stream) {
		b.Fatal("short relay")
	}
}

// benchStream is 1000 four-column DataRows.
func benchStream() []byte {
	row := appendMsg(nil, 'D', benchRow(4))
	stream := make([]byte, 0, len(row)*1000)
	for range 1000 {
		stream = append(stream, row...)
	}
	return stream
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

// BenchmarkSimpleQueryThroughGateway is one simple-protocol round trip
// through a real gateway and server (client, gateway and server share the
// machine, so compare it with BenchmarkSimpleQueryDirect).
func BenchmarkSimpleQueryThroughGateway(b *testing.B) {
	w := newWorld(b, worldOpts{})
	benchSimpleQuery(b, w.dsn("tester", testPassword, "disable"))
}

// BenchmarkSimpleQueryThroughGatewayGoroutines is the same round trip
// with the goroutine relay (as TLS sessions use).
func BenchmarkSimpleQueryThroughGatewayGoroutines(b *testing.B) {
	w := newWorld(b, worldOpts{mutate: func(c *Config) { c.GoroutineRelay = true }})
	benchSimpleQuery(b, w.dsn("tester", testPassword, "disable"))
}

// BenchmarkExtendedQueryThroughGateway is pgbench -M extended's unit of
// work: Parse, Bind, Describe, Execute and Sync of an unnamed statement.
// Profile its allocations with -memprofile and -memprofilerate=1, ignoring
// pgconn's (the client's) share.
func BenchmarkExtendedQueryThroughGateway(b *testing.B) {
	w := newWorld(b, worldOpts{})
	pc, err := pgconn.Connect(context.Background(), w.dsn("tester", testPassword, "disable"))
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close(context.Background())
	ctx := context.Background()
	params := [][]byte{[]byte("1"), []byte("2")}
	b.ReportAllocs()
	var last []byte
	for i := 0; b.Loop(); i++ {
		res := pc.ExecParams(ctx, "select name from wards where ward_id = $1", params[i%2:i%2+1], nil, nil, nil).Read()
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		last = res.Rows[0][0]
	}
	if len(last) == 0 {
		b.Fatal("no result")
	}
}

func BenchmarkSimpleQueryDirect(b *testing.B) {
	needCluster(b)
	benchSimpleQuery(b, "postgres://postgres@"+cluster.Addr()+"/clinic?sslmode=disable")
}

func benchSimpleQuery(b *testing.B, dsn string) {
	pc, err := pgconn.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	var last []byte
	for i := 0; b.Loop(); i++ {
		res, err := pc.Exec(ctx, "select name from wards where ward_id = "+strconv.Itoa(1+i%2)).ReadAll()
		if err != nil {
			b.Fatal(err)
		}
		last = res[0].Rows[0][0]
	}
	if len(last) == 0 {
		b.Fatal("no result")
	}
}

// BenchmarkConnectQueryClose is pgbench -C's unit of work: log in, one
// query, close. The client's SCRAM key derivation dominates; profile it
// for the gateway's share.
func BenchmarkConnectQueryClose(b *testing.B) {
	w := newWorld(b, worldOpts{})
	dsn := w.dsn("tester", testPassword, "disable")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		pc, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pc.Exec(ctx, "select name from wards where ward_id = 1").ReadAll(); err != nil {
			b.Fatal(err)
		}
		pc.Close(ctx)
	}
}
