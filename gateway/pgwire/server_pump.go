package pgwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/sandgate/sandgate/policy"
	"go.opentelemetry.io/otel/attribute"
)

// serverPump relays upstream→client, applying the plan of each result.
type serverPump struct {
	s   *session
	up  *serverConn
	in  *frameReader
	q   *queue
	out []byte
	ctx context.Context

	sessCtx  context.Context      // carries the session span
	curRec   *stmtRecord          // the statement whose rows are streaming
	attrBuf  []attribute.KeyValue // scratch for a statement span's attributes
	finished []*stmtRecord        // answered statements not yet observed

	stmts   map[string]*prepared
	portals map[string]*portal
	unnamed portal                    // the unnamed portal, reused Bind after Bind
	plans   [2]map[string]*resultPlan // by Strict, keyed by RowDescription body

	cur       *resultPlan // plan of the rows now streaming; nil passes them
	curFmts   []int16     // result formats of the rows now streaming
	curStrict bool        // the statement now running reads protected tables
	copyPlan  *copyPlan
	inCopy    bool

	skipping  bool           // swallow everything until ReadyForQuery
	skipErr   *policy.Denial // sent before that ReadyForQuery
	heldParse bool           // a ParseComplete waits for the internal Describe
	heldRec   *stmtRecord    // the held Parse's record, finished if its columns are refused
	txStatus  byte

	denied, rows int64

	rd      pgproto3.RowDescription
	typeMap *pgtype.Map
	vals    [][]byte // values of the row being rewritten
}

type prepared struct {
	stmt   *policy.Statement
	plan   *resultPlan
	denial *policy.Denial
}

type portal struct {
	prep    *prepared
	formats []int16
}

func newServerPump(s *session, up *serverConn, q *queue) *serverPump {
	return &serverPump{s: s, up: up, q: q, ctx: context.Background(),
		stmts: map[string]*prepared{}, portals: map[string]*portal{},
		plans: [2]map[string]*resultPlan{{}, {}}, txStatus: 'I'}
}

func (p *serverPump) run(errc chan<- error) { errc <- p.loop() }

func (p *serverPump) loop() error {
	p.out = getOutBuf()
	defer p.observeFinished()
	for {
		if p.in.buffered() == 0 {
			err := p.flush()
			p.observeFinished()
			if err != nil {
				return err
			}
		}
		typ, body, err := p.in.next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return err // the relay is stopping
			}
			return fmt.Errorf("%w: %v", errUpstreamGone, err)
		}
		if err := p.handle(typ, body); err != nil {
			return err
		}
	}
}

