package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/telemetry/audit"
)

const keysUsage = `Usage:
  sandgate keys init   -keyset FILE KEK
  sandgate keys rotate -keyset FILE KEK [-pseudonyms]
  sandgate keys info   -keyset FILE KEK
  sandgate keys reveal -keyset FILE KEK -sandbox NAME [-link-group NAME] -domain DOMAIN TOKEN...

KEK (the key-encryption key) is one of:
  -master-key FILE        a local master-key file (development; init creates it if absent)
  -vault-key-uri URI      a Vault Transit key, e.g. hcvault:///transit/keys/sandgate,
                          with -vault-addr (default $VAULT_ADDR) and the token in $VAULT_TOKEN`

// keysCmd manages the deployment's pseudonymisation keys: init, rotate, info
// and reveal.
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprintln(stdout, keysUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, keysUsage) }
	keysetPath := fs.String("keyset", "", "the encrypted keys file")
	masterKey := fs.String("master-key", "", "local master-key file (development)")
	vaultURI := fs.String("vault-key-uri", "", "Vault Transit key URI, hcvault:///MOUNT/keys/NAME")
	vaultAddr := fs.String("vault-addr", os.Getenv("VAULT_ADDR"), "Vault address")
	var pseudonyms *bool
	var sandbox, linkGroup, domain, auditDir, reason *string
	switch sub {
	case "init", "info":
	case "rotate":
		pseudonyms = fs.Bool("pseudonyms", false, "also rotate the pseudonym keyset: every one-way output changes")
	case "reveal":
		sandbox = fs.String("sandbox", "", "the sandbox the token was issued to")
		linkGroup = fs.String("link-group", "", "the link group the token was issued in, if any")
		domain = fs.String("domain", "", "the identifier domain of the token's rule")
		auditDir = fs.String("audit-dir", "", "the gateway's audit log directory: every reveal is recorded there first")
		reason = fs.String("reason", "", "why the token is revealed (e.g. the clinical safety case reference)")
	default:
		return &usageError{msg: fmt.Sprintf("unknown keys command %q", sub), try: "sandgate keys -h"}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{msg: err.Error(), try: "sandgate keys -h"}
	}
	if *keysetPath == "" {
		return &usageError{msg: "keys " + sub + ": -keyset is required", try: "sandgate keys " + sub + " -keyset keys.json -master-key master.json"}
	}
	if sub != "reveal" && fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("keys %s: unexpected argument %q", sub, fs.Arg(0)), try: "sandgate keys -h"}
	}
	if sub == "reveal" && (*sandbox == "" || *domain == "" || fs.NArg() == 0) {
		return &usageError{msg: "keys reveal: -sandbox, -domain and at least one token are required", try: "sandgate keys reveal -keyset keys.json -master-key master.json -sandbox ward_a -domain nhs_number tok_…"}
	}
	if sub == "reveal" && (*auditDir == "" || strings.TrimSpace(*reason) == "") {
		return &usageError{msg: "keys reveal: -audit-dir and -reason are required: every re-identification is audited",
			try: "sandgate keys reveal … -audit-dir /var/lib/sandgate/audit -reason 'CSC-2026-014: duplicate record check' tok_…"}
	}
	kek, err := keysKEK(stderr, sub == "init", *masterKey, *vaultURI, *vaultAddr)
	if err != nil {
		return err
	}
	switch sub {
	case "init":
		return keysInit(stdout, *keysetPath, kek)
	case "rotate":
		return keysRotate(stdout, stderr, *keysetPath, kek, *pseudonyms)
	case "info":
		return keysInfo(stdout, *keysetPath, kek)
	}
	log, err := audit.Open(audit.Config{Dir: *auditDir, Durability: audit.SyncEach})
	if err != nil {
		return fmt.Errorf("open audit log (nothing was revealed): %w", err)
	}
	defer log.Close()
	r := revealer{log: log, reason: *reason}
	return r.reveal(ctx, stdout, stderr, *keysetPath, kek,
		pseudonymise.Context{Sandbox: *sandbox, LinkGroup: *linkGroup}, *domain, fs.Args())
}

