package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/telemetry/audit"
)

// resultPlan is the policy's plan for one RowDescription, with what the
// relay needs to apply it.
type resultPlan struct {
	any        bool               // some column is transformed
	transforms []policy.Transform // per column; nil passes
	subjects   []int              // per column: index of its transform's subject column, or -1
	typeOIDs   []uint32           // the server's type of each column
	formats    []int16            // per column, from the RowDescription
	rewritten  []byte             // RowDescription body with transformed columns typed text
	auditCols  []audit.Column     // table columns and what was done to each
}

const textOID = 25

// uncheckedPlan relays every column as it is (see unchecked_off.go).
var uncheckedPlan = &resultPlan{}

// planFor returns the plan of a RowDescription for statement st, from the
// session's cache when the same description was planned before.
func (p *serverPump) planFor(body []byte, st *policy.Statement) (*resultPlan, error) {
	strict := 0
	if st != nil && st.Strict {
		strict = 1
	}
	if unchecked {
		return uncheckedPlan, nil
	}
	if rp := p.plans[strict][string(body)]; rp != nil {
		return rp, nil
	}
	if err := p.rd.Decode(body); err != nil {
		return nil, fmt.Errorf("%w: malformed RowDescription: %v", errUpstreamGone, err)
	}
	cols, err := p.resolve(p.rd.Fields)
	if err != nil {
		return nil, err
	}
	pl, err := p.s.sandbox.PlanColumns(st, cols)
	if err != nil {
		return nil, err
	}
	rp := &resultPlan{any: pl.Any, transforms: pl.Transforms, subjects: pl.Subjects, auditCols: auditColumns(cols, pl)}
	for i := range p.rd.Fields {
		f := &p.rd.Fields[i]
		rp.typeOIDs = append(rp.typeOIDs, f.DataTypeOID)
		rp.formats = append(rp.formats, f.Format)
		if pl.Transforms[i] != nil {
			f.DataTypeOID, f.DataTypeSize, f.TypeModifier = textOID, -1, -1
		}
	}
	if pl.Any {
		rp.rewritten, _ = p.rd.Encode(nil)
		rp.rewritten = rp.rewritten[5:] // body only
	}
	if len(p.plans[strict]) > 256 {
		clear(p.plans[strict])
	}
	p.plans[strict][string(body)] = rp
	return rp, nil
}

// catalogLoad returns, for a server message whose handling would wait for
// a catalog reload (a RowDescription naming a table the cache does not
// know, a COPY of such a table), that reload, to run before the message is
// handled; nil when handling it will not wait. The event loop uses it to
// run reloads off the loop.
func (p *serverPump) catalogLoad(typ byte, body []byte) func(context.Context) {
	if unchecked {
		return nil
	}
	switch typ {
	case 'T': // planned even while skipping, so asked about too
		if p.plans[0][string(body)] != nil || p.plans[1][string(body)] != nil {
			return nil // its tables were resolved before
		}
		cat, err := p.s.srv.catalogFor(p.s.database)
		if err != nil {
			return nil
		}
		for oid := range tableOIDs(body) {
			if !cat.cached(oid) {
				return func(ctx context.Context) { cat.relation(ctx, oid) }
			}
		}
	case 'H':
		st := p.runningStatement()
		if st == nil || st.Copy == nil || st.Copy.Table == "" {
			return nil
		}
		cat, err := p.s.srv.catalogFor(p.s.database)
		if err != nil {
			return nil
		}
		schema, table := st.Copy.Schema, st.Copy.Table
		if !cat.cachedName(schema, table) {
			return func(ctx context.Context) { cat.byQualifiedName(ctx, schema, table) }
		}
	}
	return nil
}

// tableOIDs yields the non-zero table OIDs of a RowDescription body; it
// stops early on a malformed one (which planFor then reports).
func tableOIDs(body []byte) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		if len(body) < 2 {
			return
		}
		n := int(binary.BigEndian.Uint16(body))
		b := body[2:]
		for range n {
			i := bytes.IndexByte(b, 0)
			if i < 0 || len(b) < i+1+18 {
				return
			}
			oid := binary.BigEndian.Uint32(b[i+1:])
			b = b[i+1+18:]
			if oid != 0 && !yield(oid) {
				return
			}
		}
	}
}

// resolve names each field's source column through the catalog.
func (p *serverPump) resolve(fields []pgproto3.FieldDescription) ([]policy.Column, error) {
	cols := make([]policy.Column, len(fields))
	var cat *catalog
	for i, f := range fields {
		cols[i].Name = string(f.Name)
		if f.TableOID == 0 {
			continue
		}
		if cat == nil {
			var err error
			if cat, err = p.s.srv.catalogFor(p.s.database); err != nil {
				return nil, err
			}
		}
		rel, err := cat.relation(p.ctx, f.TableOID)
		if err != nil {
			return nil, &policy.Denial{Code: codeConnectionFailure, Rule: "catalog",
				Msg: "sandgate could not read the database catalog to identify result columns", Hint: "try again shortly"}
		}
		attr, ok := "", false
		if rel != nil {
			attr, ok = rel.attrs[f.TableAttributeNumber]
		}
		if !ok {
			cols[i].Unresolved = true
			continue
		}
		cols[i].Schema, cols[i].Table, cols[i].Attr = rel.schema, rel.name, attr
	}
	return cols, nil
}

