package pseudonymise

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// NewLocalMasterKey creates a development master-key file at path: a Tink
// AES256-GCM keyset in cleartext JSON, readable by the owner only. It
// refuses to overwrite an existing file. Use Vault in production.
func NewLocalMasterKey(path string) error {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("new master key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("new master key %s: %w", path, err)
	}
	return nil
}

// LocalMasterKey reads a master-key file written by [NewLocalMasterKey] and
// returns it as a key-encryption AEAD. It refuses a file that others can
// read.
func LocalMasterKey(path string) (tink.AEAD, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key %s: readable by group or others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("master key %s: not a Tink keyset: %w", path, err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("master key %s: not an AEAD keyset: %w", path, err)
	}
	return a, nil
}

// VaultMasterKey returns a key-encryption AEAD backed by a Vault Transit key.
// keyURI names it as hcvault://[HOST[:PORT]]/MOUNT/keys/NAME, e.g.
// hcvault:///transit/keys/sandgate; the host part is informative only,
// since client (with its address and token) does the talking. The Transit
// key must not be a derived key.
func VaultMasterKey(client *api.Client, keyURI string) (tink.AEAD, error) {
	if client == nil {
		return nil, errors.New("vault master key: no vault client")
	}
	u, err := url.Parse(keyURI)
	if err != nil || u.Scheme != "hcvault" || !strings.Contains(u.Path, "/keys/") {
		return nil, errors.New("vault master key: key URI must look like hcvault:///transit/keys/NAME")
	}
	kms, err := hcvault.NewClientWithAEADOptions("hcvault://", client.Logical())
	if err != nil {
		return nil, fmt.Errorf("vault master key: %w", err)
	}
	a, err := kms.GetAEAD(keyURI)
	if err != nil {
		return nil, fmt.Errorf("vault master key: %w", err)
	}
	return a, nil
}
