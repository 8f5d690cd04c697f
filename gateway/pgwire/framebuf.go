package pgwire

import (
	"encoding/binary"
	"fmt"
)

// frameBuf collects the bytes read from a non-blocking socket and yields
// whole protocol messages from them, for the event-loop relay. The bytes of
// a message are valid until the next call to space.
type frameBuf struct {
	buf  []byte
	r, w int // unread bytes are buf[r:w]
	max  int // largest body accepted
	need int // size of the message being assembled, header included
}

// minRead is the least free space offered to one read.
const minRead = 4 << 10

// frameBufSize is the buffer a session starts with, and returns to after a
// large message.
const frameBufSize = 16 << 10

// space returns the free space after the unread bytes, making room first:
// it moves the unread bytes to the front, and grows the buffer to hold a
// message larger than it. The caller reads into it and calls filled.
func (f *frameBuf) space() []byte {
	if f.r == f.w {
		f.r, f.w = 0, 0
		if cap(f.buf) > 1<<20 && f.need == 0 {
			f.buf = nil // do not pin a huge buffer for the session's lifetime
		}
	}
	if f.buf == nil {
		f.buf = make([]byte, frameBufSize)
	}
	if f.need > len(f.buf) {
		grown := make([]byte, max(f.need, 2*len(f.buf)))
		f.w = copy(grown, f.buf[f.r:f.w])
		f.r, f.buf = 0, grown
	} else if f.r > 0 && (len(f.buf)-f.w < minRead || len(f.buf)-f.r < f.need) {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	return f.buf[f.w:]
}

// filled records n bytes read into the slice space returned.
func (f *frameBuf) filled(n int) { f.w += n }

// next returns the next whole message; ok is false when more bytes are
// needed. A length that is negative or over the limit is an error, as in
// frameReader.
func (f *frameBuf) next() (typ byte, body []byte, ok bool, err error) {
	if f.w-f.r < 5 {
		return 0, nil, false, nil
	}
	hdr := f.buf[f.r : f.r+5]
	typ = hdr[0]
	n := int(int32(binary.BigEndian.Uint32(hdr[1:5]))) - 4
	if n < 0 {
		return typ, nil, false, fmt.Errorf("%w: %d", errBadLength, n+4)
	}
	if n > f.max {
		return typ, nil, false, fmt.Errorf("%w: %c message of %d bytes, limit %d", errTooLarge, typ, n, f.max)
	}
	if f.w-f.r < 5+n {
		f.need = 5 + n
		return 0, nil, false, nil
	}
	body = f.buf[f.r+5 : f.r+5+n : f.r+5+n]
	f.r += 5 + n
	f.need = 0
	return typ, body, true, nil
}

// unread puts back the last n bytes next returned, to be returned again.
func (f *frameBuf) unread(n int) { f.r -= n }

// buffered is the number of unread bytes.
func (f *frameBuf) buffered() int { return f.w - f.r }
