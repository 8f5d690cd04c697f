package pgwire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Upstream says how sandgate reaches the real database. The prototype never
// learns any of it.
type Upstream struct {
	Host string // default 127.0.0.1
	Port int    // default 5432
	User string // sandgate's own role
	// Password is sandgate's upstream password, read by cmd from an
	// environment variable or a file; never from YAML.
	Password string
	// SSLMode is libpq's: disable, allow, prefer, require, verify-ca or
	// verify-full. Empty means prefer.
	SSLMode     string
	SSLRootCert string // CA bundle for verify-ca / verify-full
	// ConnectTimeout bounds one upstream dial and login. Zero means 5s.
	ConnectTimeout time.Duration
}

func (u Upstream) pgconnConfig(database string) (*pgconn.Config, error) {
	host, port := u.Host, u.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 5432
	}
	mode := u.SSLMode
	if mode == "" {
		mode = "prefer"
	}
	// Credentials are set on the parsed Config, never formatted into a string.
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s sslmode=%s", quoteDSN(host), port, quoteDSN(database), mode)
	if u.SSLRootCert != "" {
		dsn += " sslrootcert=" + quoteDSN(u.SSLRootCert)
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("upstream settings: %w", err)
	}
	cfg.User = u.User
	cfg.Password = u.Password
	cfg.ConnectTimeout = u.ConnectTimeout
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return cfg, nil
}

func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// serverConn is one authenticated upstream connection, hijacked from pgconn
// so the relay owns its bytes.
type serverConn struct {
	conn      net.Conn
	pid       uint32
	secret    []byte
	params    map[string]string // ParameterStatus values as of login
	key       poolKey
	idleSince time.Time
	created   time.Time
}

type poolKey struct{ sandbox, database string }

// pool keeps idle upstream connections per (sandbox, database), pgbouncer's
// session pooling: a connection is reset before reuse.
type pool struct {
	up      Upstream
	maxIdle int
	idleTTL time.Duration

	mu   sync.Mutex
	idle map[poolKey][]*serverConn

	dials, reuses atomic.Int64 // for tests and metrics
}

func newPool(up Upstream, maxIdle int, idleTTL time.Duration) *pool {
	return &pool{up: up, maxIdle: maxIdle, idleTTL: idleTTL, idle: map[poolKey][]*serverConn{}}
}

// get returns a live idle connection, or dials a new one.
func (p *pool) get(ctx context.Context, key poolKey, appName string) (*serverConn, bool, error) {
	for {
		sc := p.popIdle(key)
		if sc == nil {
			break
		}
		if sc.alive() {
			p.reuses.Add(1)
			return sc, true, nil
		}
		sc.conn.Close()
	}
	p.dials.Add(1)
	sc, err := p.dial(ctx, key, appName)
	return sc, false, err
}

func (p *pool) popIdle(key poolKey) *serverConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	for len(list) > 0 {
		sc := list[len(list)-1]
		list = list[:len(list)-1]
		p.idle[key] = list
		if time.Since(sc.idleSince) < p.idleTTL {
			return sc
		}
		sc.conn.Close()
	}
	return nil
}

// alive reports whether the server has not closed the connection while it
// sat idle (a restarted server, or a terminated backend, closes its socket,
// after a FATAL message). It peeks at the socket without waiting: an idle
// connection has nothing to read, so anything there, or the end of the
// stream, means it is dead.
func (sc *serverConn) alive() bool {
	c := sc.conn
	if t, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = t.NetConn() // TLS: a close_notify or alert is bytes on the socket too
	}
	s, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := s.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(err, syscall.EAGAIN)
		return true // never wait
	})
	return err == nil && alive
}

func (p *pool) dial(ctx context.Context, key poolKey, appName string) (*serverConn, error) {
	cfg, err := p.up.pgconnConfig(key.database)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = appName
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to upstream database %q: %w", key.database, err)
	}
	if err := pc.SyncConn(ctx); err != nil {
		pc.Close(ctx)
		return nil, fmt.Errorf("sync upstream connection: %w", err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(ctx)
		return nil, fmt.Errorf("take over upstream connection: %w", err)
	}
	now := time.Now()
	return &serverConn{conn: hc.Conn, pid: hc.PID, secret: hc.SecretKey, params: hc.ParameterStatuses,
		key: key, created: now}, nil
}

// put returns a reset connection to the pool, or closes it when the pool is full.
func (p *pool) put(sc *serverConn) {
	sc.idleSince = time.Now()
	p.mu.Lock()
	if len(p.idle[sc.key]) < p.maxIdle {
		p.idle[sc.key] = append(p.idle[sc.key], sc)
		sc = nil
	}
	p.mu.Unlock()
	if sc != nil {
		sc.conn.Close()
	}
}

// closeAll closes every idle connection.
func (p *pool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, list := range p.idle {
		for _, sc := range list {
			sc.conn.Close()
		}
		delete(p.idle, k)
	}
}

// cancel sends a CancelRequest for sc's backend on a new connection.
func (p *pool) cancel(ctx context.Context, pid uint32, secret []byte) error {
	cfg, err := p.up.pgconnConfig("postgres")
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	if err != nil {
		return fmt.Errorf("dial upstream for cancel: %w", err)
	}
	defer c.Close()
	buf, err := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret}).Encode(nil)
	if err != nil {
		return fmt.Errorf("encode cancel request: %w", err)
	}
	if _, err := c.Write(buf); err != nil {
		return fmt.Errorf("send cancel request: %w", err)
	}
	// The server closes the connection when it has handled the request.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b [1]byte
	c.Read(b[:])
	return nil
}

// idleCount is the number of pooled connections, for tests and metrics.
func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.idle {
		n += len(l)
	}
	return n
}
