package pgwire

import (
	"bytes"
	"fmt"

	"github.com/sandgate/sandgate/policy"
)

// copyPlan applies column transforms to COPY … TO STDOUT rows, one row per
// CopyData message, in text or CSV format.
type copyPlan struct {
	transforms []policy.Transform
	subjects   []int
	csv        bool
	skipHeader bool // the next row is the header line
	field      []byte
}

// onCopyOut plans a COPY … TO STDOUT from its statement and the catalog.
func (p *serverPump) onCopyOut(body []byte) error {
	p.inCopy = true
	st := p.runningStatement()
	if st == nil || st.Copy == nil {
		p.skipToReady(&policy.Denial{Code: policy.CodeInsufficientPrivilege, Rule: "copy",
			Msg: "sandgate could not identify what this COPY returns"})
		return nil
	}
	p.curStrict = st.Strict
	cp, err := p.planCopy(st)
	if err != nil {
		p.skipToReady(asDenial(err))
		return nil
	}
	p.copyPlan = cp
	p.emit('H', body)
	return nil
}

// runningStatement is the statement whose results are streaming.
func (p *serverPump) runningStatement() *policy.Statement {
	front := p.q.front()
	if front == nil {
		return nil
	}
	switch front.kind {
	case 'Q':
		return front.stmt
	case 'E':
		if pt := p.portals[front.name]; pt != nil && pt.prep != nil {
			return pt.prep.stmt
		}
	}
	return nil
}

func (p *serverPump) planCopy(st *policy.Statement) (*copyPlan, error) {
	c := st.Copy
	if c.Table == "" {
		if st.Strict {
			return nil, &policy.Denial{Code: policy.CodeInsufficientPrivilege, Rule: "copy",
				Msg:  "COPY (query) over a table with protected columns is not allowed",
				Hint: "COPY the table itself (its columns are pseudonymised as the policy says), or run the query as a SELECT"}
		}
		return nil, nil
	}
	cat, err := p.s.srv.catalogFor(p.s.database)
	if err != nil {
		return nil, err
	}
	rel, err := cat.byQualifiedName(p.ctx, c.Schema, c.Table)
	if err != nil || rel == nil {
		return nil, &policy.Denial{Code: policy.CodeInsufficientPrivilege, Rule: "copy",
			Msg: fmt.Sprintf("sandgate could not identify the columns of %s.%s", c.Schema, c.Table)}
	}
	names := c.Columns
	if len(names) == 0 {
		names = rel.ordered
	}
	cols := make([]policy.Column, len(names))
	for i, n := range names {
		cols[i] = policy.Column{Name: n, Schema: rel.schema, Table: rel.name, Attr: n}
	}
	pl, err := p.s.sandbox.PlanColumns(st, cols)
	if err != nil {
		return nil, err
	}
	if !pl.Any {
		return nil, nil
	}
	if c.Format == "binary" || c.Custom {
		return nil, &policy.Denial{Code: policy.CodeFeatureNotSupported, Rule: "copy",
			Msg:  "COPY with pseudonymised columns supports only the text and CSV formats with default options",
			Hint: "leave out FORMAT binary, DELIMITER, QUOTE, ESCAPE and NULL options"}
	}
	return &copyPlan{transforms: pl.Transforms, subjects: pl.Subjects, csv: c.Format == "csv", skipHeader: c.Header}, nil
}

func (p *serverPump) onCopyData(body []byte) error {
	if p.skipping {
		return nil
	}
	cp := p.copyPlan
	if cp == nil {
		p.emit('d', body)
		return nil
	}
	if cp.skipHeader {
		cp.skipHeader = false
		p.emit('d', body)
		return nil
	}
	dst, start := beginMsg(p.out, 'd')
	var err error
	if cp.csv {
		dst, err = cp.rewriteCSV(dst, body)
	} else {
		dst, err = cp.rewriteText(dst, body)
	}
	if err != nil {
		p.out = dst[:start]
		p.skipToReady(asDenial(err))
		return nil
	}
	p.rows++
	p.countRow()
	p.out = finishMsg(dst, start)
	return nil
}

var errCopyShape = &policy.Denial{Code: codeInternal, Rule: "copy-shape",
	Msg: "a COPY row did not match the expected columns; sandgate withheld it"}

