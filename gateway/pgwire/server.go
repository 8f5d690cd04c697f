// Package pgwire is sandgate's PostgreSQL front door: it speaks the wire
// protocol to prototypes, authenticates each as its sandbox, relays the
// protocol to the real database over sandgate's own connections, and applies
// the policy's plan to every statement and every result column.
//
// It holds no rule logic: what a sandbox may run and see comes from package
// policy. It deliberately leaves out replication, COPY FROM (refused), the
// fast-path function call (refused) and GSSAPI encryption (declined, so
// clients fall back).
//
// Security-relevant defaults are strict: clients authenticate with
// SCRAM-SHA-256 only; a message over MaxMessageBytes ends the session; an
// unknown table or column is refused.
package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Server. The zero value of every optional field has the
// meaning its comment gives.
type Config struct {
	// Policy returns the policy in force; it is called per session, so a
	// reloaded policy applies to new sessions.
	Policy func() *policy.Set
	// Upstream is the real database.
	Upstream Upstream
	// TLS answers SSLRequest. Nil declines TLS (clients that require it fail).
	TLS *tls.Config
	// RequireTLS refuses clients that do not use TLS.
	RequireTLS bool
	// MaxMessageBytes bounds one client message. Zero means 8 MiB.
	MaxMessageBytes int
	// MaxServerMessageBytes bounds one upstream message. Zero means 256 MiB.
	MaxServerMessageBytes int
	// StartupTimeout bounds start-up and authentication. Zero means 10s.
	StartupTimeout time.Duration
	// IdleTimeout closes a session whose client sent nothing for this long.
	// Zero means no limit.
	IdleTimeout time.Duration
	// MaxConnsPerSandbox applies when the sandbox's policy sets none. Zero
	// means 100.
	MaxConnsPerSandbox int
	// PoolIdlePerKey is how many reset upstream connections are kept per
	// (sandbox, database). Zero means 16; negative disables pooling.
	PoolIdlePerKey int
	// PoolIdleTimeout closes pooled connections idle this long. Zero means 5m.
	PoolIdleTimeout time.Duration
	// Logger receives session logs. Nil means slog.Default().
	Logger *slog.Logger
	// TracerProvider creates a span per session and per statement. Nil
	// means no tracing.
	TracerProvider trace.TracerProvider
	// Audit receives a record per session and per statement, allowed or
	// denied. Nil means no audit log.
	Audit Auditor
	// AuditBeforeAnswer appends each statement's audit record (and makes
	// its span) before the answer is written to the client. Without it,
	// statements are observed just after their answer is written, off the
	// client's critical path. Set it when Audit makes each record durable
	// before Append returns and clients must never see an answer whose
	// record could be lost.
	AuditBeforeAnswer bool
	// Metrics counts sessions, statements and transformed fields. Nil means
	// none.
	Metrics *telemetry.Metrics
	// GoroutineRelay relays every session with a goroutine per direction.
	// By default (on Linux) sessions whose sockets are plain TCP or Unix
	// sockets on both sides are relayed by the shared event loops, which
	// spend about half the CPU per message; TLS sessions, and sessions
	// under AuditBeforeAnswer (whose audit append waits for the disk),
	// always use goroutines.
	GoroutineRelay bool
}

// Server accepts PostgreSQL clients.
type Server struct {
	cfg  Config
	log  *slog.Logger
	pool *pool

	mu       sync.Mutex
	ln       net.Listener
	sessions map[*session]struct{}
	perSB    map[string]int
	cancels  map[cancelKey]*session
	closing  bool
	wg       sync.WaitGroup

	catMu    sync.Mutex
	catalogs map[string]*catalog

	nextID   atomic.Uint64
	decoyKey []byte

	synth     synthDBs
	tracer    trace.Tracer
	attrMu    sync.RWMutex
	attrCache map[attrKey]*stmtAttrs // bounded by maxAttrCache
}

type cancelKey struct {
	pid    uint32
	secret uint32
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Policy == nil {
		return nil, errors.New("pgwire: Config.Policy is required")
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 8 << 20
	}
	if cfg.MaxServerMessageBytes == 0 {
		cfg.MaxServerMessageBytes = 256 << 20
	}
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = 10 * time.Second
	}
	if cfg.MaxConnsPerSandbox == 0 {
		cfg.MaxConnsPerSandbox = 100
	}
	if cfg.PoolIdlePerKey == 0 {
		cfg.PoolIdlePerKey = 16
	}
	if cfg.PoolIdlePerKey < 0 {
		cfg.PoolIdlePerKey = 0
	}
	if cfg.PoolIdleTimeout == 0 {
		cfg.PoolIdleTimeout = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("pgwire: random key: %w", err)
	}
	return &Server{cfg: cfg, log: log.With("component", "pgwire"),
		pool:     newPool(cfg.Upstream, cfg.PoolIdlePerKey, cfg.PoolIdleTimeout),
		sessions: map[*session]struct{}{}, perSB: map[string]int{}, cancels: map[cancelKey]*session{},
		catalogs: map[string]*catalog{}, decoyKey: key, tracer: newTracer(cfg.TracerProvider),
		attrCache: map[attrKey]*stmtAttrs{}}, nil
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pgwire: server closed")

