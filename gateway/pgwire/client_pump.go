package pgwire

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/sandgate/sandgate/policy"
)

// clientPump relays client→upstream. Every statement is checked by the
// sandbox's policy before it is sent; a denied one is replaced by a statement
// that fails to parse upstream, so the server's error handling (aborting the
// transaction, skipping to Sync) stays exact, and the server pump replaces
// that error with the denial.
type clientPump struct {
	s   *session
	up  *serverConn
	in  *frameReader
	q   *queue
	out []byte

	statements, denied int64
	deniedSt           *policy.Statement            // what the policy learnt of the last denied statement
	prepared           map[string]*policy.Statement // statements whose Bind parameters hold tokens

	// decoded messages, reused
	query    pgproto3.Query
	parse    pgproto3.Parse
	bind     pgproto3.Bind
	describe pgproto3.Describe
	execute  pgproto3.Execute
	close    pgproto3.Close
}

// deniedSQL fails to parse upstream.
const deniedSQL = "SANDGATE POLICY DENIAL"

func (c *clientPump) run(errc chan<- error) { errc <- c.loop() }

func (c *clientPump) loop() error {
	c.out = getOutBuf()
	idle := c.s.srv.cfg.IdleTimeout
	for {
		if c.in.buffered() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
			if idle > 0 {
				c.s.client.SetReadDeadline(time.Now().Add(idle))
			}
		}
		typ, body, err := c.in.next()
		if err != nil {
			return c.readError(err, idle > 0)
		}
		if err := c.handle(typ, body); err != nil {
			if errors.Is(err, errTerminate) {
				c.flush()
			}
			return err
		}
	}
}

func (c *clientPump) readError(err error, idle bool) error {
	var ne net.Error
	switch {
	case errors.Is(err, errTooLarge), errors.Is(err, errBadLength):
		return &protoError{msg: err.Error()}
	case idle && errors.As(err, &ne) && ne.Timeout():
		return errIdle
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return fmt.Errorf("read from client: %w", err)
}

func (c *clientPump) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.up.conn.Write(c.out)
	c.out = c.out[:0]
	if err != nil {
		return fmt.Errorf("%w: %v", errUpstreamGone, err)
	}
	return nil
}

func (c *clientPump) handle(typ byte, body []byte) error {
	switch typ {
	case 'Q':
		return c.onQuery(body)
	case 'P':
		return c.onParse(body)
	case 'B':
		if err := decodeBind(&c.bind, body); err != nil {
			return &protoError{msg: "malformed Bind: " + err.Error()}
		}
		if st := c.prepared[c.bind.PreparedStatement]; st != nil {
			return c.bindWithLookups(st)
		}
		c.q.push(pending{kind: 'B', name: c.bind.DestinationPortal, stmtName: c.bind.PreparedStatement,
			formats: ownFormats(c.bind.ResultFormatCodes)})
	case 'D':
		if err := c.describe.Decode(body); err != nil {
			return &protoError{msg: "malformed Describe: " + err.Error()}
		}
		c.q.push(pending{kind: 'D', target: c.describe.ObjectType, name: c.describe.Name})
	case 'E':
		if err := decodeExecute(&c.execute, body); err != nil {
			return &protoError{msg: "malformed Execute: " + err.Error()}
		}
		c.q.push(pending{kind: 'E', name: c.execute.Portal, rec: c.record(c.clock(), 0, nil, nil)})
	case 'C':
		if err := c.close.Decode(body); err != nil {
			return &protoError{msg: "malformed Close: " + err.Error()}
		}
		c.q.push(pending{kind: 'C', target: c.close.ObjectType, name: c.close.Name})
	case 'S':
		if len(body) != 0 {
			return &protoError{msg: "malformed Sync"}
		}
		c.q.push(pending{kind: 'S'})
	case 'H':
		if len(body) != 0 {
			return &protoError{msg: "malformed Flush"}
		}
	case 'X':
		return errTerminate
	case 'F':
		// The fast-path function call reaches large objects and any function
		// by OID, past the statement checks: refuse it like a query.
		c.denied++
		c.q.push(pending{kind: 'Q', denial: &policy.Denial{Code: policy.CodeInsufficientPrivilege, Rule: "function-call",
			Msg: "the fast-path function call is not allowed through sandgate", Hint: "call the function in a SELECT"}})
		c.out = appendMsg(c.out, 'Q', append([]byte(deniedSQL), 0))
		return nil
	case 'd', 'c', 'f':
		// CopyData/CopyDone/CopyFail outside COPY IN (which is refused):
		// PostgreSQL ignores them too.
		return nil
	default:
		return &protoError{msg: fmt.Sprintf("unexpected message type %q", typ)}
	}
	c.out = appendMsg(c.out, typ, body)
	return nil
}

