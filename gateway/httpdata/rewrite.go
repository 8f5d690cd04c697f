package httpdata

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sandgate/sandgate/pseudonymise"
)

// Errors of a rewrite. They never contain values.
var (
	ErrNotJSON       = errors.New("response is not valid JSON")
	ErrResourceType  = errors.New(`"resourceType" is not the first member of its object`)
	ErrTooDeep       = errors.New("response nests deeper than the limit")
	ErrElementTooBig = errors.New("an array element a predicate must read is larger than the limit")
	ErrTransform     = errors.New("a field could not be transformed")
)

// tokenSource is a json.Decoder or a replay of buffered tokens.
type tokenSource interface {
	Token() (json.Token, error)
}

type replay struct {
	toks []json.Token
	i    int
}

func (r *replay) Token() (json.Token, error) {
	if r.i >= len(r.toks) {
		return nil, io.EOF
	}
	t := r.toks[r.i]
	r.i++
	return t, nil
}

// rewriter applies rules to one JSON document, token by token.
type rewriter struct {
	rules    []rule
	src      tokenSource
	dec      *json.Decoder
	out      jsonWriter
	ctx      pseudonymise.Context
	maxDepth int
	maxElem  int64
	scratch  []byte
}

// Rewrite reads one JSON document from r, applies the rules and writes the
// result to w. It is what the proxy runs on every response body.
func (p *Proxy) Rewrite(w io.Writer, r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	bw := bufio.NewWriterSize(w, 32<<10)
	rw := &rewriter{rules: p.rules, src: dec, dec: dec, out: jsonWriter{w: bw}, ctx: p.tctx,
		maxDepth: p.maxDepth, maxElem: int64(p.maxElem)}
	if err := rw.document(); err != nil {
		return err
	}
	return bw.Flush()
}

func (rw *rewriter) document() error {
	t, err := rw.next()
	if err != nil {
		return err
	}
	root := path{{name: "$"}}
	if err := rw.value(t, root, effect{action: ActionDrop, descend: true}, 0, true); err != nil {
		return err
	}
	if _, err := rw.dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the document", ErrNotJSON)
	}
	return nil
}

func (rw *rewriter) next() (json.Token, error) {
	t, err := rw.src.Token()
	if err != nil {
		if errors.Is(err, io.EOF) && rw.src == rw.dec {
			return nil, fmt.Errorf("%w: truncated", ErrNotJSON)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w at offset %d", ErrNotJSON, rw.dec.InputOffset())
		}
		return nil, err
	}
	return t, nil
}

// value handles one value whose first token is t, at path p with effect e.
// The caller has written the key (or the array separator) only if emit.
func (rw *rewriter) value(t json.Token, p path, e effect, depth int, top bool) error {
	if depth > rw.maxDepth {
		return ErrTooDeep
	}
	switch t {
	case json.Delim('{'):
		return rw.object(p, e, depth, top)
	case json.Delim('['):
		return rw.array(p, e, depth)
	}
	return rw.scalar(t, e)
}

// emits reports whether a value with effect e produces output.
func (e effect) emits() bool { return e.descend || e.action != ActionDrop }

func (rw *rewriter) object(p path, e effect, depth int, top bool) error {
	rw.out.open('{')
	first := true
	for {
		t, err := rw.next()
		if err != nil {
			return err
		}
		if t == json.Delim('}') {
			rw.out.close('}')
			return nil
		}
		k, _ := t.(string)
		if k == "resourceType" {
			if !first {
				return ErrResourceType
			}
			if p, e, err = rw.resource(); err != nil {
				return err
			}
			first = false
			continue
		}
		first = false
		if err := rw.member(k, p, e, depth); err != nil {
			return err
		}
	}
}

// resource starts a new resource: it reads and writes the resourceType and
// returns the path and effect its members start from.
func (rw *rewriter) resource() (path, effect, error) {
	t, err := rw.next()
	if err != nil {
		return nil, effect{}, err
	}
	typ, ok := t.(string)
	if !ok || typ == "" || typ == "*" || typ == "$" || strings.ContainsAny(typ, ".[") {
		return nil, effect{}, fmt.Errorf("%w: resourceType is not a type name", ErrNotJSON)
	}
	rw.out.key("resourceType")
	rw.out.scalar(typ)
	return path{{name: typ}}, effect{action: ActionDrop}, nil
}

