package policy

import (
	"fmt"
	"sort"
)

// Column is one result column as the gateway identified it from the
// server's RowDescription and its catalog.
type Column struct {
	Name string // the result column's name, for messages
	// Schema, Table and Attr name the table column it comes from; Table is
	// empty for a computed column (an expression, a literal, a function).
	Schema, Table, Attr string
	// Unresolved means the server named a table the catalog does not know.
	Unresolved bool
}

// Transform rewrites one value in its text form.
type Transform interface {
	// Apply appends the transformed value to dst. inNull marks SQL NULL;
	// outNull a NULL result. subject is the value of the Subject column of
	// the same row (nil when there is none). An error is a *Denial: the
	// value must not be sent.
	Apply(dst, in []byte, inNull bool, subject []byte) (out []byte, outNull bool, err error)
	// Subject names the column of the same table whose value the transform
	// needs (date_shift's patient identifier), or "".
	Subject() string
	// Name is the rule's transform name, for logs and audit.
	Name() string
}

// Plan says what happens to each column of one result.
type Plan struct {
	// Transforms has one entry per column; nil passes the value unchanged.
	Transforms []Transform
	// Subjects gives, per column, the index of the result column holding
	// its transform's subject, or -1.
	Subjects []int
	// Any reports whether some column is transformed.
	Any bool
}

// PlanColumns plans a result of st. A column the policy does not allow is a
// Denial.
func (sb *Sandbox) PlanColumns(st *Statement, cols []Column) (*Plan, error) {
	p := &Plan{Transforms: make([]Transform, len(cols)), Subjects: make([]int, len(cols))}
	for i, c := range cols {
		p.Subjects[i] = -1
		tr, err := sb.planColumn(st, c)
		if err != nil {
			return nil, err
		}
		if tr == nil {
			continue
		}
		p.Transforms[i] = tr
		p.Any = true
		if subj := tr.Subject(); subj != "" {
			if p.Subjects[i] = subjectIndex(cols, c, subj); p.Subjects[i] < 0 {
				return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "subject-missing",
					Msg:  fmt.Sprintf("column %s.%s.%s is shifted per patient and needs %s in the same result", c.Schema, c.Table, c.Attr, subj),
					Hint: fmt.Sprintf("add %s to the select list", subj)}
			}
		}
	}
	return p, nil
}

// subjectIndex finds the result column that is table column subj of c's table.
func subjectIndex(cols []Column, c Column, subj string) int {
	for j, o := range cols {
		if o.Schema == c.Schema && o.Table == c.Table && o.Attr == subj {
			return j
		}
	}
	return -1
}

func (sb *Sandbox) planColumn(st *Statement, c Column) (Transform, error) {
	switch {
	case c.Unresolved:
		return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "unresolved",
			Msg:  fmt.Sprintf("result column %q comes from a table sandgate cannot identify", c.Name),
			Hint: "the table may have just been created or altered; try again, and if it persists tell the gateway's operators"}
	case c.Table == "":
		if st != nil && st.Strict {
			return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "computed-column",
				Msg: fmt.Sprintf("result column %q is computed by an expression, and the statement reads a table with protected columns in sandbox %q",
					c.Name, sb.Name),
				Hint: "select table columns directly (they are pseudonymised as the policy says) and compute in your application"}
		}
		return nil, nil
	case catalogSchemas[c.Schema]:
		if deniedCatalog[c.Table] {
			return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "catalog",
				Msg: fmt.Sprintf("%s.%s is not readable through sandgate", c.Schema, c.Table)}
		}
		return nil, nil
	}
	t, ok := sb.tables[relName{c.Schema, c.Table}]
	if !ok {
		return nil, sb.notNamed(c.Schema + "." + c.Table)
	}
	cr, ok := t.columns[c.Attr]
	if !ok {
		return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "not-named",
			Msg:  fmt.Sprintf("column %s.%s.%s is not in the policy of sandbox %q", c.Schema, c.Table, c.Attr, sb.Name),
			Hint: "list the columns you need instead of *, or ask your information governance team to add this one"}
	}
	switch cr.rule {
	case Allow:
		return nil, nil
	case Hash, Transformed:
		return cr.transform, nil
	}
	return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "column-deny",
		Msg:  fmt.Sprintf("column %s.%s.%s is denied to sandbox %q", c.Schema, c.Table, c.Attr, sb.Name),
		Hint: "leave it out of the query; if the prototype needs it, ask your information governance team for a pseudonymised form"}
}

// Tables lists the sandbox's tables (schema.table) and the columns its
// policy names, for checks against a real database.
func (sb *Sandbox) Tables() map[string][]string {
	out := make(map[string][]string, len(sb.tables))
	for rn, t := range sb.tables {
		cols := make([]string, 0, len(t.columns))
		for c := range t.columns {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		out[rn.String()] = cols
	}
	return out
}

// RowFilters maps each filtered table (schema.table) to the subquery that
// stands for it in statements, for checks against a real database.
func (sb *Sandbox) RowFilters() map[string]string {
	out := map[string]string{}
	for rn, t := range sb.tables {
		if t.filter != "" {
			out[rn.String()] = t.filter
		}
	}
	return out
}
