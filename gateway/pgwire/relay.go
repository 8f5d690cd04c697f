package pgwire

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/sandgate/sandgate/policy"
)

// pending is one client message whose upstream response the server pump
// must still see, queued in the order it was sent.
type pending struct {
	kind     byte              // 'Q' query, 'P' parse, 'B' bind, 'D' describe, 'E' execute, 'C' close, 'S' sync
	stmt     *policy.Statement // Q, P
	denial   *policy.Denial    // Q, P: the upstream error is replaced by this
	name     string            // P statement; B portal; D, C statement or portal; E portal
	stmtName string            // B
	formats  []int16           // B result formats
	target   byte              // D, C: 'S' or 'P'
	internal bool              // D sent by sandgate: its response is swallowed
	rec      *stmtRecord       // Q, E, and a denied P: what the statement did
}

// queue is the FIFO of pending responses shared by the two pumps. Its
// records are reused: push copies into a free one, pop hands one to the
// server pump, which may use it until it calls recycle (after each server
// message), so the steady state allocates none.
type queue struct {
	mu    sync.Mutex
	items []*pending
	head  int
	done  []*pending // popped, still in the server pump's hands; server pump only
	free  []*pending
}

// maxFreePending bounds the records kept for reuse, so that one long
// pipeline does not pin its peak for the rest of the session.
const maxFreePending = 64

func (q *queue) push(p pending) {
	q.mu.Lock()
	var it *pending
	if n := len(q.free); n > 0 {
		it = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		it = new(pending)
	}
	*it = p
	q.items = append(q.items, it)
	q.mu.Unlock()
}

// recycle returns the records popped so far for reuse; the server pump
// calls it when it holds none of them any more.
func (q *queue) recycle() {
	if len(q.done) == 0 {
		return
	}
	q.mu.Lock()
	for i, it := range q.done {
		*it = pending{}
		if len(q.free) < maxFreePending {
			q.free = append(q.free, it)
		}
		q.done[i] = nil
	}
	q.done = q.done[:0]
	q.mu.Unlock()
}

func (q *queue) front() *pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head < len(q.items) {
		return q.items[q.head]
	}
	return nil
}

func (q *queue) pop() *pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head >= len(q.items) {
		return nil
	}
	p := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	q.done = append(q.done, p)
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return p
}

func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.items)
}

type relayStats struct {
	statements, denied, rows int64
}

// protoError is a client protocol violation: the session ends with 08P01.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

// relay runs the steady state: on an event loop (relayOnLoop) when the
// session's sockets allow it, otherwise with one goroutine per direction.
// The first failure ends the session; the upstream connection goes back to
// the pool only after a clean Terminate with nothing pending.
func (s *session) relay(ctx context.Context) (relayStats, error) {
	up := s.upstream()
	cp := &clientPump{s: s, up: up, q: &queue{}}
	sp := newServerPump(s, up, cp.q)
	sp.sessCtx = ctx
	first, reusable, onLoop := s.relayOnLoop(ctx, cp, sp)
	if !onLoop {
		first, reusable = s.relayGoroutines(ctx, cp, sp)
	}
	clean := errors.Is(first, errTerminate)
	putOutBuf(cp.out)
	putOutBuf(sp.out)
	if !clean {
		s.reportFatal(first)
	}
	stats := relayStats{statements: cp.statements, denied: cp.denied + sp.denied, rows: sp.rows}
	s.release(ctx, up, reusable && !sp.inCopy && sp.txStatus != 0, sp.txStatus)
	s.upMu.Lock()
	s.up = nil
	s.upMu.Unlock()
	if clean || errors.Is(first, io.EOF) {
		return stats, nil // a client that just hangs up is not an error
	}
	return stats, first
}

