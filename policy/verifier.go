package policy

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Verifier is a SCRAM-SHA-256 password verifier (RFC 5802, RFC 7677) in the
// form PostgreSQL stores in pg_authid:
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// It lets the gateway check a password proof without knowing the password.
type Verifier struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// DefaultIterations matches PostgreSQL's scram_iterations default.
const DefaultIterations = 4096

// ParseVerifier parses PostgreSQL's SCRAM-SHA-256 verifier format.
func ParseVerifier(s string) (*Verifier, error) {
	if s == "" {
		return nil, errors.New("password_verifier is missing")
	}
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return nil, errors.New("password_verifier must start with SCRAM-SHA-256$")
	}
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, errors.New("password_verifier is not SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	iterStr, saltStr, ok1 := strings.Cut(iterSalt, ":")
	storedStr, serverStr, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return nil, errors.New("password_verifier is not SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	v := &Verifier{}
	var err error
	if v.Iterations, err = strconv.Atoi(iterStr); err != nil || v.Iterations < 1 {
		return nil, errors.New("password_verifier has an invalid iteration count")
	}
	dec := base64.StdEncoding
	if v.Salt, err = dec.DecodeString(saltStr); err != nil || len(v.Salt) == 0 {
		return nil, errors.New("password_verifier has an invalid salt")
	}
	if v.StoredKey, err = dec.DecodeString(storedStr); err != nil || len(v.StoredKey) != sha256.Size {
		return nil, errors.New("password_verifier has an invalid StoredKey")
	}
	if v.ServerKey, err = dec.DecodeString(serverStr); err != nil || len(v.ServerKey) != sha256.Size {
		return nil, errors.New("password_verifier has an invalid ServerKey")
	}
	return v, nil
}

// NewVerifier derives a verifier from a password with a random salt.
func NewVerifier(password string, iterations int) (*Verifier, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("random salt: %w", err)
	}
	return DeriveVerifier(password, salt, iterations)
}

// DeriveVerifier derives the verifier for password and salt.
func DeriveVerifier(password string, salt []byte, iterations int) (*Verifier, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("derive salted password: %w", err)
	}
	clientKey := hmacSum(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return &Verifier{Iterations: iterations, Salt: salt, StoredKey: stored[:], ServerKey: hmacSum(salted, "Server Key")}, nil
}

func hmacSum(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// String renders the verifier in PostgreSQL's format.
func (v *Verifier) String() string {
	enc := base64.StdEncoding
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", v.Iterations, enc.EncodeToString(v.Salt),
		enc.EncodeToString(v.StoredKey), enc.EncodeToString(v.ServerKey))
}