func (p *serverPump) flush() error {
	if len(p.out) == 0 {
		return nil
	}
	p.s.writeMu.Lock()
	_, err := p.s.client.Write(p.out)
	p.s.writeMu.Unlock()
	p.out = p.out[:0]
	if err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

// emit forwards a message unless the pump is skipping.
func (p *serverPump) emit(typ byte, body []byte) {
	if !p.skipping {
		p.out = appendMsg(p.out, typ, body)
	}
}

// handle deals with one server message; the queue records it popped are
// recycled once it is done with them.
func (p *serverPump) handle(typ byte, body []byte) error {
	err := p.dispatch(typ, body)
	p.q.recycle()
	return err
}

func (p *serverPump) dispatch(typ byte, body []byte) error {
	switch typ {
	case 'D':
		return p.onDataRow(body)
	case 'Z':
		return p.onReady(body)
	case 'T':
		return p.onRowDescription(body)
	case 'C', 'I', 's':
		p.cur, p.copyPlan, p.inCopy, p.curRec = nil, nil, false, nil
		if front := p.q.front(); front != nil && front.kind == 'E' {
			p.q.pop()
			p.finishExecute(front, "")
		}
		p.emit(typ, body)
	case '1':
		return p.onParseComplete(body)
	case '2':
		if b := p.q.pop(); b != nil && b.kind == 'B' {
			if b.name == "" {
				// The unnamed portal's record is reused: nothing keeps a
				// pointer to a portal beyond the message it serves.
				p.unnamed = portal{prep: p.stmts[b.stmtName], formats: b.formats}
				p.portals[""] = &p.unnamed
			} else {
				p.portals[b.name] = &portal{prep: p.stmts[b.stmtName], formats: b.formats}
			}
		}
		p.emit(typ, body)
	case '3':
		if c := p.q.pop(); c != nil && c.kind == 'C' {
			if c.target == 'S' {
				delete(p.stmts, c.name)
			} else {
				delete(p.portals, c.name)
			}
		}
		p.emit(typ, body)
	case 't':
		if d := p.q.front(); d == nil || !d.internal {
			p.emitParameterDescription(d, body)
		}
	case 'n':
		return p.onNoData(body)
	case 'E':
		return p.onError(body)
	case 'N':
		p.emitNotice(body)
	case 'H':
		return p.onCopyOut(body)
	case 'd':
		return p.onCopyData(body)
	case 'c':
		p.emit(typ, body)
	case 'S':
		p.emit(typ, body)
	case 'A':
		// NotificationResponse: LISTEN is refused, so none should come; if
		// one does, its payload is another application's, and is dropped.
	case 'G', 'W':
		// COPY FROM and replication are refused before they reach the
		// server; if one starts anyway, end the session rather than relay it.
		return &protoError{msg: "the server started a COPY that sandgate does not relay"}
	default:
		return fmt.Errorf("%w: unexpected message %q from the server", errUpstreamGone, typ)
	}
	return nil
}

func (p *serverPump) onReady(body []byte) error {
	if len(body) == 1 {
		p.txStatus = body[0]
	}
	if done := p.q.pop(); done != nil && done.rec != nil { // the Query or Sync this answers
		if p.skipping && done.rec.denial == nil {
			done.rec.denial = p.skipErr
		}
		p.finishStatement(done.rec)
	}
	p.curRec = nil
	p.portals[""] = nil
	p.cur, p.copyPlan, p.inCopy, p.curStrict = nil, nil, false, false
	if p.skipping {
		p.skipping = false
		p.sendDenial(p.skipErr)
		p.skipErr = nil
	}
	p.emit('Z', body)
	return nil
}

// skipToReady refuses the rest of the current query or pipeline: the client
// sees one error, then ReadyForQuery.
func (p *serverPump) skipToReady(d *policy.Denial) {
	if p.skipping {
		return
	}
	p.denied++
	p.s.log.Info("result denied", "rule", d.Rule, "reason", d.Msg)
	p.skipping, p.skipErr = true, d
}

func (p *serverPump) sendDenial(d *policy.Denial) {
	if d == nil {
		return
	}
	e := pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: d.Code,
		Message: d.Msg, Hint: d.Hint, Detail: "sandgate rule: " + d.Rule}
	p.out, _ = e.Encode(p.out)
}

func (p *serverPump) onParseComplete(body []byte) error {
	pp := p.q.pop()
	if pp == nil || pp.kind != 'P' {
		p.emit('1', body)
		return nil
	}
	p.stmts[pp.name] = &prepared{stmt: pp.stmt}
	if next := p.q.front(); next != nil && next.internal {
		p.heldParse, p.heldRec = true, pp.rec // released by the internal Describe's answer
		return nil
	}
	p.emit('1', body)
	return nil
}

// releaseParse answers the held ParseComplete: a statement whose columns
// the policy refuses fails at Parse, as it would on the server.
func (p *serverPump) releaseParse(prep *prepared) {
	if !p.heldParse {
		return
	}
	p.heldParse = false
	rec := p.heldRec
	p.heldRec = nil
	if prep != nil && prep.denial != nil {
		p.skipToReady(prep.denial)
		if rec != nil {
			rec.denial = prep.denial
			p.finishStatement(rec)
		}
		return
	}
	p.emit('1', nil)
}

func (p *serverPump) onNoData(body []byte) error {
	d := p.q.pop()
	if d != nil && d.internal {
		prep := p.stmts[d.name]
		if prep != nil {
			prep.plan = &resultPlan{}
		}
		p.releaseParse(prep)
		return nil
	}
	p.emit('n', body)
	return nil
}

