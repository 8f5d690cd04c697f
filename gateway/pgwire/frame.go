package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// frameReader reads typed protocol messages (type byte, int32 length, body)
// without decoding them, so the relay can forward most messages as raw bytes.
type frameReader struct {
	br  *bufio.Reader
	max int    // largest body accepted
	big []byte // holds bodies larger than the bufio buffer
}

// readers and outBufs recycle per-session buffers: a prototype that opens a
// connection per request would otherwise churn ~50 KiB of garbage each time.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}
	outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
)

func newFrameReader(r io.Reader, max int) *frameReader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &frameReader{br: br, max: max}
}

// release returns the reader's buffer to the pool; f is unusable after.
func (f *frameReader) release() {
	f.br.Reset(nil)
	readers.Put(f.br)
	f.br, f.big = nil, nil
}

func getOutBuf() []byte { return (*outBufs.Get().(*[]byte))[:0] }

func putOutBuf(b []byte) {
	if cap(b) > 256<<10 {
		return // let an outsized buffer go
	}
	outBufs.Put(&b)
}

// errTooLarge and errBadLength are protocol violations by the peer.
var (
	errTooLarge  = errors.New("message exceeds the maximum size")
	errBadLength = errors.New("message length is invalid")
)

// next returns the next message. body is valid until the following call.
func (f *frameReader) next() (typ byte, body []byte, err error) {
	hdr, err := f.br.Peek(5)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	typ = hdr[0]
	n := int(int32(binary.BigEndian.Uint32(hdr[1:5]))) - 4
	if n < 0 {
		return typ, nil, fmt.Errorf("%w: %d", errBadLength, n+4)
	}
	if n > f.max {
		return typ, nil, fmt.Errorf("%w: %c message of %d bytes, limit %d", errTooLarge, typ, n, f.max)
	}
	f.br.Discard(5)
	if n <= f.br.Size() {
		body, err = f.br.Peek(n)
		if err != nil {
			return typ, nil, unexpectedEOF(err)
		}
		f.br.Discard(n)
		return typ, body, nil
	}
	if cap(f.big) < n {
		f.big = make([]byte, n)
	}
	body = f.big[:n]
	if _, err := io.ReadFull(f.br, body); err != nil {
		return typ, nil, unexpectedEOF(err)
	}
	if n > 1<<20 {
		f.big = nil // do not pin a huge buffer for the session's lifetime
	}
	return typ, body, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// buffered reports whether a next message may be read without blocking.
func (f *frameReader) buffered() int { return f.br.Buffered() }

// appendMsg appends a framed message to dst.
func appendMsg(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(body)+4))
	return append(dst, body...)
}

// beginMsg starts a message whose body the caller appends; finishMsg sets
// its length.
func beginMsg(dst []byte, typ byte) ([]byte, int) {
	start := len(dst)
	return append(dst, typ, 0, 0, 0, 0), start
}

func finishMsg(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst
}