// check asks the policy about one statement text, counting and logging a
// denial. A parse error's text can quote the statement, so only its rule is
// logged.
func (c *clientPump) check(sql string) (*policy.Statement, *policy.Denial) {
	c.statements++
	if unchecked {
		return &policy.Statement{}, nil
	}
	st, err := c.s.sandbox.CheckStatement(sql)
	if err == nil {
		return st, nil
	}
	c.deniedSt = st // for the audit record only
	c.denied++
	d := asDenial(err)
	if d.Rule == "parse" {
		c.s.log.Info("statement denied", "rule", d.Rule)
	} else {
		c.s.log.Info("statement denied", "rule", d.Rule, "reason", d.Msg)
	}
	return nil, d
}

func (c *clientPump) onQuery(body []byte) error {
	if err := c.query.Decode(body); err != nil {
		return &protoError{msg: "malformed Query: " + err.Error()}
	}
	start := c.clock()
	st, denial := c.check(c.query.String)
	decide := c.since(start)
	if denial != nil {
		c.q.push(pending{kind: 'Q', denial: denial, rec: c.record(start, decide, c.deniedSt, denial)})
		c.out = appendMsg(c.out, 'Q', append([]byte(deniedSQL), 0))
		return nil
	}
	p := pending{kind: 'Q', stmt: st, rec: c.record(start, decide, st, nil)}
	if !st.NeedsRewrite() {
		c.q.push(p)
		c.out = appendMsg(c.out, 'Q', body)
		return nil
	}
	sql, err := st.Rewrite(c.query.String)
	if err != nil {
		// Fail the query upstream and answer with the denial instead.
		p.denial = asDenial(err)
		if p.rec != nil {
			p.rec.denial = p.denial
		}
		c.denied++
		sql = deniedSQL
	}
	c.q.push(p)
	c.out, _ = (&pgproto3.Query{String: sql}).Encode(c.out)
	return nil
}

func (c *clientPump) onParse(body []byte) error {
	if err := decodeParse(&c.parse, body); err != nil {
		return &protoError{msg: "malformed Parse: " + err.Error()}
	}
	start := c.clock()
	st, denial := c.check(c.parse.Query)
	decide := c.since(start)
	if denial != nil {
		c.q.push(pending{kind: 'P', denial: denial, name: c.parse.Name, rec: c.record(start, decide, c.deniedSt, denial)})
		failing := pgproto3.Parse{Name: c.parse.Name, Query: deniedSQL}
		c.out, _ = failing.Encode(c.out)
		return nil
	}
	p := pending{kind: 'P', stmt: st, name: c.parse.Name, rec: c.record(start, decide, st, nil)}
	if err := c.rememberLookups(st); err != nil {
		return err
	}
	if !st.NeedsRewrite() {
		c.q.push(p)
		c.out = appendMsg(c.out, 'P', body)
	} else {
		sql, err := st.Rewrite(c.parse.Query)
		if err != nil {
			p.denial, p.stmt = asDenial(err), nil
			if p.rec != nil {
				p.rec.denial = p.denial
			}
			c.denied++
			sql = deniedSQL
		}
		c.q.push(p)
		rewritten := pgproto3.Parse{Name: c.parse.Name, Query: sql, ParameterOIDs: c.parse.ParameterOIDs}
		c.out, _ = rewritten.Encode(c.out)
	}
	if unchecked {
		return nil
	}
	// Learn the statement's result columns now: a client may Bind and
	// Execute without ever describing it.
	c.q.push(pending{kind: 'D', target: 'S', name: c.parse.Name, internal: true})
	d := pgproto3.Describe{ObjectType: 'S', Name: c.parse.Name}
	c.out, _ = d.Encode(c.out)
	return nil
}