// rewriteText transforms one row of COPY text format.
func (cp *copyPlan) rewriteText(dst, row []byte) ([]byte, error) {
	row = bytes.TrimSuffix(row, []byte{'\n'})
	fields := bytes.Split(row, []byte{'\t'})
	if len(fields) != len(cp.transforms) {
		return dst, errCopyShape
	}
	value := func(f []byte) ([]byte, bool) {
		if bytes.Equal(f, []byte(`\N`)) {
			return nil, true
		}
		return unescapeText(f), false
	}
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, '\t')
		}
		tr := cp.transforms[i]
		if tr == nil {
			dst = append(dst, f...)
			continue
		}
		in, null := value(f)
		var subject []byte
		if j := subjectOf(cp.subjects, i); j >= 0 {
			subject, _ = value(fields[j])
		}
		out, outNull, err := tr.Apply(cp.field[:0], in, null, subject)
		if err != nil {
			return dst, err
		}
		cp.field = out
		if outNull {
			dst = append(dst, `\N`...)
			continue
		}
		dst = escapeText(dst, out)
	}
	return append(dst, '\n'), nil
}

func unescapeText(f []byte) []byte {
	if bytes.IndexByte(f, '\\') < 0 {
		return f
	}
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			out = append(out, c)
			continue
		}
		i++
		switch f[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(f) && isHex(f[i+1]) {
				i++
				v = v*16 + hexVal(f[i])
				n++
			}
			out = append(out, byte(v))
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(f[i] - '0')
			for n := 1; n < 3 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; n++ {
				i++
				v = v*8 + int(f[i]-'0')
			}
			out = append(out, byte(v))
		default:
			out = append(out, f[i])
		}
	}
	return out
}

func isHex(c byte) bool { return (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'f') }

func hexVal(c byte) int {
	if c <= '9' {
		return int(c - '0')
	}
	return int(c|0x20-'a') + 10
}

func escapeText(dst, v []byte) []byte {
	for _, c := range v {
		switch c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// csvCell is one parsed CSV field.
type csvCell struct {
	raw  []byte // as sent, quotes and all
	val  []byte
	null bool // unquoted and empty
}

// rewriteCSV transforms one row of COPY CSV format (default quote and
// delimiter; an unquoted empty field is NULL).
func (cp *copyPlan) rewriteCSV(dst, row []byte) ([]byte, error) {
	row = bytes.TrimSuffix(row, []byte{'\n'})
	cells := make([]csvCell, 0, len(cp.transforms))
	for i := 0; len(cells) < len(cp.transforms); {
		if len(cells) > 0 {
			if i >= len(row) || row[i] != ',' {
				return dst, errCopyShape
			}
			i++
		}
		val, quoted, next, ok := csvField(row, i)
		if !ok {
			return dst, errCopyShape
		}
		cells = append(cells, csvCell{raw: row[i:next], val: val, null: !quoted && len(val) == 0})
		i = next
		if len(cells) == len(cp.transforms) && i != len(row) {
			return dst, errCopyShape
		}
	}
	for col, c := range cells {
		if col > 0 {
			dst = append(dst, ',')
		}
		tr := cp.transforms[col]
		if tr == nil {
			dst = append(dst, c.raw...)
			continue
		}
		var subject []byte
		if j := subjectOf(cp.subjects, col); j >= 0 && !cells[j].null {
			subject = cells[j].val
		}
		out, outNull, err := tr.Apply(cp.field[:0], c.val, c.null, subject)
		if err != nil {
			return dst, err
		}
		cp.field = out
		if !outNull {
			dst = quoteCSV(dst, out)
		}
	}
	return append(dst, '\n'), nil
}

// csvField reads the field starting at i: its value, whether it was quoted,
// and the index after it.
func csvField(row []byte, i int) (val []byte, quoted bool, next int, ok bool) {
	if i < len(row) && row[i] == '"' {
		var out []byte
		for j := i + 1; j < len(row); j++ {
			if row[j] != '"' {
				out = append(out, row[j])
				continue
			}
			if j+1 < len(row) && row[j+1] == '"' {
				out = append(out, '"')
				j++
				continue
			}
			return out, true, j + 1, true
		}
		return nil, true, 0, false
	}
	j := i
	for j < len(row) && row[j] != ',' {
		j++
	}
	return row[i:j], false, j, true
}

func quoteCSV(dst, v []byte) []byte {
	dst = append(dst, '"')
	for _, c := range v {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