// Serve accepts connections on ln until Shutdown or ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || ctx.Err() != nil {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		// The net package has already set TCP_NODELAY and TCP keepalive
		// (15 s) on an accepted connection, unless ln was made without.
		sess := s.newSession(c)
		s.wg.Add(1)
		go s.runSession(ctx, sess)
	}
}

func (s *Server) runSession(ctx context.Context, sess *session) {
	defer s.wg.Done()
	defer s.forget(sess)
	sess.run(ctx)
}

func (s *Server) newSession(c net.Conn) *session {
	id := s.nextID.Add(1)
	sess := &session{srv: s, id: id, client: c,
		log: s.log.With("session", id, "client", c.RemoteAddr().String())}
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	return sess
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	if sess.counted {
		s.perSB[sess.sandbox.Name]--
	}
	if sess.cancelKey != (cancelKey{}) {
		delete(s.cancels, sess.cancelKey)
	}
}

// admit counts a session against its sandbox's limit and registers its
// cancel key.
func (s *Server) admit(sess *session) error {
	limit := sess.sandbox.MaxConnections
	if limit == 0 {
		limit = s.cfg.MaxConnsPerSandbox
	}
	var b [8]byte
	rand.Read(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	// A reload between reading the policy and here would otherwise miss
	// this session: ApplyPolicy only sees admitted ones.
	if cur := s.cfg.Policy().Sandbox(sess.sandbox.Name); cur == nil || cur.Fingerprint != sess.sandbox.Fingerprint {
		return &policyChanged{name: sess.sandbox.Name}
	}
	if s.perSB[sess.sandbox.Name] >= limit {
		return fmt.Errorf("sandbox %q already has %d connections, its limit", sess.sandbox.Name, limit)
	}
	s.perSB[sess.sandbox.Name]++
	sess.counted = true
	k := cancelKey{pid: binary.BigEndian.Uint32(b[:4]) & 0x7fffffff, secret: binary.BigEndian.Uint32(b[4:])}
	sess.cancelKey = k
	s.cancels[k] = sess
	return nil
}

// ApplyPolicy ends the sessions that the policy set no longer allows as
// they are: their sandbox was removed, its rules changed (by
// Sandbox.Fingerprint) or it expired. Each is told why, with SQLSTATE 57P01
// (drivers reconnect, and the new session runs under the new rules), and
// closed; sessions of unchanged sandboxes go on. It returns how many ended.
// Call it after the new set is what Config.Policy returns.
func (s *Server) ApplyPolicy(set *policy.Set) int {
	now := time.Now()
	type ending struct {
		sess   *session
		reason string
	}
	var end []ending
	s.mu.Lock()
	for sess := range s.sessions {
		if !sess.counted {
			continue // not admitted yet: it reads the new policy itself
		}
		old := sess.sandbox
		switch cur := set.Sandbox(old.Name); {
		case cur == nil:
			end = append(end, ending{sess, fmt.Sprintf("sandbox %q was removed from the policy", old.Name)})
		case cur.Fingerprint != old.Fingerprint:
			end = append(end, ending{sess, fmt.Sprintf("the policy of sandbox %q changed", old.Name)})
		case cur.Expired(now):
			end = append(end, ending{sess, fmt.Sprintf("sandbox %q expired on %s", old.Name, cur.Expires.Format("2006-01-02"))})
		}
	}
	s.mu.Unlock()
	for _, e := range end {
		e.sess.endForPolicy(e.reason)
	}
	return len(end)
}

// policyChanged refuses a session whose sandbox's policy was reloaded
// while it connected.
type policyChanged struct{ name string }

func (e *policyChanged) Error() string {
	return fmt.Sprintf("the policy of sandbox %q changed while connecting", e.name)
}

// cancel forwards a client's CancelRequest to the upstream backend serving
// the session that owns the key. Unknown keys are ignored, as PostgreSQL does.
func (s *Server) cancel(ctx context.Context, k cancelKey) {
	s.mu.Lock()
	sess := s.cancels[k]
	s.mu.Unlock()
	if sess == nil {
		s.log.Info("cancel request for unknown key ignored")
		return
	}
	up := sess.upstream()
	if up == nil {
		return
	}
	if err := s.pool.cancel(ctx, up.pid, up.secret); err != nil {
		s.log.Warn("cancel request failed", "session", sess.id, "err", err)
		return
	}
	s.log.Info("cancel request forwarded", "session", sess.id, "sandbox", sess.sandbox.Name)
}

// catalogFor returns the catalog cache of an upstream database.
func (s *Server) catalogFor(database string) (*catalog, error) {
	s.catMu.Lock()
	defer s.catMu.Unlock()
	if c := s.catalogs[database]; c != nil {
		return c, nil
	}
	cfg, err := s.cfg.Upstream.pgconnConfig(database)
	if err != nil {
		return nil, err
	}
	c := &catalog{minReload: time.Second, load: func(ctx context.Context) (map[uint32]*relInfo, error) {
		return loadCatalog(ctx, cfg.Copy())
	}}
	s.catalogs[database] = c
	return c, nil
}

var _ = pgconn.Config{}

// Shutdown stops accepting, waits for sessions to end until ctx expires,
// then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for sess := range s.sessions {
			sess.closeClient()
		}
		s.mu.Unlock()
		<-done
	}
	s.pool.closeAll()
	return err
}
