package pgwire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/sandgate/sandgate/policy"
	"go.opentelemetry.io/otel/trace"
)

// session is one client connection.
type session struct {
	srv       *Server
	id        uint64
	client    net.Conn
	log       *slog.Logger
	sandbox   *policy.Sandbox
	database  string
	params    map[string]string // client start-up parameters
	counted   bool
	cancelKey cancelKey
	tls       bool

	upMu sync.Mutex // guards up, and client and loopAbort once admitted
	up   *serverConn
	// loopAbort ends the relay while it runs on an event loop; the
	// session's sockets are then the loop's, not client's and up's.
	loopAbort func(error)

	writeMu sync.Mutex // client writes: the server pump, and fatal errors

	span      trace.Span // the session's span, once logged in
	endMetric func()
}

func (s *session) upstream() *serverConn {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return s.up
}

// SQLSTATEs the gateway itself raises.
const (
	codeProtocolViolation    = "08P01"
	codeConnectionFailure    = "08006"
	codeCannotConnect        = "08001"
	codeTooManyConnections   = "53300"
	codeInvalidPassword      = "28P01"
	codeInvalidAuthorization = "28000"
	codeAdminShutdown        = "57P01"
	codeInternal             = "XX000"
	codeInvalidParameter     = "22023"
)

func (s *session) run(ctx context.Context) {
	defer func() { s.client.Close() }() // the relay may have replaced it
	start := time.Now()
	s.client.SetDeadline(start.Add(s.srv.cfg.StartupTimeout))
	be, err := s.startup(ctx)
	if err != nil {
		if be != nil && !errors.Is(err, errQuiet) {
			s.log.Info("session refused", "err", err)
		}
		return
	}
	s.client.SetDeadline(time.Time{})
	s.log = s.log.With("sandbox", s.sandbox.Name, "database", s.database)
	ctx = s.startSessionSpan(ctx)
	stats, err := s.relay(ctx)
	s.endSession(ctx, stats, err)
	lvl := slog.LevelInfo
	if err != nil {
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "session closed", "duration", time.Since(start).Round(time.Millisecond),
		"statements", stats.statements, "denied", stats.denied, "rows", stats.rows, "err", err)
}

// errQuiet ends a connection that needs no log line (a cancel request, a
// client that hung up during start-up).
var errQuiet = errors.New("quiet close")

// startup runs the start-up phase: TLS negotiation, cancel requests, the
// startup message, authentication and the upstream connection. It returns
// the pgproto3 backend used, for error reporting.
func (s *session) startup(ctx context.Context) (*pgproto3.Backend, error) {
	be := pgproto3.NewBackend(s.client, s.client)
	be.SetMaxBodyLen(10000) // start-up packets are small
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, errQuiet
			}
			s.fatal(be, codeProtocolViolation, "invalid start-up packet: "+err.Error(), "")
			return be, fmt.Errorf("startup: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if s.tls || s.srv.cfg.TLS == nil {
				if _, err := s.client.Write([]byte{'N'}); err != nil {
					return nil, errQuiet
				}
				continue
			}
			if _, err := s.client.Write([]byte{'S'}); err != nil {
				return nil, errQuiet
			}
			tc := tls.Server(s.client, s.srv.cfg.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, fmt.Errorf("tls handshake: %w", err)
			}
			s.client, s.tls = tc, true
			be = pgproto3.NewBackend(tc, tc)
			be.SetMaxBodyLen(10000)
		case *pgproto3.GSSEncRequest:
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return nil, errQuiet
			}
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) == 4 {
				s.srv.cancel(ctx, cancelKey{pid: m.ProcessID, secret: beUint32(m.SecretKey)})
			}
			return nil, errQuiet
		case *pgproto3.StartupMessage:
			return be, s.login(ctx, be, m)
		default:
			s.fatal(be, codeProtocolViolation, "unexpected start-up message", "")
			return be, errors.New("unexpected start-up message")
		}
	}
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// fatal sends a FATAL ErrorResponse during start-up.
func (s *session) fatal(be *pgproto3.Backend, code, msg, hint string) {
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg, Hint: hint})
	be.Flush()
}

