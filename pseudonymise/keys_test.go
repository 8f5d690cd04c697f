package pseudonymise

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

func TestKeysWriteReadLocalMasterKey(t *testing.T) {
	dir := t.TempDir()
	mk := filepath.Join(dir, "master.json")
	if err := NewLocalMasterKey(mk); err != nil {
		t.Fatal(err)
	}
	if err := NewLocalMasterKey(mk); err == nil {
		t.Fatalf("second NewLocalMasterKey overwrote the file")
	}
	kek, err := LocalMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	keys := newTestKeys(t)
	path := filepath.Join(dir, "keys.json")
	if err := keys.SaveKeys(path, kek); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode: got %v, want 0600", st.Mode().Perm())
	}
	loaded, err := LoadKeys(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	tok := apply(t, mustBuild(t, newTestEngine(t, Config{Keys: keys}), Spec{Name: NameToken, Domain: "d"}), ctxA, "v")
	if got, err := newTestEngine(t, Config{Keys: loaded}).Reveal(ctxA, "d", []byte(tok)); err != nil || string(got) != "v" {
		t.Fatalf("reveal with loaded keys: got %q, %v", got, err)
	}

	// The stored file carries no key material in the clear.
	raw, _ := os.ReadFile(path)
	var f keysFile
	if err := json.Unmarshal(raw, &f); err != nil || f.Format != keysFormat {
		t.Fatalf("keys file: %v, format %q", err, f.Format)
	}
	tb, err1 := base64.StdEncoding.DecodeString(f.Token)
	pb, err2 := base64.StdEncoding.DecodeString(f.Pseudonym)
	if err1 != nil || err2 != nil || len(tb) < 64 || len(pb) < 64 {
		t.Fatalf("keys file: keysets are not base64 blobs")
	}
	blob := slices.Concat(tb, pb, raw)
	for _, h := range []*keyset.Handle{keys.token, keys.pseudonym} {
		for _, k := range insecurecleartextkeyset.KeysetMaterial(h).GetKey() {
			v := k.GetKeyData().GetValue()
			if len(v) < 32 || bytes.Contains(blob, v[len(v)-32:]) {
				t.Errorf("key %d: material found in the stored file", k.GetKeyId())
			}
		}
	}

	// Another master key cannot read it.
	other := filepath.Join(dir, "other.json")
	if err := NewLocalMasterKey(other); err != nil {
		t.Fatal(err)
	}
	otherKEK, _ := LocalMasterKey(other)
	if _, err := LoadKeys(path, otherKEK); err == nil {
		t.Errorf("loaded keys with the wrong master key")
	}

	// Swapping the two keysets in the file is detected (associated data).
	s := string(raw)
	tokStart := strings.Index(s, `"token_keyset": "`) + len(`"token_keyset": "`)
	tokEnd := tokStart + strings.Index(s[tokStart:], `"`)
	psStart := strings.Index(s, `"pseudonym_keyset": "`) + len(`"pseudonym_keyset": "`)
	psEnd := psStart + strings.Index(s[psStart:], `"`)
	swapped := s[:tokStart] + s[psStart:psEnd] + s[tokEnd:psStart] + s[tokStart:tokEnd] + s[psEnd:]
	if _, err := ReadKeys(strings.NewReader(swapped), kek); err == nil {
		t.Errorf("read keys with the keysets swapped")
	}

	// A group-readable master key is refused.
	if err := os.Chmod(mk, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LocalMasterKey(mk); err == nil {
		t.Errorf("LocalMasterKey accepted a world-readable file")
	}
}

func TestReadKeysRejectsJunk(t *testing.T) {
	kek, err := LocalMasterKey(func() string {
		p := filepath.Join(t.TempDir(), "mk")
		if err := NewLocalMasterKey(p); err != nil {
			t.Fatal(err)
		}
		return p
	}())
	if err != nil {
		t.Fatal(err)
	}
	for _, junk := range []string{"", "{}", `{"format":"other"}`, `{"format":"sandgate-keys/v1","token_keyset":"!!","pseudonym_keyset":""}`, "\xff\x00"} {
		if _, err := ReadKeys(strings.NewReader(junk), kek); err == nil {
			t.Errorf("ReadKeys(%q): got no error", junk)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	const limit = 64 << 10
	e := newTestEngine(t, Config{CacheBytes: limit})
	tr := mustBuild(t, e, Spec{Name: NamePseudonym, Domain: "d"})
	seen := map[string]string{}
	for i := range 20000 {
		in := []byte("value-" + strings.Repeat("x", i%7) + strconv.Itoa(i))
		out, _, err := tr.Apply(nil, &ctxA, in, false)
		if err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 {
			seen[string(in)] = string(out)
		}
	}
	n, b := e.cache.len()
	if b > limit || n == 0 {
		t.Fatalf("cache holds %d entries in %d bytes, want some, within %d", n, b, limit)
	}
	// Hits and misses after eviction still give the same answers.
	for in, want := range seen {
		out, _, _ := tr.Apply(nil, &ctxA, []byte(in), false)
		if string(out) != want {
			t.Fatalf("after eviction: got %q, want %q", out, want)
		}
	}
}
