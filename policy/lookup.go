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

// Rewrite replaces every token literal a Lookup names in sql (the text this
// Statement was checked for) by its value. Without literal lookups it
// returns sql unchanged.
func (st *Statement) Rewrite(sql string) (string, error) {
	var lits []Lookup
	for _, l := range st.Lookups {
		if l.Literal >= 0 {
			lits = append(lits, l)
		}
	}
	if len(lits) == 0 {
		return sql, nil
	}
	spans := literalSpans(sql)
	sort.Slice(lits, func(i, j int) bool { return lits[i].Literal > lits[j].Literal })
	for _, l := range lits {
		if l.Literal >= len(spans) {
			return "", errLookupShape
		}
		sp := spans[l.Literal]
		tok, ok := plainString(sql[sp[0]:sp[1]])
		if !ok {
			return "", errLookupShape
		}
		v, err := l.reveal([]byte(tok))
		if err != nil {
			return "", err
		}
		sql = sql[:sp[0]] + quoteLiteral(string(v)) + sql[sp[1]:]
	}
	return sql, nil
}

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
