// Package httpcount wraps an http.ResponseWriter to record the status and
// the body bytes written, for the canonical log line and the audit record
// of a proxied request. It leaves everything else to the wrapped writer.
package httpcount

import (
	"io"
	"net/http"
	"sync"
)

// Writer records the status and body bytes written to the client.
type Writer struct {
	http.ResponseWriter
	Status int   // the status sent; 0 until the head is written
	N      int64 // body bytes written
}

func (c *Writer) WriteHeader(code int) {
	if c.Status == 0 {
		c.Status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *Writer) Write(p []byte) (int, error) {
	if c.Status == 0 {
		c.Status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.N += int64(n)
	return n, err
}

// ReadFrom lets io.Copy use a pooled buffer instead of allocating 32 KiB
// per response, and keeps small bodies in the server's buffered writer so
// head and body leave in one write.
func (c *Writer) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{c}, r, *bp)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Flush flushes the wrapped writer when it can.
func (c *Writer) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (c *Writer) Unwrap() http.ResponseWriter { return c.ResponseWriter }
