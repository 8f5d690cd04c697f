package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Lookup is a comparison of a tokenised column with a token: before the
// statement goes upstream the token is turned back into the value, so that
// lookups and joins by token work while the prototype only ever holds tokens.
type Lookup struct {
	Literal int // index among the statement's literals, or -1
	Param   int // $n, or 0
	reveal  func([]byte) ([]byte, error)
}

func (st *Statement) addLookups(ref colRef, et *engineTransform) error {
	for _, a := range ref.args {
		if a.param == 0 && a.literal < 0 {
			return &Denial{Code: CodeInsufficientPrivilege, Rule: "token-lookup",
				Msg: fmt.Sprintf("sandgate could not locate the value compared with %s", ref.name), Hint: "write the token as a plain quoted string"}
		}
		st.Lookups = append(st.Lookups, Lookup{Literal: a.literal, Param: int(a.param), reveal: et.reveal})
	}
	return nil
}

// NeedsRewrite reports whether the statement must be rewritten (Rewrite)
// before it goes upstream: it compares token literals or reads a table with
// a row filter.
func (st *Statement) NeedsRewrite() bool {
	if len(st.filters) > 0 {
		return true
	}
	for _, l := range st.Lookups {
		if l.Literal >= 0 {
			return true
		}
	}
	return false
}

// Rewrite returns sql (the text this Statement was checked for) as it must
// go upstream: every token literal a Lookup names replaced by its value, and
// every filtered table replaced by its row filter's subquery. Without either
// it returns sql unchanged.
func (st *Statement) Rewrite(sql string) (string, error) { return st.rewrite(sql, true) }

// Upstream is Rewrite without revealing tokens: the statement as it goes
// upstream, for people to read (policy explain).
func (st *Statement) Upstream(sql string) (string, error) { return st.rewrite(sql, false) }

// splice replaces sql[start:end] by text.
type splice struct {
	start, end int
	text       string
}

func (st *Statement) rewrite(sql string, reveal bool) (string, error) {
	var edits []splice
	var spans [][2]int
	for _, l := range st.Lookups {
		if l.Literal < 0 {
			continue
		}
		if spans == nil {
			spans = literalSpans(sql)
		}
		if l.Literal >= len(spans) {
			return "", errLookupShape
		}
		sp := spans[l.Literal]
		tok, ok := plainString(sql[sp[0]:sp[1]])
		if !ok {
			return "", errLookupShape
		}
		text := sql[sp[0]:sp[1]]
		if reveal {
			v, err := l.reveal([]byte(tok))
			if err != nil {
				return "", err
			}
			text = quoteLiteral(string(v))
		}
		edits = append(edits, splice{sp[0], sp[1], text})
	}
	if len(st.filters) > 0 {
		_, at := normalisedOffsets(sql)
		for _, f := range st.filters {
			start, ok := rawOffset(at, f.nloc)
			end := -1
			if ok {
				end = nameEnd(sql, start)
			}
			if f.tableKw >= 0 {
				start, ok = rawOffset(at, f.tableKw)
				ok = ok && len(sql) >= start+5 && strings.EqualFold(sql[start:start+5], "table")
			}
			if !ok || end < 0 {
				return "", errFilterShape
			}
			edits = append(edits, splice{start, end, f.text})
		}
	}
	if len(edits) == 0 {
		return sql, nil
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b strings.Builder
	b.Grow(len(sql) + 64*len(edits))
	prev := 0
	for _, e := range edits {
		if e.start < prev || e.end < e.start {
			return "", errFilterShape // overlapping edits: refuse rather than guess
		}
		b.WriteString(sql[prev:e.start])
		b.WriteString(e.text)
		prev = e.end
	}
	b.WriteString(sql[prev:])
	return b.String(), nil
}

// nameEnd returns the end of the possibly qualified name (a, a.b, "A".b,
// and a * after it) that starts at i, or -1 if none does.
func nameEnd(sql string, i int) int {
	end := -1
	for {
		switch {
		case i < len(sql) && sql[i] == '"':
			var closed bool
			if i, closed = skipQuotedIdent(sql, i); !closed {
				return -1
			}
		case i < len(sql) && isIdentChar(sql[i]) && !isDigit(sql[i]):
			for i < len(sql) && isIdentChar(sql[i]) {
				i++
			}
		default:
			return -1
		}
		end = i
		j := i
		for j < len(sql) && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\n' || sql[j] == '\r') {
			j++
		}
		if j < len(sql) && sql[j] == '*' {
			return j + 1 // t * (inheritance, the default) goes with the name
		}
		if j >= len(sql) || sql[j] != '.' {
			return end
		}
		j++
		for j < len(sql) && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\n' || sql[j] == '\r') {
			j++
		}
		i = j
	}
}

var errFilterShape = &Denial{Code: CodeFeatureNotSupported, Rule: "row-filter",
	Msg: "sandgate could not place a row filter in this statement", Hint: "write the table name plainly (schema.table or table), without comments inside it"}

var errLookupShape = &Denial{Code: CodeInsufficientPrivilege, Rule: "token-lookup",
	Msg: "a token compared with a tokenised column must be a plain quoted string", Hint: "write it as 'tok_…'"}

// plainString decodes '…' with ” escapes; anything else is not a token.
func plainString(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", false
	}
	return strings.ReplaceAll(lit[1:len(lit)-1], "''", "'"), true
}

// quoteLiteral quotes a value for the upstream statement, whatever
// standard_conforming_strings says.
func quoteLiteral(v string) string {
	v = strings.ReplaceAll(v, "\\", "\\\\")
	return "E'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// ParamLookups reports whether bound parameters must be revealed.
func (st *Statement) ParamLookups() bool {
	for _, l := range st.Lookups {
		if l.Param > 0 {
			return true
		}
	}
	return false
}

// RevealParams turns the token in each parameter a Lookup names back into
// its value, in place.
func (st *Statement) RevealParams(params [][]byte) error {
	for _, l := range st.Lookups {
		if l.Param <= 0 {
			continue
		}
		if l.Param > len(params) || params[l.Param-1] == nil {
			return errLookupShape
		}
		v, err := l.reveal(params[l.Param-1])
		if err != nil {
			return err
		}
		params[l.Param-1] = v
	}
	return nil
}