func (p *serverPump) onError(body []byte) error {
	front := p.q.front()
	var denial *policy.Denial
	strict := p.curStrict
	if front != nil {
		switch front.kind {
		case 'Q':
			denial = front.denial
			strict = strict || (front.stmt != nil && front.stmt.Strict)
		case 'S':
		default:
			// Extended protocol: the server skips to Sync.
			denial = front.denial // a refused Parse or Bind
			strict = strict || p.strictPending(front)
			for f := p.q.front(); f != nil && f.kind != 'S'; f = p.q.front() {
				p.q.pop()
				p.finishExecute(f, "server_error")
			}
			if p.heldParse {
				p.heldParse = false
			}
		}
	}
	p.cur, p.copyPlan, p.inCopy, p.curRec = nil, nil, false, nil
	if front != nil && front.kind == 'Q' && front.rec != nil && front.rec.denial == nil {
		front.rec.errClass = "server_error"
	}
	if p.skipping {
		return nil
	}
	if denial != nil {
		p.sendDenial(denial)
		return nil
	}
	if strict {
		return p.emitScrubbed('E', body)
	}
	p.emit('E', body)
	return nil
}

// strictPending reports whether the statement behind an extended-protocol
// message reads protected tables; unknown counts as yes.
func (p *serverPump) strictPending(m *pending) bool {
	var prep *prepared
	switch m.kind {
	case 'P':
		return m.stmt == nil || m.stmt.Strict
	case 'E':
		if pt := p.portals[m.name]; pt != nil {
			prep = pt.prep
		}
	case 'B':
		prep = p.stmts[m.stmtName]
	case 'D', 'C':
		if m.target == 'S' {
			prep = p.stmts[m.name]
		} else if pt := p.portals[m.name]; pt != nil {
			prep = pt.prep
		}
	}
	return prep == nil || prep.stmt == nil || prep.stmt.Strict
}

func (p *serverPump) emitNotice(body []byte) {
	if p.curStrict {
		p.emitScrubbed('N', body)
		return
	}
	p.emit('N', body)
}

// emitScrubbed forwards an error or notice of a statement that reads
// protected columns with only its severity and SQLSTATE: its text could
// quote a protected value ("invalid input syntax for type integer: …").
func (p *serverPump) emitScrubbed(typ byte, body []byte) error {
	var e pgproto3.ErrorResponse
	if err := e.Decode(body); err != nil {
		return fmt.Errorf("%w: malformed error response: %v", errUpstreamGone, err)
	}
	clean := pgproto3.ErrorResponse{Severity: e.Severity, SeverityUnlocalized: e.SeverityUnlocalized, Code: e.Code,
		Message: fmt.Sprintf("the statement failed in the database (SQLSTATE %s); sandgate withholds the server's message because the statement reads protected columns", e.Code),
		Hint:    "check the statement's casts and conditions on protected columns"}
	start := len(p.out)
	if typ == 'N' {
		p.out, _ = (*pgproto3.NoticeResponse)(&clean).Encode(p.out)
	} else {
		p.out, _ = clean.Encode(p.out)
	}
	if p.skipping {
		p.out = p.out[:start]
	}
	return nil
}

func (p *serverPump) onRowDescription(body []byte) error {
	front := p.q.front()
	if front == nil {
		return fmt.Errorf("%w: RowDescription with nothing pending", errUpstreamGone)
	}
	switch front.kind {
	case 'Q':
		st := front.stmt
		p.curStrict = st != nil && st.Strict
		rp, err := p.planFor(body, st)
		if err != nil {
			p.skipToReady(asDenial(err))
			return nil
		}
		p.cur, p.curFmts = rp, rp.formats
		if front.rec != nil {
			front.rec.replied()
			front.rec.columns = append(front.rec.columns, rp.auditCols...)
		}
		p.emitRowDescription(body, rp)
	case 'D':
		p.q.pop()
		if front.target == 'S' {
			return p.describedStatement(front, body)
		}
		pt := p.portals[front.name]
		var st *policy.Statement
		if pt != nil && pt.prep != nil {
			st = pt.prep.stmt
		}
		rp, err := p.planFor(body, st)
		if err != nil {
			p.skipToReady(asDenial(err))
			return nil
		}
		p.emitRowDescription(body, rp)
	default:
		return fmt.Errorf("%w: unexpected RowDescription", errUpstreamGone)
	}
	return nil
}

