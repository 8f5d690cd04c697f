package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// testKeys returns a signer and the matching verifier.
func testKeys(t testing.TB) (*Signer, tink.Verifier) {
	t.Helper()
	h, err := keyset.NewHandle(signature.ED25519KeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(h)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := WritePublicKey(&pub, h); err != nil {
		t.Fatal(err)
	}
	v, err := ReadPublicKey(&pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// sampleRecord is a statement record numbered i.
func sampleRecord(i int) Record {
	return Record{
		Time: time.Date(2026, 3, 1, 9, 0, 0, i, time.UTC), Kind: KindStatement,
		Sandbox: "diabetes_dash", User: "dr_example", Decision: Transform,
		Rules: []string{"patients.nhs_number"}, Relations: []string{"public.patients"},
		Columns: []Column{{Relation: "public.patients", Name: "nhs_number", Transform: "hash"}},
		Rows:    int64(i % 7), Bytes: 120, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
}

// writeLog appends n records to a fresh log in dir and closes it.
func writeLog(t testing.TB, cfg Config, n int) {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Append(context.Background(), sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustFiles(t testing.TB, dir string) []string {
	t.Helper()
	fs, err := Files(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// only returns the problems, failing the test unless there is exactly one
// of kind k.
func only(t testing.TB, res *Result, k ProblemKind) Problem {
	t.Helper()
	if len(res.Problems) != 1 || res.Problems[0].Kind != k {
		t.Fatalf("got problems %v, want exactly one %s", res.Problems, k)
	}
	return res.Problems[0]
}

func describe(res *Result) string {
	return fmt.Sprintf("%+v", *res)
}

func hashHex(line string) string {
	sum := sha256.Sum256([]byte(line))
	return hex.EncodeToString(sum[:])
}
