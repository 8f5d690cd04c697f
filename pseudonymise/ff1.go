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
	tweak []byte
	pool  sync.Pool // *ff1Scratch
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
	buf [256]byte
	mac [16]byte
}

func newFF1(key, tweak []byte) (*ff1, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(tweak) > 128 {
		return nil, errors.New("ff1: tweak longer than 128 bytes")
	}
	f := &ff1{block: block, tweak: append([]byte(nil), tweak...)}
	f.pool.New = func() any { return new(ff1Scratch) }
	return f, nil
}

// encrypt enciphers the n-digit numeral string whose value is x.
func (f *ff1) encrypt(x uint64, n int) uint64 { return f.crypt(x, n, false) }

// decrypt inverts encrypt.
func (f *ff1) decrypt(x uint64, n int) uint64 { return f.crypt(x, n, true) }

func (f *ff1) crypt(x uint64, n int, dec bool) uint64 {
	u := n / 2
	v := n - u
	b := int(math.Ceil(math.Ceil(float64(v)*math.Log2(10)) / 8))
	t := len(f.tweak)
	pad := ((-t-b-1)%16 + 16) % 16
	qlen := t + pad + 1 + b

	s := f.pool.Get().(*ff1Scratch)
	// P || Q with Q's round number and NUM(B) filled in per round.
	buf := s.buf[:16+qlen]
	buf[0], buf[1], buf[2] = 1, 2, 1
	buf[3], buf[4], buf[5] = 0, 0, 10 // radix, 3 bytes
	buf[6] = 10
	buf[7] = byte(u)
	binary.BigEndian.PutUint32(buf[8:], uint32(n))
	binary.BigEndian.PutUint32(buf[12:], uint32(t))
	copy(buf[16:], f.tweak)
	clear(buf[16+t : 16+t+pad])

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
		buf[16+t+pad] = byte(i)
		putNum(buf[16+t+pad+1:], num, b)
		y := f.prf(s, buf)
		mod := pow10[m]
		y %= mod
		if !dec {
			c := (a + y) % mod
			a, bb = bb, c
		} else {
			c := (bb + mod - y) % mod
			bb, a = a, c
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

// prf is the CBC-MAC of msg (a multiple of 16 bytes) under AES with a zero
// IV, and returns the first 8 bytes of it as NUM(S): for n <= 18 digits,
// d = 4*ceil(b/4)+4 = 8, so S is R's first 8 bytes.
func (f *ff1) prf(s *ff1Scratch, msg []byte) uint64 {
	mac := s.mac[:]
	clear(mac)
	for off := 0; off < len(msg); off += 16 {
		for j := range 16 {
			mac[j] ^= msg[off+j]
		}
		f.block.Encrypt(mac, mac)
	}
	return binary.BigEndian.Uint64(mac[:8])
}
