package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameReader reads typed protocol messages (type byte, int32 length, body)
// without decoding them, so the relay can forward most messages as raw bytes.
type frameReader struct {
	br  *bufio.Reader
	max int    // largest body accepted
	big []byte // holds bodies larger than the bufio buffer
}

func newFrameReader(r io.Reader, size, max int) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, size), max: max}
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
