package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

func TestAppendVerifyBothModes(t *testing.T) {
	for _, d := range []Durability{GroupCommit, SyncEach} {
		t.Run(map[Durability]string{GroupCommit: "group", SyncEach: "sync"}[d], func(t *testing.T) {
			dir := t.TempDir()
			s, v := testKeys(t)
			writeLog(t, Config{Dir: dir, Durability: d, Signer: s, CheckpointEvery: 10}, 35)
			res, err := VerifyWith(VerifyOptions{Verifier: v, RequireSealed: true}, mustFiles(t, dir)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			// 35 records, a checkpoint after every 10, and one at Close.
			if res.Records != 39 || res.Checkpoints != 4 || !res.Sealed || res.LastSigned != 39 {
				t.Fatalf("got %s, want 39 records, 4 checkpoints, sealed at 39", describe(res))
			}
		})
	}
}

func TestReopenContinuesChainAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	s, v := testKeys(t)
	cfg := Config{Dir: dir, Signer: s, MaxFileBytes: 2000}
	writeLog(t, cfg, 20)
	writeLog(t, cfg, 20)
	files := mustFiles(t, dir)
	if len(files) < 4 {
		t.Fatalf("got %d files, want rotation into at least 4", len(files))
	}
	res, err := VerifyWith(VerifyOptions{Verifier: v, RequireSealed: true}, files...)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if res.Records != 42 || res.FirstSeq != 1 || res.LastSeq != 42 {
		t.Fatalf("got %s, want seq 1 to 42", describe(res))
	}
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 2000 {
			t.Errorf("%s is %d bytes, want at most 2000", f, st.Size())
		}
	}
}

func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var durable uint64
	l, err := Open(Config{Dir: dir, GroupMax: 16, OnDurable: func(s uint64) {
		mu.Lock()
		defer mu.Unlock()
		if s < durable {
			t.Errorf("durable went back from %d to %d", durable, s)
		}
		durable = s
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if err := l.Append(t.Context(), sampleRecord(g*1000+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(mustFiles(t, dir)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil || res.Records != 1600 {
		t.Fatalf("got %s, err %v; want 1600 intact records", describe(res), err)
	}
	if durable != 1600 {
		t.Fatalf("got durable %d, want 1600", durable)
	}
	if err := l.Append(context.Background(), sampleRecord(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: got %v, want ErrClosed", err)
	}
}

func TestAppendRefusesCheckpointKind(t *testing.T) {
	l, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(t.Context(), Record{Kind: KindCheckpoint}); err == nil {
		t.Fatal("got nil error appending a checkpoint, want refusal")
	}
}

// TestNoRawValues checks that free-form fields cannot carry a protected
// value onto disk.
func TestNoRawValues(t *testing.T) {
	const raw = "9434765919"
	dir := t.TempDir()
	l, err := Open(Config{Dir: dir, Durability: SyncEach})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []Record{
		{Kind: KindEgress, Destination: "https://user:" + raw + "@api.example.org:8443/patients/" + raw + "?nhs=" + raw},
		{Kind: KindEgress, Destination: "api.example.org/lookup?nhs=" + raw},
		{Kind: KindStatement, ErrorClass: `duplicate key value violates unique constraint (nhs_number)=(` + raw + `)`},
	} {
		if err := l.Append(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range mustFiles(t, dir) {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(raw)) {
			t.Fatalf("raw value found in %s:\n%s", f, b)
		}
		if !bytes.Contains(b, []byte(`"destination":"api.example.org:8443"`)) {
			t.Errorf("got %s, want destination api.example.org:8443", b)
		}
	}
}

func TestSigningKeyRoundTrip(t *testing.T) {
	kh, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	kek, err := aead.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	h, err := NewSigningKey(&buf, kek)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "privateKey") || !strings.Contains(buf.String(), "encryptedKeyset") {
		t.Fatalf("signing key not stored encrypted: %s", buf.String())
	}
	s, err := LoadSigner(bytes.NewReader(buf.Bytes()), kek)
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
	dir := t.TempDir()
	writeLog(t, Config{Dir: dir, Signer: s}, 3)
	res, err := VerifyWith(VerifyOptions{Verifier: v, RequireSealed: true}, mustFiles(t, dir)...)
	if err != nil || res.Err() != nil {
		t.Fatalf("verify with loaded key: %v %v", err, res.Err())
	}
}