// keysKEK opens the key-encryption key named by the flags.
func keysKEK(stderr io.Writer, create bool, masterKey, vaultURI, vaultAddr string) (tink.AEAD, error) {
	switch {
	case masterKey != "" && vaultURI != "":
		return nil, &usageError{msg: "give either -master-key or -vault-key-uri, not both", try: "sandgate keys -h"}
	case masterKey != "":
		if _, err := os.Stat(masterKey); create && errors.Is(err, os.ErrNotExist) {
			if err := pseudonymise.NewLocalMasterKey(masterKey); err != nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "created development master key %s (use Vault in production)\n", masterKey)
		}
		return pseudonymise.LocalMasterKey(masterKey)
	case vaultURI != "":
		token := os.Getenv("VAULT_TOKEN")
		if token == "" {
			return nil, &usageError{msg: "VAULT_TOKEN is not set", try: "export VAULT_TOKEN=… (a token allowed to encrypt and decrypt with the Transit key)"}
		}
		if vaultAddr == "" {
			return nil, &usageError{msg: "no Vault address", try: "-vault-addr https://vault.example:8200 or export VAULT_ADDR"}
		}
		cfg := api.DefaultConfig()
		if cfg.Error != nil {
			return nil, fmt.Errorf("vault config: %w", cfg.Error)
		}
		cfg.Address = vaultAddr
		client, err := api.NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("vault client: %w", err)
		}
		client.SetToken(token)
		return pseudonymise.VaultMasterKey(client, vaultURI)
	}
	return nil, &usageError{msg: "no key-encryption key", try: "-master-key FILE (development) or -vault-key-uri hcvault:///transit/keys/NAME"}
}

func keysInit(stdout io.Writer, path string, kek tink.AEAD) error {
	if _, err := os.Stat(path); err == nil {
		return &usageError{msg: fmt.Sprintf("keys init: %s already exists", path), try: "sandgate keys rotate, or choose another -keyset path"}
	}
	keys, err := pseudonymise.NewKeys()
	if err != nil {
		return err
	}
	if err := keys.SaveKeys(path, kek); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote new keys to %s\n", path)
	return printInfo(stdout, keys.Info())
}

func keysRotate(stdout, stderr io.Writer, path string, kek tink.AEAD, pseudonyms bool) error {
	keys, err := pseudonymise.LoadKeys(path, kek)
	if err != nil {
		return err
	}
	tokenID, psID, err := keys.Rotate(pseudonymise.RotateOptions{Pseudonyms: pseudonyms})
	if err != nil {
		return err
	}
	if err := keys.SaveKeys(path, kek); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token keyset: new primary key %d; earlier tokens stay revealable\n", tokenID)
	if pseudonyms {
		fmt.Fprintf(stdout, "pseudonym keyset: new primary key %d\n", psID)
		fmt.Fprintln(stderr, "warning: pseudonyms, nhs_number, digits, date shifts and synthetic values change from the next start, with no link to earlier ones")
	}
	return printInfo(stdout, keys.Info())
}

func keysInfo(stdout io.Writer, path string, kek tink.AEAD) error {
	keys, err := pseudonymise.LoadKeys(path, kek)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keys file %s\n", path)
	return printInfo(stdout, keys.Info())
}

func printInfo(w io.Writer, info pseudonymise.Info) error {
	for _, set := range []struct {
		name string
		keys []pseudonymise.KeyInfo
	}{{"token", info.Token}, {"pseudonym", info.Pseudonym}} {
		fmt.Fprintf(w, "%s keyset:\n", set.name)
		for _, k := range set.keys {
			primary := ""
			if k.Primary {
				primary = " primary"
			}
			typ := k.Type[strings.LastIndex(k.Type, ".")+1:]
			if _, err := fmt.Fprintf(w, "  key %d %s %s%s\n", k.ID, typ, k.Status, primary); err != nil {
				return err
			}
		}
	}
	return nil
}

// revealer re-identifies tokens, auditing each attempt durably before any
// value is printed.
type revealer struct {
	log    *audit.Log
	reason string
}

func (r revealer) record(ctx context.Context, c pseudonymise.Context, domain string, err error) error {
	who := os.Getenv("SUDO_USER")
	if who == "" {
		who = os.Getenv("USER")
	}
	rec := audit.Record{Kind: audit.KindKeysReveal, Sandbox: c.Sandbox, User: who, Decision: audit.Allow,
		Rules: []string{"domain=" + domain, "reason=" + truncateRunes(r.reason, 200)}}
	if err != nil {
		rec.Decision, rec.ErrorClass = audit.Deny, "reveal_failed"
	}
	if aerr := r.log.Append(ctx, rec); aerr != nil {
		return fmt.Errorf("audit the reveal (nothing was revealed): %w", aerr)
	}
	return nil
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func (r revealer) reveal(ctx context.Context, stdout, stderr io.Writer, path string, kek tink.AEAD, c pseudonymise.Context, domain string, tokens []string) error {
	keys, err := pseudonymise.LoadKeys(path, kek)
	if err != nil {
		return err
	}
	e, err := pseudonymise.New(pseudonymise.Config{Keys: keys, CacheBytes: -1})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "revealing %d token(s) for sandbox %s, domain %s; each is recorded in the audit log\n", len(tokens), c.Sandbox, domain)
	for i, tok := range tokens {
		v, err := e.Reveal(c, domain, []byte(tok))
		if aerr := r.record(ctx, c, domain, err); aerr != nil {
			return aerr
		}
		if err != nil {
			return fmt.Errorf("token %d: %w", i+1, err)
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", v); err != nil {
			return err
		}
	}
	return nil
}