func (s *session) login(ctx context.Context, be *pgproto3.Backend, m *pgproto3.StartupMessage) error {
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
		s.fatal(be, codeProtocolViolation, "unsupported frontend protocol version", "sandgate speaks protocol 3.0")
		return errors.New("unsupported protocol version")
	}
	if s.srv.cfg.RequireTLS && !s.tls {
		s.fatal(be, codeInvalidAuthorization, "sandgate requires TLS", "connect with sslmode=require or stronger")
		return errors.New("client without TLS refused")
	}
	s.params = m.Parameters
	user := m.Parameters["user"]
	if _, ok := m.Parameters["replication"]; ok {
		s.fatal(be, codeInvalidAuthorization, "replication connections are not allowed through sandgate", "")
		return errors.New("replication refused")
	}
	set := s.srv.cfg.Policy()
	sb := set.Sandbox(user)
	if err := s.authenticate(be, sb, user); err != nil {
		s.auditRefusal(ctx, user, "auth_failed")
		s.fatal(be, codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user),
			"check the sandbox name and password in your connection string")
		return fmt.Errorf("authenticate %q: %w", user, err)
	}
	s.sandbox = sb
	if sb.Expired(time.Now()) {
		s.auditRefusal(ctx, user, "sandbox_expired")
		s.fatal(be, codeInvalidAuthorization, fmt.Sprintf("sandbox %q expired on %s: its access to data has ended", sb.Name, sb.Expires.Format("2006-01-02")),
			"ask your information governance team to review and renew the sandbox's approval")
		return errors.New("sandbox expired")
	}
	s.database = m.Parameters["database"]
	if s.database == "" {
		s.database = user
	}
	if s.database != sb.Database {
		s.fatal(be, codeInvalidAuthorization, fmt.Sprintf("sandbox %q may not connect to database %q", sb.Name, s.database),
			fmt.Sprintf("connect to database %q", sb.Database))
		return fmt.Errorf("database %q not allowed", s.database)
	}
	if src := sb.Source; src.Synthetic() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		name, err := s.srv.synthDatabase(pctx, src)
		cancel()
		if err != nil {
			s.log.Error("synthetic database unavailable", "err", err)
			s.fatal(be, codeCannotConnect, "sandgate could not prepare this sandbox's synthetic database",
				"tell the gateway's operators; its log says why")
			return err
		}
		s.database = name // the prototype asked for sb.Database; it is served the synthetic one
	}
	if err := s.srv.admit(s); err != nil {
		var pc *policyChanged
		if errors.As(err, &pc) {
			s.fatal(be, codeAdminShutdown, err.Error(), "reconnect: the new session runs under the policy now in force")
			return err
		}
		s.fatal(be, codeTooManyConnections, err.Error(), "close idle connections, or use a connection pool in the prototype")
		return err
	}
	return s.attach(ctx, be)
}

