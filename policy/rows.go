package policy

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"gopkg.in/yaml.v3"
)

// Write operations a policy's writes section may name.
var writeOps = []string{"insert", "update", "delete"}

// compileRowFilter checks one row filter, a boolean SQL expression over the
// table's columns, and returns the subquery that stands for the table in
// every statement that reads it. The expression is parsed with
// PostgreSQL's parser and written back out by it, so what goes upstream is
// exactly one condition, whatever comments or parentheses the file has.
func compileRowFilter(rn relName, expr string) (string, error) {
	if strings.TrimSpace(expr) == "" {
		return "", fmt.Errorf("row filter of %s is empty", rn)
	}
	q := fmt.Sprintf("SELECT * FROM %s.%s WHERE (%s\n)", quoteIdent(rn.schema), quoteIdent(rn.name), expr)
	tree, err := pg_query.Parse(q)
	if err != nil {
		return "", fmt.Errorf("row filter of %s is not a valid SQL condition: %v", rn, err)
	}
	if len(tree.Stmts) != 1 {
		return "", fmt.Errorf("row filter of %s must be one condition, not several statements", rn)
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.FromClause) != 1 || sel.WhereClause == nil || sel.Larg != nil ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.SortClause) != 0 || len(sel.GroupClause) != 0 || sel.HavingClause != nil {
		return "", fmt.Errorf("row filter of %s must be a single condition such as site_code = 'RX1'", rn)
	}
	params := false
	walk(tree.Stmts[0].Stmt, func(m any) {
		if _, ok := m.(*pg_query.ParamRef); ok {
			params = true
		}
	})
	if params {
		// $n would take the number of one of the statement's own parameters.
		return "", fmt.Errorf("row filter of %s uses a parameter ($n); write the value itself", rn)
	}
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return "", fmt.Errorf("row filter of %s: %v", rn, err)
	}
	// OFFSET 0 keeps PostgreSQL from pushing the statement's own conditions
	// below the filter, where one that fails on a value (1/0, a cast) would
	// see rows the filter hides.
	return "(" + out + " OFFSET 0)", nil
}

// quoteIdent quotes a name for SQL.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// compileRowsAndWrites reads a sandbox's row_filters and writes sections;
// every table they name must be in its tables section.
func compileRowsAndWrites(sb *Sandbox, sy sandboxYAML, node *yaml.Node, at posErr) []error {
	var errs []error
	named := func(sect, tname string) (relName, *yaml.Node, bool) {
		n := valueNode(valueNode(node, sect), tname)
		rn, ok := parseRelName(tname)
		if !ok {
			errs = append(errs, at(n, fmt.Sprintf("%s: %q is not schema.table or table", sect, tname), ""))
			return rn, n, false
		}
		if sb.tables[rn] == nil {
			errs = append(errs, at(n, fmt.Sprintf("%s names %s, which is not in the sandbox's tables", sect, rn),
				"add the table and its column rules under tables: first"))
			return rn, n, false
		}
		return rn, n, true
	}
	for tname, expr := range sy.RowFilters {
		rn, n, ok := named("row_filters", tname)
		if !ok {
			continue
		}
		sub, err := compileRowFilter(rn, expr)
		if err != nil {
			errs = append(errs, at(n, err.Error(), "write a condition on the table's own columns, as in a WHERE clause, e.g. site_code = 'RX1'"))
			continue
		}
		sb.tables[rn].filter = sub
	}
	for tname, ops := range sy.Writes {
		rn, n, ok := named("writes", tname)
		if !ok {
			continue
		}
		if len(ops) == 0 {
			errs = append(errs, at(n, fmt.Sprintf("writes of %s lists no operation", rn), "list some of: "+strings.Join(writeOps, ", ")))
		}
		for _, op := range ops {
			if !slices.Contains(writeOps, strings.ToLower(op)) {
				errs = append(errs, at(n, fmt.Sprintf("writes of %s: %q is not one of %s", rn, op, strings.Join(writeOps, ", ")), ""))
				continue
			}
			sb.tables[rn].writes = append(sb.tables[rn].writes, strings.ToLower(op))
		}
	}
	return errs
}