// relayGoroutines runs one pump per direction, each in its own goroutine
// reading with blocking calls. It returns the first pump's error and
// whether the upstream connection is left clean for reuse.
func (s *session) relayGoroutines(ctx context.Context, cp *clientPump, sp *serverPump) (first error, reusable bool) {
	up := cp.up
	cp.in = newFrameReader(s.client, s.srv.cfg.MaxMessageBytes)
	sp.in = newFrameReader(up.conn, s.srv.cfg.MaxServerMessageBytes)
	stop := context.AfterFunc(ctx, func() {
		now := time.Now()
		s.client.SetDeadline(now)
		up.conn.SetDeadline(now)
	})
	defer stop()
	errc := make(chan error, 2)
	go cp.run(errc)
	go sp.run(errc)
	first = <-errc
	// Unblock the other pump: on a clean Terminate the server pump is idle
	// or still owes responses, which makes the connection not reusable.
	reusable = errors.Is(first, errTerminate) && cp.q.empty()
	s.client.SetReadDeadline(time.Now())
	up.conn.SetReadDeadline(time.Now())
	<-errc
	cp.in.release()
	sp.in.release()
	return first, reusable
}

var (
	errTerminate    = errors.New("client terminated")
	errUpstreamGone = errors.New("upstream connection lost")
)

// reportFatal tells the client why its session ends, when it can still hear.
func (s *session) reportFatal(err error) {
	var pe *protoError
	var msg *pgproto3.ErrorResponse
	switch {
	case errors.As(err, &pe):
		msg = &pgproto3.ErrorResponse{Severity: "FATAL", Code: codeProtocolViolation, Message: "protocol violation: " + pe.msg,
			Hint: "the client sent a message sandgate cannot accept; the session is closed, other sessions are not affected"}
	case errors.Is(err, errUpstreamGone):
		msg = &pgproto3.ErrorResponse{Severity: "FATAL", Code: codeAdminShutdown, Message: "the connection to the database was lost",
			Hint: "the database restarted or is down; reconnect — sandgate will open a new connection"}
	case errors.Is(err, errIdle):
		msg = &pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P05", Message: "closing the session after its idle timeout"}
	default:
		return
	}
	msg.SeverityUnlocalized = msg.Severity
	buf, _ := msg.Encode(nil)
	s.writeMu.Lock()
	s.client.SetWriteDeadline(time.Now().Add(time.Second))
	s.client.Write(buf)
	s.writeMu.Unlock()
}

var errIdle = errors.New("idle timeout")

// endForPolicy tells the client its session ends because the policy
// changed, and closes it; the relay then ends as for a client that hung up.
func (s *session) endForPolicy(reason string) {
	msg := &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: codeAdminShutdown,
		Message: "terminating the session: " + reason,
		Hint:    "reconnect: the new session runs under the policy now in force"}
	buf, _ := msg.Encode(nil)
	s.log.Info("session ended by a policy reload", "reason", reason)
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.loopAbort != nil {
		s.loopAbort(&farewell{msg: buf})
		return
	}
	s.writeMu.Lock()
	s.client.SetWriteDeadline(time.Now().Add(time.Second))
	s.client.Write(buf)
	s.writeMu.Unlock()
	s.client.Close()
}

// closeClient ends the session from outside it (the server shutting down).
func (s *session) closeClient() {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.loopAbort != nil {
		s.loopAbort(io.EOF)
		return
	}
	s.client.Close()
}

// farewell ends a relay on an event loop: its message is written to the
// client, which is then closed.
type farewell struct{ msg []byte }

func (f *farewell) Error() string { return "session ended by the gateway" }

// release resets the upstream connection and pools it, or closes it.
func (s *session) release(ctx context.Context, up *serverConn, reusable bool, txStatus byte) {
	if !reusable || s.srv.cfg.PoolIdlePerKey == 0 {
		up.conn.Close()
		return
	}
	up.conn.SetDeadline(time.Time{})
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if txStatus != 'I' {
		err = simpleExchange(rctx, up, "ROLLBACK", nil)
	}
	if err == nil {
		err = simpleExchange(rctx, up, "DISCARD ALL", nil)
	}
	if err != nil {
		s.log.Info("upstream connection not reusable", "err", err)
		up.conn.Close()
		return
	}
	s.srv.pool.put(up)
}
