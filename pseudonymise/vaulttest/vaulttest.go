// Package vaulttest starts a throwaway HashiCorp Vault dev server on
// loopback for tests of the Vault Transit key-encryption path, with the
// transit engine enabled and one key created.
//
// The binary comes from env SANDGATE_VAULT_BIN, or else from the cache that
// tools/vault/build.sh fills (the same path computed the same way). When
// neither exists the test fails if CI=true and is skipped otherwise. It is
// for tests only: a dev server keeps everything in memory, unsealed, with a
// known root token.
package vaulttest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Server is a running dev server.
type Server struct {
	Addr   string      // http://127.0.0.1:PORT
	Token  string      // the root token
	Client *api.Client // authenticated with Token
	KeyURI string      // hcvault:///transit/keys/sandgate, a fresh Transit key
}

// Binary returns the path of the vault binary, or "" with the reason.
func Binary() (string, string) {
	if p := os.Getenv("SANDGATE_VAULT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("SANDGATE_VAULT_BIN=%s: %v", p, err)
		}
		return p, ""
	}
	sumFile := findSumFile()
	raw, err := os.ReadFile(sumFile)
	if err != nil {
		return "", fmt.Sprintf("no SANDGATE_VAULT_BIN and cannot read tools/vault/go.sum: %v", err)
	}
	sum := sha256.Sum256(raw)
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "sandgate", "vault-"+hex.EncodeToString(sum[:])[:12], "vault")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Sprintf("no SANDGATE_VAULT_BIN and no cached binary at %s; run tools/vault/build.sh (first build ~20 minutes)", p)
	}
	return p, ""
}

// findSumFile locates tools/vault/go.sum from this source file, or else by
// walking up from the working directory (a test runs in its package's
// directory).
func findSumFile() string {
	rel := filepath.Join("tools", "vault", "go.sum")
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "..", "..", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
	}
}

// Start starts a dev server for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, why := Binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("vault dev server: %s", why)
		}
		t.Skipf("vault dev server not available (set CI=true to make this fail): %s", why)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("vault dev server: %v", err)
	}
	tokenBytes := make([]byte, 16)
	rand.Read(tokenBytes)
	s := &Server{
		Addr:   "http://127.0.0.1:" + strconv.Itoa(port),
		Token:  "root-" + hex.EncodeToString(tokenBytes),
		KeyURI: "hcvault:///transit/keys/sandgate",
	}
	home := t.TempDir()
	cmd := exec.Command(bin, "server", "-dev",
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port),
		"-dev-root-token-id="+s.Token)
	// A private HOME keeps the dev server's token helper file out of the
	// user's home directory.
	cmd.Env = append(os.Environ(), "HOME="+home, "VAULT_ADDR="+s.Addr)
	logPath := filepath.Join(home, "vault.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start vault dev server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
	})

	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("vault client: %v", err)
	}
	client.SetToken(s.Token)
	s.Client = client
	if err := waitHealthy(client, exited); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("vault dev server did not come up: %v\n%s", err, tail(log, 2000))
	}
	if err := client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("enable transit: %v", err)
	}
	if _, err := client.Logical().Write("transit/keys/sandgate", nil); err != nil {
		t.Fatalf("create transit key: %v", err)
	}
	return s
}

// waitHealthy polls the health endpoint until the server answers as
// initialised and unsealed, the process exits, or a start-up deadline of
// 60 s (a dev server needs well under one) passes.
func waitHealthy(c *api.Client, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		h, err := c.Sys().HealthWithContext(ctx)
		if err == nil && h.Initialized && !h.Sealed {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("vault exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("not healthy: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