// authenticate runs SCRAM-SHA-256. An unknown user runs the same exchange
// against a decoy verifier and fails at the end.
func (s *session) authenticate(be *pgproto3.Backend, sb *policy.Sandbox, user string) error {
	var v *policy.Verifier
	if sb != nil {
		v, _ = policy.ParseVerifier(sb.Verifier)
	}
	known := v != nil
	if !known {
		v = decoyVerifier(s.srv.decoyKey, user)
	}
	sc := &scramServer{v: v}
	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return fmt.Errorf("read SASL initial response: %w", err)
	}
	init, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok || init.AuthMechanism != scramMechanism {
		return errors.New("client did not choose SCRAM-SHA-256")
	}
	serverFirst, err := sc.first(init.Data)
	if err != nil {
		return err
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	msg, err = be.Receive()
	if err != nil {
		return fmt.Errorf("read SASL response: %w", err)
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return errors.New("expected SASL response")
	}
	serverFinal, err := sc.final(resp.Data)
	if err != nil {
		return err
	}
	if !known {
		return errors.New("unknown sandbox")
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return nil
}

// passedParams are client start-up parameters applied to the upstream
// session; others (options, search_path…) are ignored.
var passedParams = []string{"client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "extra_float_digits", "application_name"}

// attach takes an upstream connection, applies the client's parameters and
// completes the client's start-up.
func (s *session) attach(ctx context.Context, be *pgproto3.Backend) error {
	for _, name := range passedParams {
		if v, ok := lookupFold(s.params, name); ok {
			if r := policy.SettingRefusal(name, v); r != "" {
				s.fatal(be, codeInvalidParameter, fmt.Sprintf("sandgate does not accept %s = %s: %s", name, v, r),
					"connect with client_encoding UTF8 (PGCLIENTENCODING=UTF8)")
				return fmt.Errorf("start-up parameter %s refused", name)
			}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, s.srv.cfg.StartupTimeout)
	defer cancel()
	up, reused, err := s.srv.pool.get(dctx, poolKey{s.sandbox.Name, s.database}, "sandgate/"+s.sandbox.Name)
	if err != nil {
		s.log.Warn("upstream unavailable", "err", err)
		s.fatal(be, codeCannotConnect, "sandgate cannot reach the database right now",
			"the upstream database is down or refusing connections; try again shortly, and tell the gateway's operators if it persists")
		return err
	}
	params := make(map[string]string, len(up.params))
	for k, v := range up.params {
		params[k] = v
	}
	if err := s.applyParams(dctx, up, params); err != nil {
		up.conn.Close()
		s.fatal(be, codeConnectionFailure, "sandgate could not prepare the database session", "try again")
		return fmt.Errorf("apply parameters: %w", err)
	}
	s.upMu.Lock()
	s.up = up
	s.upMu.Unlock()
	be.Send(&pgproto3.AuthenticationOk{})
	for k, v := range params {
		be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	var secret [4]byte
	putUint32(secret[:], s.cancelKey.secret)
	be.Send(&pgproto3.BackendKeyData{ProcessID: s.cancelKey.pid, SecretKey: secret[:]})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		return fmt.Errorf("complete start-up: %w", err)
	}
	s.log.Debug("session started", "reused_upstream", reused)
	return nil
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// applyParams sends SET for the client's start-up parameters (and RESET for
// the others, which a reused connection may carry) and collects the
// ParameterStatus values the server reports.
func (s *session) applyParams(ctx context.Context, up *serverConn, params map[string]string) error {
	var sql strings.Builder
	for _, name := range passedParams {
		v, ok := lookupFold(s.params, name)
		if !ok {
			continue
		}
		if cur, ok := lookupFold(params, name); ok && cur == v {
			continue // already so: save a round trip
		}
		fmt.Fprintf(&sql, "SET %s = %s;", name, quoteLiteral(v))
	}
	if sql.Len() == 0 {
		return nil
	}
	return simpleExchange(ctx, up, sql.String(), params)
}

func lookupFold(m map[string]string, key string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), "'", "''") + "'"
}

// simpleExchange runs sql on an idle upstream connection and reads until
// ReadyForQuery, recording ParameterStatus values in params (if not nil).
func simpleExchange(ctx context.Context, up *serverConn, sql string, params map[string]string) error {
	if dl, ok := ctx.Deadline(); ok {
		up.conn.SetDeadline(dl)
		defer up.conn.SetDeadline(time.Time{})
	}
	out, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	if _, err := up.conn.Write(out); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	fr := newFrameReader(up.conn, 1<<20)
	defer fr.release()
	var firstErr error
	for {
		typ, body, err := fr.next()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		switch typ {
		case 'S':
			var ps pgproto3.ParameterStatus
			if ps.Decode(body) == nil && params != nil {
				params[ps.Name] = ps.Value
			}
		case 'E':
			var e pgproto3.ErrorResponse
			e.Decode(body)
			if firstErr == nil {
				firstErr = fmt.Errorf("server error %s: %s", e.Code, e.Message)
			}
		case 'Z':
			if firstErr == nil && (len(body) != 1 || body[0] != 'I') {
				firstErr = fmt.Errorf("connection left in transaction state %q", body)
			}
			return firstErr
		}
	}
}
