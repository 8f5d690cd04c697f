package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const (
	tlsHandshake = 0x16
	tlsRecordMax = 5 + 16384 + 256 // header, maximum plaintext, slack
)

var errStopHandshake = errors.New("client hello read")

// checkClientHello reads (without consuming) the TLS ClientHello that opens
// a tunnel and refuses it when its SNI names a host other than the CONNECT
// target. A tunnel to an IP literal may carry no SNI; a ClientHello that
// cannot be read is refused.
func checkClientHello(br *bufio.Reader, target Host) *denial {
	hdr, err := br.Peek(5)
	if err != nil {
		return mismatch("the tunnel's first TLS record could not be read")
	}
	rec, err := br.Peek(min(5+(int(hdr[3])<<8|int(hdr[4])), tlsRecordMax))
	if err != nil {
		return mismatch("the tunnel's first TLS record could not be read")
	}
	sni, ok := readSNI(rec)
	if !ok {
		return mismatch("the tunnel did not open with a readable TLS ClientHello")
	}
	if sni == "" {
		return nil
	}
	h, err := ParseHost(sni, target.Port)
	if err != nil || h.IP.IsValid() || target.IP.IsValid() || h.Name != target.Name {
		return mismatch(fmt.Sprintf("the TLS server name %q is not the CONNECT target %s", sni, target.hostname()))
	}
	return nil
}

func mismatch(reason string) *denial {
	return &denial{status: http.StatusForbidden, code: CodeHostMismatch, reason: reason}
}

// readSNI runs crypto/tls's own ClientHello parser over the bytes and
// stops it as soon as the hello is read.
func readSNI(record []byte) (string, bool) {
	var sni string
	seen := false
	cfg := &tls.Config{GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		sni, seen = hi.ServerName, true
		return nil, errStopHandshake
	}}
	_ = tls.Server(&readOnlyConn{r: bytes.NewReader(record)}, cfg).Handshake()
	return sni, seen
}

// readOnlyConn feeds recorded bytes to a tls.Server and swallows writes.
type readOnlyConn struct {
	net.Conn
	r io.Reader
}

func (c *readOnlyConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *readOnlyConn) Write(p []byte) (int, error)      { return 0, io.ErrClosedPipe }
func (c *readOnlyConn) Close() error                     { return nil }
func (c *readOnlyConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *readOnlyConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *readOnlyConn) SetDeadline(time.Time) error      { return nil }
func (c *readOnlyConn) SetReadDeadline(time.Time) error  { return nil }
func (c *readOnlyConn) SetWriteDeadline(time.Time) error { return nil }

// plainTunnel relays plaintext HTTP inside a tunnel one request at a time,
// refusing any request whose Host is not the CONNECT target.
func (s *Server) plainTunnel(client net.Conn, br *bufio.Reader, up net.Conn, st *tunnelState) error {
	upR := bufio.NewReader(up)
	for {
		_ = client.SetReadDeadline(time.Now().Add(s.timeouts.IdleTunnel))
		req, err := http.ReadRequest(br)
		if err != nil {
			return nil // client closed, idled out or sent garbage: end the tunnel
		}
		if den := checkTunnelHost(req, st.host); den != nil {
			st.rec.code, st.rec.decision = den.code, "deny"
			_ = den.response(req, st.rec.sandbox, st.host.String()).Write(client)
			return errors.New(den.reason)
		}
		if err := s.relayOne(req, client, up, upR, st); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if req.Close {
			return nil
		}
	}
}

func checkTunnelHost(req *http.Request, target Host) *denial {
	h, err := ParseHost(req.Host, target.Port)
	if err != nil || h != target {
		return mismatch(fmt.Sprintf("the Host %q of a request inside the tunnel is not the CONNECT target %s", req.Host, target))
	}
	return nil
}

// relayOne forwards one request and its response.
func (s *Server) relayOne(req *http.Request, client, up net.Conn, upR *bufio.Reader, st *tunnelState) error {
	stripRequestHeaders(req.Header)
	_ = up.SetDeadline(time.Now().Add(s.timeouts.ResponseHeader))
	if err := req.Write(up); err != nil {
		return fmt.Errorf("tunnel write request: %w", err)
	}
	resp, err := http.ReadResponse(upR, req)
	if err != nil {
		return fmt.Errorf("tunnel read response: %w", err)
	}
	defer resp.Body.Close()
	stripSandgateHeaders(resp.Header)
	_ = up.SetDeadline(time.Now().Add(s.timeouts.IdleTunnel))
	_ = client.SetWriteDeadline(time.Now().Add(s.timeouts.IdleTunnel))
	cw := &countWriter{w: client}
	if err := resp.Write(cw); err != nil {
		return fmt.Errorf("tunnel write response: %w", err)
	}
	st.rec.bytesOut += cw.n
	if resp.Close {
		return io.EOF
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
