package policy

import (
	"fmt"

	"github.com/sandgate/sandgate/pseudonymise"
)

// roleWords say, for a denial, how a protected column was used.
var roleWords = map[string]string{
	roleExpr:    "is used in an expression",
	rolePred:    "is used in a condition (WHERE, JOIN or HAVING)",
	roleOrder:   "orders the result",
	roleGroup:   "groups the result",
	roleDerived: "is read in a subquery or CTE",
	"whole-row": "is read as part of a whole row",
}

// checkColumns finds every reference to a protected column (one whose rule
// is not allow, or that the policy does not name) among the tables read. A
// protected column may be selected directly (it is then transformed or
// refused when the result is planned) or compared with another column;
// anything else could compute, order or test its raw value, and is refused.
// A statement with any protected reference is Strict.
func (sb *Sandbox) checkColumns(an *analysis, read []*table, st *Statement) error {
	if len(read) == 0 {
		return nil // the catalog only
	}
	for _, ref := range an.cols.refs {
		cands := sb.candidates(an, ref.qual, read)
		role, protected, col := ref.role, false, ref.name
		switch {
		case ref.star:
			protected, col = anyProtected(cands), "*"
		case sb.wholeRow(an, ref, read):
			protected, role = true, "whole-row"
		default:
			protected = columnProtected(cands, ref.name)
		}
		if !protected {
			continue
		}
		st.Strict = true
		if role == roleOutput || role == roleEquality {
			continue
		}
		if role == roleLookup {
			if et := tokenRule(cands, ref.name); et != nil {
				if err := st.addLookups(ref, et); err != nil {
					return err
				}
				continue
			}
			role = rolePred
		}
		return &Denial{Code: CodeInsufficientPrivilege, Rule: "protected-column-use",
			Msg: fmt.Sprintf("column %s %s; in sandbox %q a protected column can only be selected directly or compared with another column",
				qualified(ref.qual, col), roleWords[role], sb.Name),
			Hint: "select the column itself (it comes back pseudonymised) and compute, filter or sort in your application"}
	}
	return nil
}

func qualified(qual, col string) string {
	if qual == "" {
		return col
	}
	return qual + "." + col
}

// candidates are the tables a qualified or unqualified reference may name.
func (sb *Sandbox) candidates(an *analysis, qual string, read []*table) []*table {
	if qual == "" {
		return read
	}
	rels, ok := an.cols.aliases[qual]
	if !ok {
		return read // a CTE or subquery alias: any table could be behind it
	}
	var out []*table
	for _, r := range rels {
		if r.schema == "" && an.ctes[r.name] {
			return read // FROM cte AS x: any table could be behind it too
		}
		if t := sb.tables[sb.resolve(r)]; t != nil {
			out = append(out, t)
		}
	}
	return out
}

func anyProtected(ts []*table) bool {
	for _, t := range ts {
		if t.protected {
			return true
		}
	}
	return false
}

// columnProtected: some candidate has the column with a rule other than
// allow, or no candidate allows it (an unnamed column is denied).
func columnProtected(ts []*table, name string) bool {
	allowed := false
	for _, t := range ts {
		cr, ok := t.columns[name]
		if ok && cr.rule != Allow {
			return true
		}
		allowed = allowed || (ok && cr.rule == Allow)
	}
	return !allowed
}

// wholeRow reports an unqualified reference to a protected table's alias
// that is not also a column name: `row_to_json(p)`, `select p from t p`.
func (sb *Sandbox) wholeRow(an *analysis, ref colRef, read []*table) bool {
	if ref.qual != "" || ref.star {
		return false
	}
	rels, ok := an.cols.aliases[ref.name]
	if !ok {
		return false
	}
	for _, t := range read {
		if _, isCol := t.columns[ref.name]; isCol {
			return false
		}
	}
	for _, r := range rels {
		if t := sb.tables[sb.resolve(r)]; t != nil && t.protected {
			return true
		}
	}
	return false
}

// tokenRule returns the token transform of the one candidate table that has
// the column, or nil.
func tokenRule(ts []*table, name string) *engineTransform {
	var found *engineTransform
	for _, t := range ts {
		cr, ok := t.columns[name]
		if !ok {
			continue
		}
		et, isEngine := cr.transform.(*engineTransform)
		if found != nil || !isEngine || et.t.Name() != pseudonymise.NameToken {
			return nil
		}
		found = et
	}
	return found
}
