package pseudonymise

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// cache is a bounded map from (transform, scope, input) to output, sharded
// to keep lock hold times short. When a shard is over its share of the
// memory cap it evicts entries at random (Go's map iteration order), which
// needs no bookkeeping on the hit path.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const (
	cacheShards = 32
	// entryOverhead approximates the bytes an entry costs beyond its data:
	// the entry struct, the map slot and slice headers.
	entryOverhead = 128
)

type cacheShard struct {
	mu    sync.Mutex
	m     map[uint64]cacheEntry
	bytes int64
	limit int64
	_     [40]byte // keep shards on separate cache lines
}

// cacheEntry is stored by value: one allocation (buf) per entry.
type cacheEntry struct {
	tid   uint64
	scope scopeKey
	buf   []byte // input then output
	inLen int
}

func (e *cacheEntry) in() []byte  { return e.buf[:e.inLen] }
func (e *cacheEntry) out() []byte { return e.buf[e.inLen:] }

func newCache(limit int64) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max(limit/cacheShards, 1)
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
		c.shards[i].limit = per
	}
	return c
}

func (c *cache) hash(tid uint64, sk scopeKey, in []byte) uint64 {
	h := maphash.Bytes(c.seed, in)
	h ^= maphash.String(c.seed, sk.name) * 0x9e3779b97f4a7c15
	h ^= (tid << 1) | boolBit(sk.link)
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// get appends the cached output for (tid, sk, in) to dst.
func (c *cache) get(dst []byte, tid uint64, sk scopeKey, in []byte) ([]byte, uint64, bool) {
	h := c.hash(tid, sk, in)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	e, ok := s.m[h]
	if ok && e.tid == tid && e.scope == sk && bytes.Equal(e.in(), in) {
		dst = append(dst, e.out()...)
		s.mu.Unlock()
		return dst, h, true
	}
	s.mu.Unlock()
	return dst, h, false
}

// put stores out for the key hashed to h. It copies in and out.
func (c *cache) put(h, tid uint64, sk scopeKey, in, out []byte) {
	size := int64(len(in)+len(out)+len(sk.name)) + entryOverhead
	s := &c.shards[h%cacheShards]
	if size > s.limit {
		return
	}
	buf := make([]byte, len(in)+len(out))
	copy(buf, in)
	copy(buf[len(in):], out)
	e := cacheEntry{tid: tid, scope: sk, buf: buf, inLen: len(in)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[h]; ok {
		s.bytes -= old.size()
		delete(s.m, h)
	}
	for s.bytes+size > s.limit && len(s.m) > 0 {
		for k, v := range s.m {
			s.bytes -= v.size()
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
	s.bytes += size
}

func (e *cacheEntry) size() int64 {
	return int64(len(e.buf)+len(e.scope.name)) + entryOverhead
}

// len reports the number of entries and their accounted bytes.
func (c *cache) len() (n int, b int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		b += s.bytes
		s.mu.Unlock()
	}
	return n, b
}

// cached wraps the common pattern of the keyed transforms: look up, else
// compute into dst and remember. compute must append to dst.
func (e *Engine) cached(dst []byte, tid uint64, sk scopeKey, in []byte,
	compute func(dst []byte) ([]byte, error)) ([]byte, error) {
	if e.cache == nil {
		return compute(dst)
	}
	out, h, ok := e.cache.get(dst, tid, sk, in)
	if ok {
		return out, nil
	}
	n := len(dst)
	out, err := compute(dst)
	if err != nil {
		return dst, err
	}
	e.cache.put(h, tid, sk, in, out[n:])
	return out, nil
}
