package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/pseudonymise/vaulttest"
	"github.com/sandgate/sandgate/telemetry/audit"
)

func runKeys(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := keysCmd(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// issueToken makes a token with the keys in path, as the gateway would.
func issueToken(t *testing.T, path string, kek tink.AEAD, c pseudonymise.Context, domain, value string) string {
	t.Helper()
	keys, err := pseudonymise.LoadKeys(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	e, err := pseudonymise.New(pseudonymise.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := e.Build(pseudonymise.Spec{Name: "token", Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := tr.Apply(nil, &c, []byte(value), false)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestKeysLocalMasterKey(t *testing.T) {
	dir := t.TempDir()
	ks, mk := filepath.Join(dir, "keys.json"), filepath.Join(dir, "master.json")
	kekFlags := []string{"-keyset", ks, "-master-key", mk}

	out, errOut, err := runKeys(t, append([]string{"init"}, kekFlags...)...)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if !strings.Contains(errOut, "created development master key") || !strings.Contains(out, "token keyset:") || strings.Count(out, " primary") != 2 {
		t.Errorf("init output:\n%s\n%s", out, errOut)
	}
	if _, _, err := runKeys(t, append([]string{"init"}, kekFlags...)...); err == nil {
		t.Errorf("second init overwrote the keys file")
	}
	kek, err := pseudonymise.LocalMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	ctxA := pseudonymise.Context{Sandbox: "ward_a"}
	oldTok := issueToken(t, ks, kek, ctxA, "nhs_number", "9434765919")

	out, _, err = runKeys(t, append([]string{"rotate"}, kekFlags...)...)
	if err != nil || !strings.Contains(out, "earlier tokens stay revealable") {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	newTok := issueToken(t, ks, kek, ctxA, "nhs_number", "9434765919")
	if newTok == oldTok {
		t.Errorf("rotation did not change the token")
	}

	out, _, err = runKeys(t, append([]string{"info"}, kekFlags...)...)
	if err != nil || strings.Count(out, "AesSivKey") != 2 || strings.Count(out, "HmacPrfKey") != 1 {
		t.Errorf("info after rotate: %v\n%s", err, out)
	}

	auditDir := t.TempDir()
	revealFlags := append([]string{"reveal", "-audit-dir", auditDir, "-reason", "CSC-1 duplicate check"}, kekFlags...)
	if _, _, err := runKeys(t, append(append([]string{"reveal"}, kekFlags...), "-sandbox", "ward_a", "-domain", "nhs_number", oldTok)...); err == nil {
		t.Errorf("reveal without -audit-dir and -reason: got no error")
	}
	out, errOut, err = runKeys(t, append(revealFlags, "-sandbox", "ward_a", "-domain", "nhs_number", oldTok, newTok)...)
	if err != nil || out != "9434765919\n9434765919\n" {
		t.Errorf("reveal: got %q, %v (%s)", out, err, errOut)
	}
	_, _, err = runKeys(t, append(revealFlags, "-sandbox", "ward_b", "-domain", "nhs_number", oldTok)...)
	if !errors.Is(err, pseudonymise.ErrReveal) {
		t.Errorf("reveal in another sandbox: got %v, want ErrReveal", err)
	}
	_, _, err = runKeys(t, append(revealFlags, "-sandbox", "ward_a", "-link-group", "g", "-domain", "nhs_number", oldTok)...)
	if !errors.Is(err, pseudonymise.ErrReveal) {
		t.Errorf("reveal in a link group: got %v, want ErrReveal", err)
	}
	// Every attempt is in the audit log, and no revealed value is.
	files, _ := audit.Files(auditDir, "")
	var allowed, denied int
	err = audit.ReadFiles(files, func(_ string, _ int, r audit.Record) error {
		if r.Kind == audit.KindKeysReveal && r.Decision == audit.Allow {
			allowed++
		} else if r.Kind == audit.KindKeysReveal {
			denied++
		}
		return nil
	})
	if err != nil || allowed != 2 || denied != 2 {
		t.Errorf("audit of reveals: %d allowed, %d denied (%v); want 2 and 2", allowed, denied, err)
	}
	if b := readAll(t, files); bytes.Contains(b, []byte("9434765919")) || !bytes.Contains(b, []byte("CSC-1 duplicate check")) {
		t.Errorf("audit log of reveals:\n%s", b)
	}

	out, errOut, err = runKeys(t, append([]string{"rotate", "-pseudonyms"}, kekFlags...)...)
	if err != nil || !strings.Contains(errOut, "warning:") || strings.Count(out, "HmacPrfKey") != 2 {
		t.Errorf("rotate -pseudonyms: %v\n%s%s", err, out, errOut)
	}
}

func TestKeysUsageErrors(t *testing.T) {
	dir := t.TempDir()
	mk := filepath.Join(dir, "master.json")
	for _, args := range [][]string{
		{"frobnicate"},
		{"info"},
		{"info", "-keyset", filepath.Join(dir, "k.json")},
		{"info", "-keyset", "k", "-master-key", mk, "-vault-key-uri", "hcvault:///transit/keys/x"},
		{"info", "-keyset", "k", "-nope"},
		{"reveal", "-keyset", "k", "-master-key", mk},
	} {
		_, _, err := runKeys(t, args...)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
	t.Setenv("VAULT_TOKEN", "")
	_, _, err := runKeys(t, "info", "-keyset", "k", "-vault-key-uri", "hcvault:///transit/keys/x", "-vault-addr", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") {
		t.Errorf("no VAULT_TOKEN: got %v", err)
	}
	if out, _, err := runKeys(t, "-h"); err != nil || !strings.Contains(out, "keys reveal") {
		t.Errorf("help: %v %q", err, out)
	}
}

func TestKeysVault(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("VAULT_TOKEN", v.Token)
	ks := filepath.Join(t.TempDir(), "keys.json")
	kekFlags := []string{"-keyset", ks, "-vault-key-uri", v.KeyURI, "-vault-addr", v.Addr}
	if _, _, err := runKeys(t, append([]string{"init"}, kekFlags...)...); err != nil {
		t.Fatalf("init with vault: %v", err)
	}
	kek, err := pseudonymise.VaultMasterKey(v.Client, v.KeyURI)
	if err != nil {
		t.Fatal(err)
	}
	tok := issueToken(t, ks, kek, pseudonymise.Context{Sandbox: "s"}, "mrn", "MRN1")
	out, _, err := runKeys(t, append(append([]string{"reveal", "-audit-dir", t.TempDir(), "-reason", "test"}, kekFlags...), "-sandbox", "s", "-domain", "mrn", tok)...)
	if err != nil || out != "MRN1\n" {
		t.Errorf("reveal with vault: got %q, %v", out, err)
	}
	t.Setenv("VAULT_TOKEN", "wrong")
	if _, _, err := runKeys(t, append([]string{"info"}, kekFlags...)...); err == nil {
		t.Errorf("info with a wrong vault token: got no error")
	}
}
