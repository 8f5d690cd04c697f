package pgwire

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"testing"
)

// FuzzFrameBuf feeds a byte stream to the event loop's frameBuf in the
// chunks a socket might deliver, and checks it yields exactly the messages
// (or the error) the goroutine relay's frameReader yields from the same
// bytes: the two relays must agree on what a client or server sent.
func FuzzFrameBuf(f *testing.F) {
	f.Add(appendMsg(appendMsg(nil, 'Q', []byte("select 1\x00")), 'X', nil), []byte{3, 1, 7})
	f.Add(appendMsg(nil, 'D', bytes.Repeat([]byte{'x'}, 40000)), []byte{255, 16, 1})
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xf0}, []byte{1})
	f.Add([]byte{'Q', 0, 0, 0x10, 0x05, 1, 2}, []byte{2})
	f.Add([]byte{'Q', 0, 0}, []byte{})
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, stream, chunks []byte) {
		want := framesOf(newFrameReader(bytes.NewReader(stream), limit))
		fb := frameBuf{max: limit}
		var got []string
		rest := stream
		for i := 0; ; i++ {
			// The socket delivers up to the free space, in the chunk
			// sizes the fuzzer chose (scaled, and at least 1/256 of the
			// stream, so a large stream comes in a few hundred reads,
			// not a million).
			n := len(rest)
			if len(chunks) > 0 {
				n = min(n, max(1+int(chunks[i%len(chunks)])*64, len(stream)/256))
			}
			space := fb.space()
			if len(space) == 0 || fb.r+fb.need > len(fb.buf) {
				t.Fatalf("space left %d bytes for a %d-byte message, %d buffered", len(space), fb.need, fb.buffered())
			}
			n = copy(space, rest[:n])
			fb.filled(n)
			rest = rest[n:]
			var err error
			for {
				typ, body, ok, e := fb.next()
				if e != nil {
					err = e
					break
				}
				if !ok {
					break
				}
				got = append(got, frameString(typ, body))
			}
			if err != nil {
				got = append(got, "error: "+err.Error())
				break
			}
			if len(rest) == 0 {
				if fb.buffered() > 0 {
					got = append(got, "error: "+io.ErrUnexpectedEOF.Error())
				}
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("frameBuf yields\n%.500q\nframeReader yields\n%.500q", got, want)
		}
	})
}

// frameString is one message as the fuzz target compares it: cheaper to
// build than a quoted body. (The target still runs only about 800 inputs a
// second on this machine; quoting was not the cause.)
func frameString(typ byte, body []byte) string {
	return string(typ) + strconv.Itoa(len(body)) + ":" + string(body)
}

// framesOf reads every message, then the error that ends the stream (none
// for a clean end).
func framesOf(fr *frameReader) []string {
	defer fr.release()
	var out []string
	for {
		typ, body, err := fr.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		out = append(out, frameString(typ, body))
	}
}
