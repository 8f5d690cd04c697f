package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
)

// tunnelState carries an allowed CONNECT from ServeHTTP to the hijack.
type tunnelState struct {
	d    *decision
	host Host
	rec  *record
}

type tunnelKey struct{}

// serveConnect checks a CONNECT and lets goproxy hijack the connection into
// s.tunnel.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, sb *sandbox, rec *record) {
	h, err := ParseHost(r.URL.Host, 0)
	if err != nil {
		s.refuse(w, r, rec, &denial{status: http.StatusBadRequest, code: CodeBadRequest, reason: err.Error()})
		return
	}
	rec.setTarget(h)
	if !acquire(&sb.tunnels, sb.maxTun) {
		s.refuse(w, r, rec, tooMany(CodeTooManyTunnels, "tunnels", sb.maxTun))
		return
	}
	defer sb.tunnels.Add(-1)
	d, den := s.decide(r.Context(), sb, &request{host: h, method: http.MethodConnect})
	if den != nil {
		s.refuse(w, r, rec, den)
		return
	}
	rec.allowed(d)
	ctx := context.WithValue(r.Context(), tunnelKey{}, &tunnelState{d: d, host: h, rec: rec})
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// onConnect is goproxy's CONNECT handler: deny unless ServeHTTP allowed
// exactly this target.
func (s *Server) onConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	st, _ := ctx.Req.Context().Value(tunnelKey{}).(*tunnelState)
	if h, err := ParseHost(host, 0); st == nil || err != nil || h != st.host {
		den := &denial{status: http.StatusForbidden, code: CodeNoRule, reason: "tunnel did not pass the egress checks"}
		ctx.Resp = den.response(ctx.Req, "", host)
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, host
	}
	return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: s.hijack}, host
}

func (s *Server) hijack(r *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
	st := r.Context().Value(tunnelKey{}).(*tunnelState)
	defer client.Close()
	if !s.trackTunnel(client) {
		st.rec.code = CodeShuttingDown
		writeRaw(client, &denial{status: http.StatusServiceUnavailable, code: CodeShuttingDown, reason: "sandgate is shutting down"}, st)
		return
	}
	defer s.untrackTunnel(client)
	st.rec.err = s.tunnel(r.Context(), client, st)
}

// tunnel dials the checked address, answers 200, checks the first bytes
// and relays until either side closes or the tunnel idles out.
func (s *Server) tunnel(ctx context.Context, client net.Conn, st *tunnelState) error {
	up, err := s.dial(ctx, st.d)
	if err != nil {
		st.rec.code, st.rec.status = CodeUpstream, http.StatusBadGateway
		writeRaw(client, &denial{status: http.StatusBadGateway, code: CodeUpstream, reason: "the upstream could not be reached"}, st)
		return err
	}
	defer up.Close()
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return fmt.Errorf("write connect response: %w", err)
	}
	st.rec.status = http.StatusOK
	br := bufio.NewReaderSize(client, tlsRecordMax)
	_ = client.SetReadDeadline(time.Now().Add(s.timeouts.IdleTunnel))
	first, err := br.Peek(1)
	if err != nil {
		return nil // the client went away or idled before sending anything
	}
	if first[0] != tlsHandshake {
		return s.plainTunnel(client, br, up, st)
	}
	if den := checkClientHello(br, st.host); den != nil {
		st.rec.code, st.rec.decision = den.code, "deny"
		return errors.New(den.reason)
	}
	in, out, err := relay(client, br, up, s.timeouts.IdleTunnel)
	st.rec.bytesIn, st.rec.bytesOut = in, out
	return err
}

// writeRaw writes a denial on a hijacked connection.
func writeRaw(c net.Conn, d *denial, st *tunnelState) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = d.response(nil, st.rec.sandbox, st.host.String()).Write(c)
}

// relay copies both ways until both directions are done, closing both on
// the first error and on idleness, and half-closing on EOF.
func relay(client net.Conn, clientR io.Reader, up net.Conn, idle time.Duration) (in, out int64, err error) {
	errc := make(chan error, 2)
	p1 := &pump{dst: up, src: client, r: clientR, other: up, idle: idle}
	p2 := &pump{dst: client, src: up, r: up, other: client, idle: idle}
	go p1.run(errc)
	go p2.run(errc)
	first := <-errc
	if first != nil {
		_ = client.Close()
		_ = up.Close()
	}
	second := <-errc
	if first == nil {
		first = second
	}
	return p1.n.Load(), p2.n.Load(), first
}

// pump copies one direction of a tunnel. Every read that returns data
// extends the idle deadline of both connections.
type pump struct {
	dst, src, other net.Conn
	r               io.Reader
	idle            time.Duration
	n               atomic.Int64
}

func (p *pump) run(errc chan<- error) {
	buf := make([]byte, 32<<10)
	for {
		_ = p.src.SetReadDeadline(time.Now().Add(p.idle))
		n, err := p.r.Read(buf)
		if n > 0 {
			_ = p.other.SetReadDeadline(time.Now().Add(p.idle))
			if _, werr := p.dst.Write(buf[:n]); werr != nil {
				errc <- fmt.Errorf("relay write: %w", werr)
				return
			}
			p.n.Add(int64(n))
		}
		if errors.Is(err, io.EOF) {
			if hc, ok := p.dst.(interface{ CloseWrite() error }); ok {
				_ = hc.CloseWrite()
			}
			errc <- nil
			return
		}
		if err != nil {
			errc <- fmt.Errorf("relay read: %w", err)
			return
		}
	}
}
