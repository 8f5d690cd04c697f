package pgwire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/sandgate/sandgate/policy"
)

// scramServer runs the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677)
// against a stored verifier, the way PostgreSQL does: no channel binding
// (the mechanism offered is SCRAM-SHA-256, not -PLUS), the user name inside
// the SCRAM message ignored in favour of the startup packet's.
type scramServer struct {
	v               *policy.Verifier
	clientFirstBare string
	serverFirst     string
	nonce           string
}

const scramMechanism = "SCRAM-SHA-256"

// errAuth is a failed authentication; its text is what the client sees.
var errAuth = errors.New("password authentication failed")

// first takes the client-first-message and returns the server-first-message.
func (s *scramServer) first(msg []byte) (string, error) {
	m := string(msg)
	// gs2-header: "n,," or "y,," (client supports channel binding, we do not
	// offer it); "p=" asks for binding we did not offer.
	var rest string
	switch {
	case strings.HasPrefix(m, "n,"), strings.HasPrefix(m, "y,"):
		i := strings.IndexByte(m[2:], ',')
		if i < 0 {
			return "", errors.New("malformed SCRAM client-first-message")
		}
		if i > 0 { // authzid is not supported
			return "", errors.New("SCRAM authorization identity is not supported")
		}
		rest = m[3:]
	case strings.HasPrefix(m, "p="):
		return "", errors.New("SCRAM channel binding was not offered")
	default:
		return "", errors.New("malformed SCRAM client-first-message")
	}
	s.clientFirstBare = rest
	attrs := strings.Split(rest, ",")
	var cnonce string
	for _, a := range attrs {
		if v, ok := strings.CutPrefix(a, "r="); ok {
			cnonce = v
		}
	}
	if cnonce == "" || !printable(cnonce) {
		return "", errors.New("malformed SCRAM client nonce")
	}
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("scram nonce: %w", err)
	}
	s.nonce = cnonce + base64.StdEncoding.EncodeToString(raw[:])
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(s.v.Salt), s.v.Iterations)
	return s.serverFirst, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// final checks the client-final-message and returns the server-final-message.
func (s *scramServer) final(msg []byte) (string, error) {
	m := string(msg)
	i := strings.LastIndex(m, ",p=")
	if i < 0 {
		return "", errors.New("malformed SCRAM client-final-message")
	}
	withoutProof, proofB64 := m[:i], m[i+3:]
	var cb, nonce string
	for _, a := range strings.Split(withoutProof, ",") {
		if v, ok := strings.CutPrefix(a, "c="); ok {
			cb = v
		} else if v, ok := strings.CutPrefix(a, "r="); ok {
			nonce = v
		}
	}
	// "biws" is base64("n,,"); "eSws" is base64("y,,").
	if cb != "biws" && cb != "eSws" {
		return "", errors.New("SCRAM channel binding data does not match")
	}
	if nonce != s.nonce {
		return "", errors.New("SCRAM nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return "", errors.New("malformed SCRAM proof")
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	sig := mac(s.v.StoredKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	for i := range clientKey {
		clientKey[i] = proof[i] ^ sig[i]
	}
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], s.v.StoredKey) != 1 {
		return "", errAuth
	}
	return "v=" + base64.StdEncoding.EncodeToString(mac(s.v.ServerKey, authMessage)), nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// decoyVerifier stands in for an unknown user, so that a client cannot tell
// an unknown sandbox from a wrong password. Its salt is keyed by the name so
// repeated attempts see a stable salt.
func decoyVerifier(secret []byte, user string) *policy.Verifier {
	salt := mac(secret, "decoy salt\x00"+user)[:16]
	key := mac(secret, "decoy key\x00"+user)
	return &policy.Verifier{Iterations: policy.DefaultIterations, Salt: salt, StoredKey: key, ServerKey: key}
}