// formatOf returns column i's format under a Bind's format codes.
func formatOf(fmts []int16, i int) int16 {
	switch len(fmts) {
	case 0:
		return 0
	case 1:
		return fmts[0]
	}
	if i < len(fmts) {
		return fmts[i]
	}
	return 0
}

// rewriteRow appends the transformed DataRow to dst.
func (rp *resultPlan) rewriteRow(dst, body []byte, fmts []int16, p *serverPump) ([]byte, error) {
	vals, err := p.splitRow(body, len(rp.transforms))
	if err != nil {
		return dst, err
	}
	dst, start := beginMsg(dst, 'D')
	dst = append(dst, body[:2]...)
	for i, v := range vals {
		tr := rp.transforms[i]
		if tr == nil {
			dst = appendValue(dst, v)
			continue
		}
		in, err := p.textValue(v, formatOf(fmts, i), rp.typeOIDs[i])
		if err != nil {
			return dst[:start], err
		}
		var subject []byte
		if j := subjectOf(rp.subjects, i); j >= 0 && vals[j] != nil {
			if subject, err = p.textValue(vals[j], formatOf(fmts, j), rp.typeOIDs[j]); err != nil {
				return dst[:start], err
			}
		}
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		out, null, err := tr.Apply(dst, in, v == nil, subject)
		if err != nil {
			return dst[:start], err
		}
		if null {
			dst = binary.BigEndian.AppendUint32(dst[:lenAt], 0xffffffff)
			continue
		}
		dst = out
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	}
	return finishMsg(dst, start), nil
}

func subjectOf(subjects []int, i int) int {
	if i < len(subjects) {
		return subjects[i]
	}
	return -1
}

// splitRow checks a DataRow's shape and returns its values (nil for NULL),
// valid until the next call.
func (p *serverPump) splitRow(body []byte, want int) ([][]byte, error) {
	malformed := fmt.Errorf("%w: malformed DataRow", errUpstreamGone)
	if len(body) < 2 {
		return nil, malformed
	}
	n := int(binary.BigEndian.Uint16(body))
	if n != want {
		return nil, &policy.Denial{Code: codeInternal, Rule: "row-shape",
			Msg: "a result row does not match its description; sandgate withheld it"}
	}
	vals := p.vals[:0]
	rest := body[2:]
	for i := 0; i < n; i++ {
		if len(rest) < 4 {
			return nil, malformed
		}
		l := int(int32(binary.BigEndian.Uint32(rest)))
		rest = rest[4:]
		if l < 0 {
			vals = append(vals, nil)
			continue
		}
		if l > len(rest) {
			return nil, malformed
		}
		vals = append(vals, rest[:l:l])
		rest = rest[l:]
	}
	p.vals = vals
	return vals, nil
}

func appendValue(dst, v []byte) []byte {
	if v == nil {
		return append(dst, 0xff, 0xff, 0xff, 0xff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
	return append(dst, v...)
}

// textValue returns v in text form: binary values of non-text types are
// converted, so a transform sees the same input whichever format the client
// asked for.
func (p *serverPump) textValue(v []byte, format int16, oid uint32) ([]byte, error) {
	if v == nil || format != 1 || textLike(oid) {
		return v, nil
	}
	return p.binaryToText(oid, v)
}

// textLike types have the same bytes in binary and text format.
func textLike(oid uint32) bool {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.UnknownOID:
		return true
	}
	return false
}

// binaryToText converts a binary-format value to its text form, so a
// transform sees the same input whichever format the client asked for.
func (p *serverPump) binaryToText(oid uint32, val []byte) ([]byte, error) {
	if p.typeMap == nil {
		p.typeMap = pgtype.NewMap()
	}
	fail := &policy.Denial{Code: policy.CodeFeatureNotSupported, Rule: "binary-format",
		Msg:  fmt.Sprintf("a pseudonymised column of type OID %d was requested in binary format, which sandgate cannot convert", oid),
		Hint: "request this column in text format"}
	t, ok := p.typeMap.TypeForOID(oid)
	if !ok {
		return nil, fail
	}
	v, err := t.Codec.DecodeValue(p.typeMap, oid, pgtype.BinaryFormatCode, val)
	if err != nil {
		return nil, fail
	}
	out, err := p.typeMap.Encode(oid, pgtype.TextFormatCode, v, nil)
	if err != nil {
		return nil, fail
	}
	return out, nil
}