// Result format codes as almost every Bind sends them, shared, never
// written to.
var (
	formatsText   = []int16{0}
	formatsBinary = []int16{1}
)

// ownFormats returns a Bind's result format codes in memory the pump may
// keep after the next message is decoded into the same Bind.
func ownFormats(codes []int16) []int16 {
	switch {
	case len(codes) == 0:
		return nil
	case len(codes) == 1 && codes[0] == 0:
		return formatsText
	case len(codes) == 1 && codes[0] == 1:
		return formatsBinary
	}
	return append([]int16(nil), codes...)
}

func asDenial(err error) *policy.Denial {
	var d *policy.Denial
	if errors.As(err, &d) {
		return d
	}
	return &policy.Denial{Code: codeInternal, Rule: "internal", Msg: "sandgate could not check the statement"}
}

// rememberLookups keeps, per statement name, a statement whose parameters
// are compared with tokenised columns, so its Binds can be rewritten.
func (c *clientPump) rememberLookups(st *policy.Statement) error {
	if c.prepared == nil {
		c.prepared = map[string]*policy.Statement{}
	}
	if !st.ParamLookups() {
		delete(c.prepared, c.parse.Name)
		return nil
	}
	if len(c.prepared) >= 10000 {
		return &protoError{msg: "too many prepared statements"}
	}
	c.prepared[c.parse.Name] = st
	return nil
}

// bindWithLookups reveals the tokens bound to a statement's lookup
// parameters and sends them as text; a value that is not a token of this
// sandbox fails the Bind with the denial.
func (c *clientPump) bindWithLookups(st *policy.Statement) error {
	b := c.bind
	params := append([][]byte(nil), b.Parameters...)
	p := pending{kind: 'B', name: b.DestinationPortal, stmtName: b.PreparedStatement,
		formats: ownFormats(b.ResultFormatCodes)}
	if err := st.RevealParams(params); err != nil {
		p.denial = asDenial(err)
		c.q.push(p)
		c.denied++
		failing := pgproto3.Bind{DestinationPortal: b.DestinationPortal, PreparedStatement: "sandgate denied statement"}
		c.out, _ = failing.Encode(c.out)
		return nil
	}
	c.q.push(p)
	// Revealed values are text, whatever format the client used for the token.
	formats := make([]int16, len(params))
	for i := range formats {
		formats[i] = formatOf(b.ParameterFormatCodes, i)
	}
	for _, l := range st.Lookups {
		if l.Param > 0 && l.Param <= len(formats) {
			formats[l.Param-1] = 0
		}
	}
	out := pgproto3.Bind{DestinationPortal: b.DestinationPortal, PreparedStatement: b.PreparedStatement,
		ParameterFormatCodes: formats, Parameters: params, ResultFormatCodes: b.ResultFormatCodes}
	c.out, _ = out.Encode(c.out)
	return nil
}

// clock reads the time for a statement's record; without anything
// observing statements (no tracer, audit log or metrics) it does not, and
// record returns nil, keeping the hot path free of that bookkeeping.
func (c *clientPump) clock() time.Time {
	if c.s.srv.observed() {
		return time.Now()
	}
	return time.Time{}
}

func (c *clientPump) since(start time.Time) time.Duration {
	if start.IsZero() {
		return 0
	}
	return time.Since(start)
}

func (c *clientPump) record(start time.Time, decide time.Duration, st *policy.Statement, d *policy.Denial) *stmtRecord {
	if start.IsZero() {
		return nil
	}
	return &stmtRecord{start: start, decide: decide, st: st, denial: d}
}
