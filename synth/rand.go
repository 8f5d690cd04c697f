package synth

// rng is a splitmix64 generator (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014). It is seeded explicitly for
// every row, so no state is shared between rows, goroutines or machines.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 finaliser: a bijective avalanche of x.
func mix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newRNG returns the generator for row i of the stream identified by key.
func newRNG(seed, key uint64, i int64) rng {
	return rng{s: mix64(mix64(seed^key) + uint64(i)*golden)}
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// intn returns a value in [0, n) by Lemire's multiply-shift; the bias is
// below 2^-32 for the small n used here.
func (r *rng) intn(n int) int {
	return int(((r.next() >> 32) * uint64(n)) >> 32)
}

// per100k reports true with probability p/100 000.
func (r *rng) per100k(p int) bool { return r.intn(100000) < p }

// normal returns an approximately normal integer with the given mean and
// standard deviation (Irwin–Hall sum of four uniforms, so tails stop at
// ±3.46 sd). Integer arithmetic keeps it identical on every architecture.
func (r *rng) normal(mean, sd int) int {
	x := r.next()
	s := int64(x&0xffff) + int64(x>>16&0xffff) + int64(x>>32&0xffff) + int64(x>>48)
	// s has mean 2·65535.5... and sd 65536/√3 ≈ 37837.
	return mean + int((s-131070)*int64(sd)/37837)
}

// clamp limits v to [lo, hi].
func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

// fnv64 is FNV-1a over s; it names streams (tables) without allocating.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// weighted is a cumulative-frequency table for weighted choice: O(1)
// through a direct lookup table when the weights are small, else O(log n).
type weighted[T any] struct {
	items  []T
	cum    []uint32
	total  uint32
	direct []uint8 // direct[x] is the index for draw x, when len(items) ≤ 256
}

func newWeighted[T any](items []T, weight func(T) int) weighted[T] {
	w := weighted[T]{items: items, cum: make([]uint32, len(items))}
	for i, it := range items {
		w.total += uint32(weight(it))
		w.cum[i] = w.total
	}
	if w.total <= 1<<16 && len(items) <= 256 {
		w.direct = make([]uint8, w.total)
		for x := range w.direct {
			w.direct[x] = uint8(w.search(uint32(x)))
		}
	}
	return w
}

// index picks an index with probability proportional to its weight.
func (w *weighted[T]) index(r *rng) int {
	x := r.intn(int(w.total))
	if w.direct != nil {
		return int(w.direct[x])
	}
	return w.search(uint32(x))
}

func (w *weighted[T]) search(x uint32) int {
	lo, hi := 0, len(w.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if w.cum[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (w *weighted[T]) pick(r *rng) T { return w.items[w.index(r)] }
