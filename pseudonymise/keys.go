package pseudonymise

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Keys is a deployment's key material: a token keyset (Tink AES256-SIV
// Deterministic AEAD) and a pseudonym keyset (Tink HMAC-SHA256 PRF). It is
// only ever stored encrypted under a key-encryption key (KEK); see
// [LocalMasterKey] and [VaultMasterKey].
type Keys struct {
	token     *keyset.Handle
	pseudonym *keyset.Handle
}

// keysFormat names the version of the file layout written by [Keys.Write].
const keysFormat = "sandgate-keys/v1"

// Associated data binding each encrypted keyset to its role, so that the two
// cannot be swapped in the file.
var (
	adToken     = []byte("sandgate/keys/v1/token")
	adPseudonym = []byte("sandgate/keys/v1/pseudonym")
)

// keysFile is the stored form: each keyset is a Tink EncryptedKeyset
// (binary), base64-encoded.
type keysFile struct {
	Format    string `json:"format"`
	Token     string `json:"token_keyset"`
	Pseudonym string `json:"pseudonym_keyset"`
}

// NewKeys returns fresh keys with one key in each keyset.
func NewKeys() (*Keys, error) {
	tk, err := keyset.NewHandle(daead.AESSIVKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("new token keyset: %w", err)
	}
	pk, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("new pseudonym keyset: %w", err)
	}
	return &Keys{token: tk, pseudonym: pk}, nil
}

// RotateOptions says what [Keys.Rotate] rotates.
type RotateOptions struct {
	// Pseudonyms also rotates the pseudonym keyset. Every one-way output
	// (pseudonym, nhs_number, digits, date_shift, synthetic) then changes
	// and cannot be linked to the old outputs: a re-pseudonymisation.
	// False rotates the token keyset only.
	Pseudonyms bool
}

// Rotate adds a new primary key to the token keyset (and, if asked, to the
// pseudonym keyset) and keeps the old keys enabled, so tokens issued before
// are still revealable. It returns the new primary key ids.
func (k *Keys) Rotate(o RotateOptions) (tokenID, pseudonymID uint32, err error) {
	tokenID, tok, err := rotate(k.token, daead.AESSIVKeyTemplate())
	if err != nil {
		return 0, 0, fmt.Errorf("rotate token keyset: %w", err)
	}
	ps := k.pseudonym
	pseudonymID = primaryID(ps)
	if o.Pseudonyms {
		pseudonymID, ps, err = rotate(ps, prf.HMACSHA256PRFKeyTemplate())
		if err != nil {
			return 0, 0, fmt.Errorf("rotate pseudonym keyset: %w", err)
		}
	}
	k.token, k.pseudonym = tok, ps
	return tokenID, pseudonymID, nil
}

func rotate(h *keyset.Handle, tmpl *tinkpb.KeyTemplate) (uint32, *keyset.Handle, error) {
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(tmpl)
	if err != nil {
		return 0, nil, err
	}
	if err := m.SetPrimary(id); err != nil {
		return 0, nil, err
	}
	nh, err := m.Handle()
	if err != nil {
		return 0, nil, err
	}
	return id, nh, nil
}

func primaryID(h *keyset.Handle) uint32 {
	p, err := h.Primary()
	if err != nil {
		return 0
	}
	return p.KeyID()
}

// KeyInfo describes one key, without key material.
type KeyInfo struct {
	ID      uint32
	Status  string // ENABLED, DISABLED or DESTROYED
	Primary bool
	Type    string // the Tink type URL
}

// Info describes both keysets.
type Info struct {
	Token     []KeyInfo
	Pseudonym []KeyInfo
}

// Info describes the keys without revealing key material.
func (k *Keys) Info() Info {
	return Info{Token: info(k.token), Pseudonym: info(k.pseudonym)}
}

func info(h *keyset.Handle) []KeyInfo {
	ki := h.KeysetInfo()
	var out []KeyInfo
	for _, e := range ki.GetKeyInfo() {
		out = append(out, KeyInfo{
			ID:      e.GetKeyId(),
			Status:  e.GetStatus().String(),
			Primary: e.GetKeyId() == ki.GetPrimaryKeyId(),
			Type:    e.GetTypeUrl(),
		})
	}
	return out
}

// Write writes the keys, encrypted under kek, as JSON.
func (k *Keys) Write(w io.Writer, kek tink.AEAD) error {
	tok, err := encryptKeyset(k.token, kek, adToken)
	if err != nil {
		return fmt.Errorf("encrypt token keyset: %w", err)
	}
	ps, err := encryptKeyset(k.pseudonym, kek, adPseudonym)
	if err != nil {
		return fmt.Errorf("encrypt pseudonym keyset: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(keysFile{Format: keysFormat, Token: tok, Pseudonym: ps})
}

func encryptKeyset(h *keyset.Handle, kek tink.AEAD, ad []byte) (string, error) {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), kek, ad); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// ReadKeys reads keys written by [Keys.Write], decrypting them with kek.
func ReadKeys(r io.Reader, kek tink.AEAD) (*Keys, error) {
	var f keysFile
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("read keys: not a sandgate keys file: %w", err)
	}
	if f.Format != keysFormat {
		return nil, fmt.Errorf("read keys: format %q, want %q", truncate(f.Format, 40), keysFormat)
	}
	tok, err := decryptKeyset(f.Token, kek, adToken)
	if err != nil {
		return nil, fmt.Errorf("read token keyset: %w", err)
	}
	ps, err := decryptKeyset(f.Pseudonym, kek, adPseudonym)
	if err != nil {
		return nil, fmt.Errorf("read pseudonym keyset: %w", err)
	}
	return &Keys{token: tok, pseudonym: ps}, nil
}

func decryptKeyset(s string, kek tink.AEAD, ad []byte) (*keyset.Handle, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(raw)), kek, ad)
	if err != nil {
		return nil, fmt.Errorf("decrypt (wrong key-encryption key?): %w", err)
	}
	return h, nil
}

// LoadKeys reads the keys file at path.
func LoadKeys(path string, kek tink.AEAD) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	defer f.Close()
	k, err := ReadKeys(f, kek)
	if err != nil {
		return nil, fmt.Errorf("load keys %s: %w", path, err)
	}
	return k, nil
}

// SaveKeys writes the keys to path atomically (temporary file, rename),
// readable by the owner only.
func (k *Keys) SaveKeys(path string, kek tink.AEAD) error {
	var buf bytes.Buffer
	if err := k.Write(&buf, kek); err != nil {
		return fmt.Errorf("save keys %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