func (p *serverPump) describedStatement(d *pending, body []byte) error {
	prep := p.stmts[d.name]
	var st *policy.Statement
	if prep != nil {
		st = prep.stmt
	}
	rp, err := p.planFor(body, st)
	if prep != nil {
		prep.plan, prep.denial = rp, nil
		if err != nil {
			prep.denial = asDenial(err)
		}
	}
	if d.internal {
		p.releaseParse(prep)
		return nil
	}
	if err != nil {
		p.skipToReady(asDenial(err))
		return nil
	}
	p.emitRowDescription(body, rp)
	return nil
}

func (p *serverPump) emitRowDescription(body []byte, rp *resultPlan) {
	if rp.rewritten != nil {
		p.emit('T', rp.rewritten)
		return
	}
	p.emit('T', body)
}

// onDataRow applies the current plan. Rows of an Execute take the plan of
// their portal, learnt from the statement's Describe.
func (p *serverPump) onDataRow(body []byte) error {
	if p.skipping {
		return nil
	}
	p.rows++
	p.countRow()
	if unchecked {
		p.out = appendMsg(p.out, 'D', body)
		return nil
	}
	if p.cur == nil {
		if front := p.q.front(); front != nil && front.kind == 'E' {
			pt := p.portals[front.name]
			if pt == nil || pt.prep == nil || pt.prep.plan == nil {
				p.skipToReady(&policy.Denial{Code: policy.CodeInsufficientPrivilege, Rule: "unplanned",
					Msg: "sandgate could not identify the columns of this result", Hint: "prepare the statement with Parse before executing it"})
				return nil
			}
			p.curStrict = pt.prep.stmt != nil && pt.prep.stmt.Strict
			p.cur, p.curFmts = pt.prep.plan, pt.formats
		}
	}
	if p.cur == nil || !p.cur.any {
		p.out = appendMsg(p.out, 'D', body)
		return nil
	}
	var t0 time.Time
	timed := p.curRec != nil && p.s.srv.observed()
	if timed {
		t0 = time.Now()
	}
	out, err := p.cur.rewriteRow(p.out, body, p.curFmts, p)
	if timed {
		p.curRec.transform += time.Since(t0)
	}
	if err != nil {
		p.skipToReady(asDenial(err))
		return nil
	}
	p.out = out
	return nil
}

var _ = bytes.Equal

// countRow counts a row for the statement it belongs to.
func (p *serverPump) countRow() {
	if p.curRec == nil {
		if f := p.q.front(); f != nil {
			p.curRec = f.rec
		}
	}
	if p.curRec != nil {
		p.curRec.rows++
		if p.curRec.rows == 1 {
			p.curRec.replied()
		}
	}
}

// finishExecute completes the record of an Execute (or of a Parse refused
// by policy) whose response has ended.
func (p *serverPump) finishExecute(m *pending, errClass string) {
	rec := m.rec
	if rec == nil {
		return
	}
	if m.kind == 'E' {
		if pt := p.portals[m.name]; pt != nil && pt.prep != nil {
			rec.st = pt.prep.stmt
			if pt.prep.plan != nil {
				rec.columns = pt.prep.plan.auditCols
			}
		}
	}
	if rec.denial == nil {
		rec.errClass = errClass
	}
	if p.skipping && rec.denial == nil {
		rec.denial = p.skipErr
	}
	p.finishStatement(rec)
}

// emitParameterDescription forwards a statement's parameter types; a
// parameter compared with a tokenised column is described as text, since
// the client binds a token there, whatever the column's type.
func (p *serverPump) emitParameterDescription(d *pending, body []byte) {
	var st *policy.Statement
	if d != nil && d.kind == 'D' && d.target == 'S' {
		if prep := p.stmts[d.name]; prep != nil {
			st = prep.stmt
		}
	}
	if st == nil || !st.ParamLookups() {
		p.emit('t', body)
		return
	}
	var pd pgproto3.ParameterDescription
	if err := pd.Decode(body); err != nil {
		p.emit('t', body)
		return
	}
	for _, l := range st.Lookups {
		if l.Param > 0 && l.Param <= len(pd.ParameterOIDs) {
			pd.ParameterOIDs[l.Param-1] = textOID
		}
	}
	if !p.skipping {
		p.out, _ = pd.Encode(p.out)
	}
}
