package policy

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Roles a column reference plays in a statement.
const (
	roleOutput   = "output"          // a plain column of the statement's result
	roleEquality = "column-equality" // col = col, in a join or WHERE
	roleExpr     = "expression"
	rolePred     = "predicate"
	roleOrder    = "ordering"
	roleGroup    = "grouping"
	roleDerived  = "derived" // inside a CTE or a subquery in FROM
	roleLookup   = "lookup"  // col = 'literal' / $n / IN (…): allowed for tokens, which are revealed first
)

// colRef is one column reference: [qual.]name, or [qual.]* when star.
type colRef struct {
	qual, name string
	star       bool
	role       string
	args       []lookupArg // roleLookup: the compared values
}

// lookupArg is a value compared with a column: a string literal (its byte
// offset in the parsed text, turned into a literal index later) or a
// parameter ($n).
type lookupArg struct {
	loc     int32 // -1 for a parameter
	literal int   // index among the statement's literals; -1 unknown
	param   int32
}

// colWalker collects column references with their roles, and the aliases
// that relations are read under.
type colWalker struct {
	refs    []colRef
	aliases map[string][]relRef
	role    string // the role of a generic descent in progress
}

func (w *colWalker) walk(m any, role string, top bool) {
	if n, ok := m.(*pg_query.Node); ok {
		if m = unwrap(n); m == nil {
			return
		}
	}
	switch v := m.(type) {
	case *pg_query.SelectStmt:
		w.selectStmt(v, role, top)
		return
	case *pg_query.ColumnRef:
		w.colRef(v, role)
		return
	case *pg_query.A_Expr:
		if isColumnEquality(v) {
			w.colRef(v.Lexpr.GetColumnRef(), roleEquality)
			w.colRef(v.Rexpr.GetColumnRef(), roleEquality)
			return
		}
		if col, args, ok := lookupOf(v); ok {
			w.colRef(col, roleLookup)
			w.refs[len(w.refs)-1].args = args
			return
		}
	case *pg_query.RangeVar:
		key := v.Relname
		if v.Alias != nil {
			key = v.Alias.Aliasname
		}
		w.aliases[key] = append(w.aliases[key], relRef{schema: v.Schemaname, name: v.Relname})
		return
	case *pg_query.JoinExpr:
		w.child(v.Larg, roleDerived)
		w.child(v.Rarg, roleDerived)
		w.child(v.Quals, rolePred)
		return
	case *pg_query.RangeSubselect:
		w.child(v.Subquery, roleDerived)
		return
	case *pg_query.CommonTableExpr:
		w.child(v.Ctequery, roleDerived)
		return
	}
	saved := w.role
	w.role = role
	eachChild(m, w)
	w.role = saved
}

// visit is eachChild's call back for a generic descent: each child gets the
// role of the node it is in (w.role, restored as the walk unwinds).
func (w *colWalker) visit(m any) { w.walk(m, w.role, false) }

func (w *colWalker) child(n *pg_query.Node, role string) {
	if n != nil {
		w.walk(n, role, false)
	}
}

func (w *colWalker) children(ns []*pg_query.Node, role string) {
	for _, n := range ns {
		w.child(n, role)
	}
}

// selectStmt gives each clause its role. Only a top-level statement's plain
// target columns are output: a subquery's outputs feed something else.
func (w *colWalker) selectStmt(s *pg_query.SelectStmt, role string, top bool) {
	w.withClause(s.WithClause)
	w.from(s.FromClause, role)
	inner := role
	if inner == roleOutput || inner == "" {
		inner = roleExpr
	}
	for _, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && top {
			w.colRef(cr, roleOutput)
			continue
		}
		w.child(rt.Val, inner)
	}
	w.child(s.WhereClause, rolePred)
	w.child(s.HavingClause, rolePred)
	w.children(s.GroupClause, roleGroup)
	w.children(s.DistinctClause, roleGroup)
	w.children(s.SortClause, roleOrder)
	w.children(s.WindowClause, roleOrder)
	w.children(s.ValuesLists, inner)
	w.child(s.LimitOffset, roleExpr)
	w.child(s.LimitCount, roleExpr)
	if s.Larg != nil {
		w.selectStmt(s.Larg, role, top)
	}
	if s.Rarg != nil {
		w.selectStmt(s.Rarg, role, top)
	}
}

func (w *colWalker) withClause(wc *pg_query.WithClause) {
	if wc != nil {
		w.walk(wc, roleDerived, false)
	}
}

func (w *colWalker) from(items []*pg_query.Node, role string) {
	for _, f := range items {
		if rv := f.GetRangeVar(); rv != nil {
			w.walk(rv, role, false)
			continue
		}
		w.child(f, roleDerived)
	}
}

// target registers the relation a statement writes, under its alias.
func (w *colWalker) target(rv *pg_query.RangeVar) {
	if rv != nil {
		w.walk(rv, roleExpr, false)
	}
}

// assignments walks SET a = expr: the value assigned is written, so a
// protected column in it would be copied raw (its target is checked
// against the write rule).
func (w *colWalker) assignments(targets []*pg_query.Node) {
	for _, t := range targets {
		if rt := t.GetResTarget(); rt != nil {
			w.child(rt.Val, roleExpr)
			w.children(rt.Indirection, roleExpr)
		}
	}
}

