package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// upstreamPool is a small HTTP/1.1 client for plain-HTTP forwarding: each
// request is written and its response read on the calling goroutine over a
// kept-alive connection, with none of http.Transport's per-connection
// goroutines. Connections are per sandbox and per requested host:port, and
// every one was dialled to an address checked for that sandbox. https://
// requests in absolute form use the verified http.Transport instead.
type upstreamPool struct {
	s       *Server
	maxIdle int
	mu      sync.Mutex
	idle    map[string][]*upstreamConn
	closed  bool
}

type upstreamConn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

func newUpstreamPool(s *Server) *upstreamPool {
	return &upstreamPool{s: s, maxIdle: 64, idle: map[string][]*upstreamConn{}}
}

func (p *upstreamPool) get(key string) *upstreamConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for conns := p.idle[key]; len(conns) > 0; conns = p.idle[key] {
		c := conns[len(conns)-1]
		p.idle[key] = conns[:len(conns)-1]
		if time.Since(c.lastUsed) < p.s.timeouts.ClientIdle {
			return c
		}
		_ = c.Close()
	}
	return nil
}

func (p *upstreamPool) put(key string, c *upstreamConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[key]) >= p.maxIdle {
		_ = c.Close()
		return
	}
	c.lastUsed = time.Now()
	p.idle[key] = append(p.idle[key], c)
}

func (p *upstreamPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, conns := range p.idle {
		for _, c := range conns {
			_ = c.Close()
		}
		delete(p.idle, k)
	}
}

// roundTrip sends req to the addresses d checked. A request that failed on
// a reused connection before any response byte is retried once on a new
// connection when it has no body (the server may have closed an idle one).
func (p *upstreamPool) roundTrip(req *http.Request, d *decision) (*http.Response, error) {
	key := req.URL.Host
	if c := p.get(key); c != nil {
		resp, err := p.exchange(c, key, req)
		if err == nil || !retryable(req, err) {
			return resp, err
		}
	}
	conn, err := p.s.dial(req.Context(), d)
	if err != nil {
		return nil, err
	}
	c := &upstreamConn{Conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 8<<10)}
	return p.exchange(c, key, req)
}

var errStale = errors.New("kept-alive upstream connection was closed")

func retryable(req *http.Request, err error) bool {
	return errors.Is(err, errStale) && (req.Body == nil || req.Body == http.NoBody) &&
		(req.Method == http.MethodGet || req.Method == http.MethodHead)
}

// exchange writes one request and reads its response head on c.
func (p *upstreamPool) exchange(c *upstreamConn, key string, req *http.Request) (*http.Response, error) {
	// The request (and its body) is written without a deadline: if the
	// client goes away, its context ends and that unblocks the write. The
	// response head must then arrive within the ResponseHeader timeout.
	stop := context.AfterFunc(req.Context(), func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(c.bw); err != nil {
		stop()
		_ = c.Close()
		return nil, fmt.Errorf("write request upstream: %w", err)
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		_ = c.Close()
		return nil, fmt.Errorf("write request upstream: %w: %w", errStale, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(p.s.timeouts.ResponseHeader))
	resp, err := readFinalResponse(c.br, req)
	if err != nil {
		stop()
		_ = c.Close()
		// The upstream closed the idle connection before the request came
		// (the end of the stream), or as it came (a reset).
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			err = fmt.Errorf("%w: %w", errStale, err)
		}
		return nil, fmt.Errorf("read response upstream: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	resp.Body = &pooledBody{rc: resp.Body, c: c, p: p, key: key, reuse: !resp.Close && !req.Close, stop: stop}
	return resp, nil
}

// readFinalResponse skips 1xx interim responses (RFC 9110 section 15.2).
func readFinalResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for range 8 {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
	return nil, errors.New("too many interim responses")
}

// pooledBody returns the connection to the pool when the body was read to
// its end, and closes it otherwise.
type pooledBody struct {
	rc    io.ReadCloser
	c     *upstreamConn
	p     *upstreamPool
	key   string
	reuse bool
	stop  func() bool
	eof   bool
	done  bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.rc.Close()
	stopped := b.stop()
	if b.eof && b.reuse && stopped && b.c.br.Buffered() == 0 {
		b.p.put(b.key, b.c)
		return err
	}
	_ = b.c.Close()
	return err
}
