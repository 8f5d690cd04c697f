package pseudonymise

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"math"
	"sync"
)

// ff1 is NIST SP 800-38G FF1 for radix 10 on numeral strings of 6 to 18
// digits, which fit a uint64; that is all the format-preserving transforms
// need. A numeral string X of n digits is handled as the integer NUM(X).
// The AES block is safe for concurrent use and the scratch buffers are
// pooled, so one ff1 serves all goroutines without allocating.
type ff1 struct {
	block cipher.Block
	// pre holds, per length n, the CBC-MAC state after the constant blocks
	// of P || Q, so that each round costs one AES call.
	pre  [ff1MaxLen + 1]ff1Pre
	pool sync.Pool // *ff1Scratch
}

// ff1Pre is the per-length precomputation: u, v, b, the MAC state after all
// but the last block of P || Q, and the constant start of the last block.
type ff1Pre struct {
	u, v, b int
	mac     [16]byte
	last    [16]byte
}

const (
	ff1MinLen = 6 // radix^minlen >= 1,000,000 (SP 800-38G §5.2)
	ff1MaxLen = 18
	ff1Rounds = 10
)

var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

type ff1Scratch struct {
	blk [16]byte
}

func newFF1(key, tweak []byte) (*ff1, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(tweak) > 128 {
		return nil, errors.New("ff1: tweak longer than 128 bytes")
	}
	f := &ff1{block: block}
	f.pool.New = func() any { return new(ff1Scratch) }
	t := len(tweak)
	for n := ff1MinLen; n <= ff1MaxLen; n++ {
		p := &f.pre[n]
		p.u = n / 2
		p.v = n - p.u
		p.b = int(math.Ceil(math.Ceil(float64(p.v)*math.Log2(10)) / 8))
		pad := ((-t-p.b-1)%16 + 16) % 16
		// P || T || 0^pad; the round number and NUM(B) follow per round.
		msg := make([]byte, 16, 16+t+pad+1+p.b)
		msg[0], msg[1], msg[2] = 1, 2, 1
		msg[3], msg[4], msg[5] = 0, 0, 10 // radix, 3 bytes
		msg[6] = 10
		msg[7] = byte(p.u)
		binary.BigEndian.PutUint32(msg[8:], uint32(n))
		binary.BigEndian.PutUint32(msg[12:], uint32(t))
		msg = append(msg, tweak...)
		msg = append(msg, make([]byte, pad+1+p.b)...)
		lastAt := len(msg) - 16
		for off := 0; off < lastAt; off += 16 {
			subtleXOR(p.mac[:], msg[off:off+16])
			block.Encrypt(p.mac[:], p.mac[:])
		}
		copy(p.last[:], msg[lastAt:])
	}
	return f, nil
}

func subtleXOR(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// encrypt enciphers the n-digit numeral string whose value is x.
func (f *ff1) encrypt(x uint64, n int) uint64 { return f.crypt(x, n, false) }

// decrypt inverts encrypt.
func (f *ff1) decrypt(x uint64, n int) uint64 { return f.crypt(x, n, true) }

func (f *ff1) crypt(x uint64, n int, dec bool) uint64 {
	p := &f.pre[n]
	u, v, b := p.u, p.v, p.b
	s := f.pool.Get().(*ff1Scratch)
	blk := s.blk[:]
	a, bb := x/pow10[v], x%pow10[v]
	for r := 0; r < ff1Rounds; r++ {
		i := r
		if dec {
			i = ff1Rounds - 1 - r
		}
		// In decryption the roles of A and B swap: round i sees B = A.
		num, m := bb, u
		if dec {
			num = a
		}
		if i%2 == 1 {
			m = v
		}
		// Q's last block: its constant start, [i]^1, [NUM(B)]^b; then the
		// last CBC-MAC step. R's first d = 8 bytes are NUM(S) (d = 8 for
		// every n <= 18).
		copy(blk, p.last[:])
		blk[15-b] = byte(i)
		putNum(blk[16-b:], num, b)
		subtleXOR(blk, p.mac[:])
		f.block.Encrypt(blk, blk)
		mod := pow10[m]
		y := binary.BigEndian.Uint64(blk[:8]) % mod
		if !dec {
			a, bb = bb, (a+y)%mod
		} else {
			bb, a = a, (bb+mod-y)%mod
		}
	}
	f.pool.Put(s)
	return a*pow10[v] + bb
}

// putNum writes x big-endian into dst[:b].
func putNum(dst []byte, x uint64, b int) {
	for i := b - 1; i >= 0; i-- {
		dst[i] = byte(x)
		x >>= 8
	}
}
