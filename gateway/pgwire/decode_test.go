package pgwire

import (
	"bytes"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzDecodeMatchesPgproto3 checks that the client pump's own decoders of
// Parse, Bind and Execute accept exactly the bodies pgproto3's Decode
// accepts and yield the same fields, also when they reuse the slices of a
// different message decoded just before (as the pump's do).
func FuzzDecodeMatchesPgproto3(f *testing.F) {
	f.Add([]byte("s1\x00select nhs_number from patients where patient_id = $1\x00\x00\x01\x00\x00\x00\x17"))
	f.Add([]byte("\x00s1\x00\x00\x01\x00\x01\x00\x02\x00\x00\x00\x011\xff\xff\xff\xff\x00\x01\x00\x01"))
	f.Add([]byte("p\x00\x00\x00\x00\x00\x05"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x00\x00\x00\x02\x00\x01"))
	f.Add([]byte("x\x00"))
	f.Add([]byte{})
	// Earlier messages whose slices the decoders reuse: longer and shorter.
	var prevParse pgproto3.Parse
	decodeParse(&prevParse, []byte("old\x00select 1\x00\x00\x03\x00\x00\x00\x17\x00\x00\x00\x19\x00\x00\x00\x1a"))
	var prevBind pgproto3.Bind
	decodeBind(&prevBind, []byte("op\x00os\x00\x00\x02\x00\x01\x00\x01\x00\x03\x00\x00\x00\x01a\xff\xff\xff\xff\x00\x00\x00\x02bb\x00\x02\x00\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		{
			var want pgproto3.Parse
			wantErr := want.Decode(slices.Clone(body))
			got := prevParse
			got.ParameterOIDs = slices.Clone(prevParse.ParameterOIDs)
			gotErr := decodeParse(&got, body)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("Parse %q: pgproto3 says %v, decodeParse says %v", body, wantErr, gotErr)
			}
			if wantErr == nil && (got.Name != want.Name || got.Query != want.Query || !slices.Equal(got.ParameterOIDs, want.ParameterOIDs)) {
				t.Fatalf("Parse %q: got %+v, want %+v", body, got, want)
			}
		}
		{
			var want pgproto3.Bind
			wantErr := want.Decode(slices.Clone(body))
			got := prevBind
			got.ParameterFormatCodes = slices.Clone(prevBind.ParameterFormatCodes)
			got.Parameters = slices.Clone(prevBind.Parameters)
			got.ResultFormatCodes = slices.Clone(prevBind.ResultFormatCodes)
			gotErr := decodeBind(&got, body)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("Bind %q: pgproto3 says %v, decodeBind says %v", body, wantErr, gotErr)
			}
			if wantErr == nil && (got.DestinationPortal != want.DestinationPortal || got.PreparedStatement != want.PreparedStatement ||
				!slices.Equal(got.ParameterFormatCodes, want.ParameterFormatCodes) ||
				!slices.Equal(got.ResultFormatCodes, want.ResultFormatCodes) ||
				!sameParams(got.Parameters, want.Parameters)) {
				t.Fatalf("Bind %q: got %+v, want %+v", body, got, want)
			}
		}
		{
			var want pgproto3.Execute
			wantErr := want.Decode(slices.Clone(body))
			got := pgproto3.Execute{Portal: "stale", MaxRows: 7}
			gotErr := decodeExecute(&got, body)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("Execute %q: pgproto3 says %v, decodeExecute says %v", body, wantErr, gotErr)
			}
			if wantErr == nil && got != want {
				t.Fatalf("Execute %q: got %+v, want %+v", body, got, want)
			}
		}
	})
}

// sameParams compares parameter values, NULL (nil) apart from empty.
func sameParams(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) || !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// BenchmarkDecodeBind is the pump's decoding of a typical Bind (one text
// parameter, one result format); compare BenchmarkDecodeBindPgproto3.
func BenchmarkDecodeBind(b *testing.B) {
	body := []byte("\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0512345\x00\x01\x00\x00")
	var dst pgproto3.Bind
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeBind(&dst, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBindPgproto3(b *testing.B) {
	body := []byte("\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0512345\x00\x01\x00\x00")
	var dst pgproto3.Bind
	b.ReportAllocs()
	for b.Loop() {
		if err := dst.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
