package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Server is the egress proxy. Build it with [New]; it is an http.Handler
// and serves a listener with [Server.Serve].
type Server struct {
	cfg       Config
	timeouts  Timeouts
	log       *slog.Logger
	tracer    trace.Tracer
	resolver  Resolver
	state     atomic.Pointer[state] // the sandboxes in force; Reload swaps it
	selfAddrs *selfSet
	proxy     *goproxy.ProxyHttpServer
	srv       *http.Server

	mu       sync.Mutex
	closing  bool
	tunnels  map[net.Conn]struct{}
	tunnelWG sync.WaitGroup
}

// state is what a policy reload replaces, all at once.
type state struct {
	auth      *authenticator
	sandboxes map[string]*sandbox
}

// New validates cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, timeouts: cfg.Timeouts.withDefaults(), log: cfg.Logger, resolver: cfg.Resolver,
		selfAddrs: &selfSet{}, tunnels: map[net.Conn]struct{}{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "egress")
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	s.tracer = tp.Tracer("github.com/sandgate/sandgate/gateway/egress")
	s.selfAddrs.add(cfg.SelfAddrs...)
	st, err := s.newState(cfg.Sandboxes)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	s.proxy = s.newGoproxy()
	s.srv = s.newHTTPServer()
	return s, nil
}

func (s *Server) newState(sandboxes map[string]*Sandbox) (*state, error) {
	st := &state{sandboxes: map[string]*sandbox{}}
	var err error
	if st.auth, err = newAuthenticator(sandboxes, s.cfg.CredentialCacheSize); err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	for name, c := range sandboxes {
		if st.sandboxes[name], err = s.newSandbox(name, c); err != nil {
			return nil, fmt.Errorf("egress: %w", err)
		}
	}
	return st, nil
}

// Reload puts a new set of sandboxes in force, validated as New validates
// them; on error the old set stays. Requests that have started finish under
// the rules they started with; open CONNECT tunnels are closed, so a client
// reconnects and is checked against the new rules (a tunnel would otherwise
// keep a revoked destination). Rate limits and the credential cache start
// afresh.
func (s *Server) Reload(sandboxes map[string]*Sandbox) error {
	cfg := s.cfg
	cfg.Sandboxes = sandboxes
	if err := cfg.Validate(); err != nil {
		return err
	}
	st, err := s.newState(sandboxes)
	if err != nil {
		return err
	}
	old := s.state.Swap(st)
	s.closeTunnels()
	for _, sb := range old.sandboxes {
		sb.transport.CloseIdleConnections()
		sb.pool.closeIdle()
	}
	s.log.Info("egress rules reloaded", "sandboxes", len(sandboxes))
	return nil
}

func (s *Server) newHTTPServer() *http.Server {
	maxHeader := s.cfg.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 32 << 10
	}
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.timeouts.ClientHeader,
		IdleTimeout:       s.timeouts.ClientIdle,
		MaxHeaderBytes:    maxHeader,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no HTTP/2
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Serve accepts proxy connections on ln until Shutdown. ln's address is
// added to the addresses no sandbox may reach. It returns nil after a
// Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.addListenerAddrs(ln.Addr())
	if s.cfg.TLS != nil {
		tc := s.cfg.TLS.Clone()
		tc.NextProtos = []string{"http/1.1"} // no HTTP/2
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		ln = tls.NewListener(ln, tc)
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Shutdown)
		defer cancel()
		_ = s.Shutdown(sctx)
	})
	defer stop()
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("egress: serve: %w", err)
}

// addListenerAddrs records ln's address as sandgate's own; a wildcard
// listener makes every local interface address at that port sandgate's.
func (s *Server) addListenerAddrs(a net.Addr) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	s.selfAddrs.add(ap)
	if !ap.Addr().IsUnspecified() {
		return
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			s.selfAddrs.add(netip.AddrPortFrom(p.Addr().Unmap(), ap.Port()))
		}
	}
}

// Shutdown stops accepting, waits for requests and tunnels until ctx ends,
// then closes the tunnels still open.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	done := make(chan struct{})
	go s.waitTunnels(done)
	select {
	case <-done:
	case <-ctx.Done():
		s.closeTunnels()
		<-done
	}
	for _, sb := range s.state.Load().sandboxes {
		sb.transport.CloseIdleConnections()
		sb.pool.closeIdle()
	}
	if err != nil {
		return fmt.Errorf("egress: shutdown: %w", err)
	}
	return nil
}

func (s *Server) waitTunnels(done chan<- struct{}) {
	s.tunnelWG.Wait()
	close(done)
}

func (s *Server) closeTunnels() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.tunnels {
		_ = c.Close()
	}
}

// trackTunnel registers a hijacked client connection so Shutdown can close
// it; it reports false when the server is closing.
func (s *Server) trackTunnel(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tunnels[c] = struct{}{}
	s.tunnelWG.Add(1)
	return true
}

func (s *Server) untrackTunnel(c net.Conn) {
	s.mu.Lock()
	delete(s.tunnels, c)
	s.mu.Unlock()
	s.tunnelWG.Done()
}

// record is what the canonical log line and the span say about a request.
type record struct {
	start    time.Time
	sandbox  string
	method   string
	dest     string
	host     string
	port     int
	identity string // how the sandbox was identified: certificate or password
	decision string // allow, report, deny
	rule     string
	code     ErrorCode
	status   int
	bytesIn  int64 // client → upstream
	bytesOut int64 // upstream → client
	err      error
}
