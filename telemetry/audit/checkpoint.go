package audit

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// checkpointDomain separates checkpoint signatures from any other use of
// the key.
const checkpointDomain = "sandgate-audit-checkpoint/v1"

// Signer signs checkpoints with the primary key of a Tink ED25519 keyset.
type Signer struct {
	s     tink.Signer
	keyID uint32
}

// NewSigner returns a Signer for a private signature keyset handle.
func NewSigner(h *keyset.Handle) (*Signer, error) {
	s, err := signature.NewSigner(h)
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	p, err := h.Primary()
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	return &Signer{s: s, keyID: p.KeyID()}, nil
}

// checkpointData is what a checkpoint's signature covers: its sequence
// number, time and the hash of the record before it.
func checkpointData(seq uint64, t time.Time, prev string) []byte {
	b := make([]byte, 0, 128)
	b = append(b, checkpointDomain...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\n')
	return append(b, prev...)
}

// checkpointDue says (l.mu held) whether a checkpoint should follow now.
func (l *Log) checkpointDue(now time.Time) bool {
	return l.sinceCkpt >= l.cfg.CheckpointEvery ||
		(l.sinceCkpt > 0 && now.Sub(l.lastCkpt) >= l.cfg.CheckpointInterval)
}

// checkpoint chains a signed checkpoint record (l.mu held).
func (l *Log) checkpoint(now time.Time) error {
	now = now.UTC()
	seq := l.seq + 1
	sig, err := l.cfg.Signer.s.Sign(checkpointData(seq, now, string(l.prev[:])))
	if err != nil {
		return fmt.Errorf("sign audit checkpoint: %w", err)
	}
	r := Record{Time: now, Kind: KindCheckpoint, KeyID: l.cfg.Signer.keyID,
		Sig: base64.StdEncoding.EncodeToString(sig)}
	l.chain(r.appendBody(nil))
	l.sinceCkpt, l.lastCkpt = 0, now
	return nil
}

// NewSigningKey returns a fresh ED25519 signing keyset, written to w
// encrypted under kek (a key-encryption AEAD such as
// pseudonymise.LocalMasterKey returns), the way pseudonymise stores its
// keysets.
func NewSigningKey(w io.Writer, kek tink.AEAD) (*keyset.Handle, error) {
	h, err := keyset.NewHandle(signature.ED25519KeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("new audit signing key: %w", err)
	}
	if err := h.WriteWithAssociatedData(keyset.NewJSONWriter(w), kek, signingAD); err != nil {
		return nil, fmt.Errorf("write audit signing key: %w", err)
	}
	return h, nil
}

// signingAD binds the encrypted keyset to its role.
var signingAD = []byte("sandgate/audit/v1/signing")

// LoadSigner reads a signing keyset written by NewSigningKey.
func LoadSigner(r io.Reader, kek tink.AEAD) (*Signer, error) {
	h, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(r), kek, signingAD)
	if err != nil {
		return nil, fmt.Errorf("read audit signing key (wrong key-encryption key?): %w", err)
	}
	return NewSigner(h)
}

// WritePublicKey writes the public half of a signing keyset, in the clear,
// for verifiers.
func WritePublicKey(w io.Writer, private *keyset.Handle) error {
	pub, err := private.Public()
	if err != nil {
		return fmt.Errorf("audit public key: %w", err)
	}
	if err := pub.WriteWithNoSecrets(keyset.NewJSONWriter(w)); err != nil {
		return fmt.Errorf("write audit public key: %w", err)
	}
	return nil
}

// ReadPublicKey reads a public keyset written by WritePublicKey and returns
// a verifier for checkpoints.
func ReadPublicKey(r io.Reader) (tink.Verifier, error) {
	h, err := keyset.ReadWithNoSecrets(keyset.NewJSONReader(r))
	if err != nil {
		return nil, fmt.Errorf("read audit public key: %w", err)
	}
	v, err := signature.NewVerifier(h)
	if err != nil {
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	return v, nil
}
