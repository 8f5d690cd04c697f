package pseudonymise

import (
	"bytes"
	"testing"

	"github.com/sandgate/sandgate/pseudonymise/vaulttest"
)

// TestVaultMasterKey stores keys under a Vault Transit key of a real dev
// server and reads them back. It fails when CI=true and no vault binary is
// available; see tools/vault/build.sh.
func TestVaultMasterKey(t *testing.T) {
	v := vaulttest.Start(t)
	kek, err := VaultMasterKey(v.Client, v.KeyURI)
	if err != nil {
		t.Fatal(err)
	}
	keys := newTestKeys(t)
	var buf bytes.Buffer
	if err := keys.Write(&buf, kek); err != nil {
		t.Fatalf("write keys under vault: %v", err)
	}
	loaded, err := ReadKeys(bytes.NewReader(buf.Bytes()), kek)
	if err != nil {
		t.Fatalf("read keys under vault: %v", err)
	}
	tok := apply(t, mustBuild(t, newTestEngine(t, Config{Keys: keys}), Spec{Name: NameToken, Domain: "d"}), ctxA, "v")
	if got, err := newTestEngine(t, Config{Keys: loaded}).Reveal(ctxA, "d", []byte(tok)); err != nil || string(got) != "v" {
		t.Fatalf("reveal with keys from vault: got %q, %v", got, err)
	}

	// Another Transit key cannot unwrap them.
	if _, err := v.Client.Logical().Write("transit/keys/other", nil); err != nil {
		t.Fatal(err)
	}
	other, err := VaultMasterKey(v.Client, "hcvault:///transit/keys/other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeys(bytes.NewReader(buf.Bytes()), other); err == nil {
		t.Errorf("read keys with another transit key")
	}
	// A key that does not exist fails cleanly.
	missing, err := VaultMasterKey(v.Client, "hcvault:///transit/keys/missing")
	if err == nil {
		if _, err := ReadKeys(bytes.NewReader(buf.Bytes()), missing); err == nil {
			t.Errorf("read keys with a missing transit key")
		}
	}
	if _, err := VaultMasterKey(v.Client, "https://vault/transit"); err == nil {
		t.Errorf("accepted a key URI without the hcvault scheme")
	}
}