// member handles one object member: drop it unseen or write it.
func (rw *rewriter) member(k string, parent path, inherited effect, depth int) error {
	p := append(parent[:len(parent):len(parent)], seg{name: k})
	e := resolve(rw.rules, p, inherited)
	t, err := rw.next()
	if err != nil {
		return err
	}
	if !e.emits() {
		return rw.skip(t)
	}
	rw.out.key(k)
	return rw.value(t, p, e, depth+1, false)
}

func (rw *rewriter) array(p path, e effect, depth int) error {
	rw.out.open('[')
	for {
		t, err := rw.next()
		if err != nil {
			return err
		}
		if t == json.Delim(']') {
			rw.out.close(']')
			return nil
		}
		if len(e.predKeys) > 0 && t == json.Delim('{') {
			if err := rw.predicated(p, e, depth); err != nil {
				return err
			}
			continue
		}
		if !e.emits() {
			if err := rw.skip(t); err != nil {
				return err
			}
			continue
		}
		if err := rw.value(t, p, e, depth+1, false); err != nil {
			return err
		}
	}
}

// scalar writes a kept or transformed scalar; a dropped one was skipped by
// the caller, except inside arrays and containers being walked.
func (rw *rewriter) scalar(t json.Token, e effect) error {
	if d, ok := t.(json.Delim); ok {
		return fmt.Errorf("%w: unexpected %v", ErrNotJSON, d)
	}
	switch e.action {
	case ActionKeep:
		rw.out.scalar(t)
		return nil
	case ActionTransform:
		return rw.transform(t, e.tr)
	}
	// Dropped scalar inside a walked container: write null so arrays keep
	// their length and objects their shape.
	rw.out.null()
	return nil
}

func (rw *rewriter) transform(t json.Token, tr pseudonymise.Transform) error {
	var in []byte
	null := false
	switch v := t.(type) {
	case string:
		in = append(rw.scratch[:0], v...)
	case json.Number:
		in = append(rw.scratch[:0], v...)
	case bool:
		in = fmt.Appendf(rw.scratch[:0], "%t", v)
	default:
		null = true
	}
	out, outNull, err := tr.Apply(nil, &rw.ctx, in, null)
	if err != nil {
		return fmt.Errorf("%w (%s)", ErrTransform, tr.Name())
	}
	if outNull {
		rw.out.null()
	} else {
		rw.out.stringBytes(out)
	}
	rw.scratch = in
	return nil
}

// skip consumes a value without writing it; objects inside are not
// inspected, but must still be valid JSON.
func (rw *rewriter) skip(t json.Token) error {
	depth := 0
	for {
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		if t, err = rw.next(); err != nil {
			return err
		}
	}
}

// predicated buffers one object element of an array whose rules carry a
// predicate, reads the predicate member and walks the element with the
// predicate in its path. The '{' has been read.
func (rw *rewriter) predicated(p path, e effect, depth int) error {
	toks, err := rw.buffer()
	if err != nil {
		return err
	}
	key := e.predKeys[0]
	pred := ""
	for i := 1; i+1 < len(toks); i++ { // top-level members only
		if k, ok := toks[i].(string); ok && k == key {
			if v, ok := toks[i+1].(string); ok {
				pred = v
			}
			break
		}
		if err := skipBuffered(toks, &i); err != nil {
			return err
		}
	}
	last := p[len(p)-1]
	pp := append(p[:len(p)-1:len(p)-1], seg{name: last.name, predKey: key, pred: pred, hasPred: true})
	pe := resolve(rw.rules, pp, effect{action: e.action, tr: e.tr})
	saved := rw.src
	rw.src = &replay{toks: toks}
	defer func() { rw.src = saved }()
	t, _ := rw.next()
	if !pe.emits() {
		return rw.skip(t)
	}
	return rw.value(t, pp, pe, depth+1, false)
}

// buffer reads the rest of an object whose '{' was read, bounded by
// maxElem input bytes, and returns all its tokens including both braces.
func (rw *rewriter) buffer() ([]json.Token, error) {
	start := rw.dec.InputOffset()
	toks := []json.Token{json.Delim('{')}
	for depth := 1; depth > 0; {
		t, err := rw.next()
		if err != nil {
			return nil, err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		toks = append(toks, t)
		if rw.dec.InputOffset()-start > rw.maxElem {
			return nil, ErrElementTooBig
		}
	}
	return toks, nil
}

// skipBuffered advances *i past the member value that starts at toks[*i+1]
// (the key is at toks[*i]), leaving *i on the value's last token.
func skipBuffered(toks []json.Token, i *int) error {
	*i++
	depth := 0
	for ; *i < len(toks); *i++ {
		switch toks[*i] {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: unbalanced element", ErrNotJSON)
}
