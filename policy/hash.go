package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// hasher is the interim hash rule: HMAC-SHA256 under a per-sandbox subkey,
// 128 bits kept, hex with an "h_" prefix. Equal inputs give equal outputs
// within a sandbox (joins work); sandboxes cannot link their outputs.
type hasher struct {
	pool sync.Pool
}

const hashPrefix = "h_"

// hashLen is the length of one hashed value.
const hashLen = len(hashPrefix) + 32

func newHasher(master []byte, sandbox string) *hasher {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("sandgate interim hash v1\x00"))
	m.Write([]byte(sandbox))
	sub := m.Sum(nil)
	h := &hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, sub) }
	return h
}

func (h *hasher) Name() string    { return "hash" }
func (h *hasher) Subject() string { return "" }

// Apply appends the pseudonym of in to dst; NULL stays NULL.
func (h *hasher) Apply(dst, in []byte, inNull bool, _ []byte) ([]byte, bool, error) {
	if inNull {
		return dst, true, nil
	}
	return h.sum(dst, in), false, nil
}

// sum appends the pseudonym of src to dst.
func (h *hasher) sum(dst, src []byte) []byte {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(src)
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	h.pool.Put(m)
	dst = append(dst, hashPrefix...)
	return hex.AppendEncode(dst, out[:16])
}