// checkWrite decides an INSERT, UPDATE or DELETE: the policy must allow the
// operation on the table, every column written must be allowed, and the
// table must have no row filter (sandgate cannot prove a written row stays
// inside it).
func (sb *Sandbox) checkWrite(wi *writeInfo) error {
	rn := sb.resolve(wi.rel)
	t := sb.tables[rn]
	deny := func(msg, hint string) error {
		return &Denial{Code: CodeInsufficientPrivilege, Rule: "write", Msg: msg, Hint: hint}
	}
	if t == nil {
		return sb.notNamed(rn.String())
	}
	ops := []string{wi.op}
	if wi.upsert {
		ops = append(ops, "update")
	}
	for _, op := range ops {
		if !slices.Contains(t.writes, op) {
			return deny(fmt.Sprintf("sandbox %q may not %s %s: its policy does not allow writes there", sb.Name, strings.ToUpper(op), rn),
				"sandboxes are read-only unless the policy's writes section names the table and the operation; ask your information governance team")
		}
	}
	if t.filter != "" {
		return deny(fmt.Sprintf("sandbox %q may not write %s: the table has a row filter", sb.Name, rn),
			"sandgate cannot prove that a written row stays inside the filter; write to a table without one")
	}
	if wi.allColumns {
		return deny(fmt.Sprintf("INSERT into %s must list its columns", rn),
			"write INSERT INTO table (col, …) VALUES (…), naming only columns the policy allows")
	}
	for _, c := range wi.columns {
		if cr, ok := t.columns[c]; !ok || cr.rule != Allow {
			return deny(fmt.Sprintf("sandbox %q may not write column %s.%s: only columns whose rule is allow can be written", sb.Name, rn, c),
				"a pseudonymised or denied column's real value is never known to the prototype; leave the column out")
		}
	}
	return nil
}

// filterEdit replaces one reading of a filtered table by its subquery.
type filterEdit struct {
	nloc, tableKw int    // offsets in the normalised text (see relRef)
	text          string // what stands for the name
}

// rowFilters plans the edits that put each filtered table's row filter
// under every place the statement reads it.
func (sb *Sandbox) rowFilters(an *analysis, st *Statement) error {
	for _, r := range an.relations {
		if r.cte {
			continue
		}
		rn := sb.resolve(r)
		t := sb.tables[rn]
		if t == nil || t.filter == "" {
			continue
		}
		deny := func(msg, hint string) error {
			return &Denial{Code: CodeFeatureNotSupported, Rule: "row-filter", Msg: msg, Hint: hint}
		}
		switch {
		case r.target:
			// Writes are refused by checkWrite; COPY t copies every row.
			return deny(fmt.Sprintf("%s has a row filter, so COPY of the whole table is not available in sandbox %q", rn, sb.Name),
				fmt.Sprintf("copy a query instead: COPY (SELECT … FROM %s) TO STDOUT", rn))
		case r.only:
			return deny(fmt.Sprintf("%s has a row filter; ONLY %s is not supported", rn, r.name), "leave out ONLY")
		case r.nloc < 0:
			return deny(fmt.Sprintf("sandgate could not place the row filter of %s in this statement", rn),
				"write the table name plainly (schema.table or table), without comments inside it")
		}
		text := t.filter
		if !r.alias {
			text += " AS " + quoteIdent(r.name)
		}
		if r.tableKw >= 0 {
			text = "SELECT * FROM " + text
		}
		st.filters = append(st.filters, filterEdit{nloc: r.nloc, tableKw: r.tableKw, text: text})
		if !slices.Contains(st.RowFilters, rn.String()) {
			st.RowFilters = append(st.RowFilters, rn.String())
		}
	}
	return nil
}