// returning walks RETURNING like a SELECT's target list: a plain column is
// output (and transformed), anything else is an expression.
func (w *colWalker) returning(list []*pg_query.Node) {
	for _, t := range list {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			w.colRef(cr, roleOutput)
			continue
		}
		w.child(rt.Val, roleExpr)
	}
}

func (w *colWalker) colRef(c *pg_query.ColumnRef, role string) {
	var parts []string
	star := false
	for _, f := range c.Fields {
		if f.GetAStar() != nil {
			star = true
			continue
		}
		parts = append(parts, f.GetString_().GetSval())
	}
	ref := colRef{star: star, role: role}
	switch {
	case star && len(parts) > 0:
		ref.qual = parts[len(parts)-1]
	case len(parts) == 1:
		ref.name = parts[0]
	case len(parts) >= 2:
		ref.qual, ref.name = parts[len(parts)-2], parts[len(parts)-1]
	}
	w.refs = append(w.refs, ref)
}

// isColumnEquality is col = col: comparing two columns reveals no value.
func isColumnEquality(e *pg_query.A_Expr) bool {
	if e.Kind != pg_query.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 || e.Name[0].GetString_().GetSval() != "=" {
		return false
	}
	return e.Lexpr.GetColumnRef() != nil && e.Rexpr.GetColumnRef() != nil
}

// statementColumns walks one statement from its root.
func statementColumns(n *pg_query.Node, w *colWalker) {
	switch s := n.Node.(type) {
	case *pg_query.Node_SelectStmt:
		w.selectStmt(s.SelectStmt, roleOutput, true)
	case *pg_query.Node_DeclareCursorStmt:
		if sel := s.DeclareCursorStmt.Query.GetSelectStmt(); sel != nil {
			w.selectStmt(sel, roleOutput, true)
		}
	case *pg_query.Node_PrepareStmt:
		if sel := s.PrepareStmt.Query.GetSelectStmt(); sel != nil {
			w.selectStmt(sel, roleOutput, true)
		}
	case *pg_query.Node_CopyStmt:
		if sel := s.CopyStmt.Query.GetSelectStmt(); sel != nil {
			w.selectStmt(sel, roleOutput, true)
		}
	case *pg_query.Node_InsertStmt:
		ins := s.InsertStmt
		w.withClause(ins.WithClause)
		w.target(ins.Relation)
		// What an INSERT … SELECT selects is written, not returned: a
		// protected column there would be copied raw into the target.
		if sel := ins.SelectStmt.GetSelectStmt(); sel != nil {
			w.selectStmt(sel, roleExpr, false)
		}
		if oc := ins.OnConflictClause; oc != nil {
			w.assignments(oc.TargetList)
			w.child(oc.WhereClause, rolePred)
			if oc.Infer != nil {
				w.children(oc.Infer.IndexElems, roleExpr)
				w.child(oc.Infer.WhereClause, rolePred)
			}
		}
		w.returning(ins.ReturningList)
	case *pg_query.Node_UpdateStmt:
		up := s.UpdateStmt
		w.withClause(up.WithClause)
		w.target(up.Relation)
		w.from(up.FromClause, roleOutput)
		w.assignments(up.TargetList)
		w.child(up.WhereClause, rolePred)
		w.returning(up.ReturningList)
	case *pg_query.Node_DeleteStmt:
		del := s.DeleteStmt
		w.withClause(del.WithClause)
		w.target(del.Relation)
		w.from(del.UsingClause, roleOutput)
		w.child(del.WhereClause, rolePred)
		w.returning(del.ReturningList)
	default:
		w.walk(n, roleExpr, false)
	}
}

// lookupOf recognises col = value, value = col and col IN (values), where
// each value is a string literal or a parameter.
func lookupOf(e *pg_query.A_Expr) (*pg_query.ColumnRef, []lookupArg, bool) {
	if len(e.Name) != 1 || e.Name[0].GetString_().GetSval() != "=" {
		return nil, nil, false
	}
	switch e.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		col, other := e.Lexpr.GetColumnRef(), e.Rexpr
		if col == nil {
			col, other = e.Rexpr.GetColumnRef(), e.Lexpr
		}
		if a, ok := valueArg(other); ok && col != nil {
			return col, []lookupArg{a}, true
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		col := e.Lexpr.GetColumnRef()
		list := e.Rexpr.GetList()
		if col == nil || list == nil {
			return nil, nil, false
		}
		var args []lookupArg
		for _, it := range list.Items {
			a, ok := valueArg(it)
			if !ok {
				return nil, nil, false
			}
			args = append(args, a)
		}
		return col, args, true
	}
	return nil, nil, false
}

func valueArg(n *pg_query.Node) (lookupArg, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	if p := n.GetParamRef(); p != nil {
		return lookupArg{loc: -1, literal: -1, param: p.Number}, true
	}
	if c := n.GetAConst(); c != nil && c.GetSval() != nil {
		return lookupArg{loc: c.Location, literal: -1}, true
	}
	return lookupArg{}, false
}
