package policy

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// stmtKind classifies a statement for the coarse interim checks.
type stmtKind int

const (
	kindRead    stmtKind = iota // SELECT, VALUES, cursors over them, EXECUTE
	kindSession                 // transaction control, SHOW, DISCARD, UNLISTEN…
	kindSet                     // SET / RESET of a parameter
	kindCopyOut                 // COPY … TO STDOUT
	kindWrite                   // INSERT, UPDATE, DELETE: allowed only where the policy's writes name the table
	kindDenied                  // anything else: writes, DDL, server files
)

// analysis is what the parser tells about one statement text; it does not
// depend on the sandbox, so it is cached across sandboxes.
type analysis struct {
	normalised string // the cache key, literals shown as ?
	operation  string
	stmts      []stmtInfo
	relations  []relRef
	functions  []string // lower-case, last name component
	parseErr   error
	cols       colWalker       // column references and the aliases relations are read under
	ctes       map[string]bool // names the statement's WITH clauses define
	// nestedWrite is a data-modifying statement inside another (WITH d AS
	// (DELETE …) SELECT …); locking is FOR UPDATE/SHARE anywhere.
	nestedWrite, locking bool
	// pinnedSet: a SET of a parameter whose value CheckStatement checks
	// (pinnedParams), so the decision depends on more than this analysis.
	pinnedSet bool
}

type stmtInfo struct {
	kind     stmtKind
	tag      string // parse-tree node name, e.g. "InsertStmt"
	setParam string
	copy     *copyInfo
	write    *writeInfo
}

// writeInfo is what an INSERT, UPDATE or DELETE writes.
type writeInfo struct {
	op      string // insert, update or delete
	rel     relRef
	columns []string // the columns assigned (INSERT's list, UPDATE's SET, ON CONFLICT's SET)
	// allColumns: an INSERT without a column list, which writes every column.
	allColumns bool
	// upsert: INSERT … ON CONFLICT DO UPDATE, which also updates.
	upsert bool
}

type copyInfo struct {
	rel     relRef
	hasRel  bool
	columns []string
	format  string // text, csv or binary
	header  bool
	custom  bool // options besides format and header (delimiter, quote…)
}

type relRef struct {
	schema, name string
	cte          bool // names a CTE of the statement
	// Where the statement names the relation, for row filters: the offset
	// of its name in the normalised text (-1 unknown), of a TABLE keyword
	// before it (-1 none), and how it is named.
	nloc, tableKw int
	only          bool // ONLY t
	alias         bool // t AS x
	target        bool // written or copied, not read in a FROM clause
}

// analyser caches analyses by normalised text.
type analyser struct {
	mu    sync.RWMutex
	cache map[string]*analysis
	max   int
	bufs  sync.Pool
}

var defaultAnalyser = &analyser{cache: map[string]*analysis{}, max: 10000,
	bufs: sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}}

func (a *analyser) analyse(sql string) *analysis {
	bp := a.bufs.Get().(*[]byte)
	key := Normalise((*bp)[:0], sql)
	a.mu.RLock()
	an := a.cache[string(key)]
	a.mu.RUnlock()
	if an != nil {
		*bp = key
		a.bufs.Put(bp)
		return an
	}
	an = parseAnalysis(sql)
	for _, si := range an.stmts {
		an.pinnedSet = an.pinnedSet || (si.kind == kindSet && pinnedParams[si.setParam])
	}
	an.normalised = strings.ReplaceAll(string(key), "\x00", "?")
	if an.parseErr != nil {
		// A parse error quotes the text near the fault, which can be a
		// literal: shared through the cache, one client's literal would
		// reach another client that sent the same shape.
		*bp = key
		a.bufs.Put(bp)
		return an
	}
	a.mu.Lock()
	if len(a.cache) >= a.max {
		clear(a.cache) // crude but bounded; statements are re-parsed on demand
	}
	a.cache[string(key)] = an
	a.mu.Unlock()
	*bp = key
	a.bufs.Put(bp)
	return an
}

func parseAnalysis(sql string) *analysis {
	tree, err := parse(sql)
	if err != nil {
		return &analysis{parseErr: err}
	}
	an := &analysis{cols: colWalker{aliases: map[string][]relRef{}}}
	ctes := map[string]bool{}
	var norm []byte
	var at []int
	for _, raw := range tree.Stmts {
		if raw.Stmt == nil {
			continue
		}
		si := classify(raw.Stmt)
		if an.operation == "" {
			an.operation = operationOf(si.tag)
		}
		an.stmts = append(an.stmts, si)
		statementColumns(raw.Stmt, &an.cols)
		targets := targetRelations(raw.Stmt)
		walk(raw.Stmt, func(m any) {
			switch n := m.(type) {
			case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
				if !isTop(raw.Stmt, n) {
					an.nestedWrite = true
				}
			case *pg_query.LockingClause:
				an.locking = true
			case *pg_query.RangeVar:
				if norm == nil {
					norm, at = normalisedOffsets(sql)
				}
				r := relRef{schema: n.Schemaname, name: n.Relname, only: !n.Inh, alias: n.Alias != nil,
					target: targets[n], nloc: -1, tableKw: -1}
				r.nloc, r.tableKw = nameOffsets(norm, at, int(n.Location))
				an.relations = append(an.relations, r)
			case *pg_query.FuncCall:
				if k := len(n.Funcname); k > 0 {
					an.functions = append(an.functions, strings.ToLower(n.Funcname[k-1].GetString_().GetSval()))
				}
			case *pg_query.CommonTableExpr:
				ctes[n.Ctename] = true
			}
		})
	}
	for i, r := range an.relations {
		if r.schema == "" && ctes[r.name] {
			an.relations[i].cte = true
		}
	}
	an.ctes = ctes
	an.indexLiterals(sql)
	return an
}

// targetRelations are the relations a statement writes or copies: its
// INSERT/UPDATE/DELETE/MERGE target or its COPY table.
func targetRelations(n *pg_query.Node) map[*pg_query.RangeVar]bool {
	var rv *pg_query.RangeVar
	switch s := n.Node.(type) {
	case *pg_query.Node_InsertStmt:
		rv = s.InsertStmt.Relation
	case *pg_query.Node_UpdateStmt:
		rv = s.UpdateStmt.Relation
	case *pg_query.Node_DeleteStmt:
		rv = s.DeleteStmt.Relation
	case *pg_query.Node_MergeStmt:
		rv = s.MergeStmt.Relation
	case *pg_query.Node_CopyStmt:
		rv = s.CopyStmt.Relation
	}
	if rv == nil {
		return nil
	}
	return map[*pg_query.RangeVar]bool{rv: true}
}

// isTop reports whether m is the statement n itself.
func isTop(n *pg_query.Node, m any) bool {
	switch s := n.Node.(type) {
	case *pg_query.Node_InsertStmt:
		return m == s.InsertStmt
	case *pg_query.Node_UpdateStmt:
		return m == s.UpdateStmt
	case *pg_query.Node_DeleteStmt:
		return m == s.DeleteStmt
	case *pg_query.Node_MergeStmt:
		return m == s.MergeStmt
	}
	return false
}

// nameOffsets turns a relation name's byte offset in the parsed text into
// its offset in the normalised text, and finds a TABLE keyword just before
// it (TABLE t is SELECT * FROM t). -1 means unknown or none.
func nameOffsets(norm []byte, at []int, loc int) (nloc, tableKw int) {
	i := sort.Search(len(at), func(i int) bool { return at[i] > loc }) - 1
	if i < 0 || at[i] != loc || norm[i] == ' ' {
		return -1, -1
	}
	j := i
	if j > 0 && norm[j-1] == ' ' {
		j--
	}
	const kw = "table"
	if k := j - len(kw); k >= 0 && strings.EqualFold(string(norm[k:j]), kw) && (k == 0 || !isIdentChar(norm[k-1])) {
		return i, k
	}
	return i, -1
}

// visitor is called by eachChild (walk_gen.go) for each child message.
type visitor interface{ visit(m any) }

type fnWalker struct{ fn func(any) }

func (w *fnWalker) visit(m any) {
	w.fn(m)
	eachChild(m, w)
}

// walk calls fn on m and on every message inside it, Nodes unwrapped. The
// walk is generated from pg_query's message types (TestWalkGenerated), so
// it reaches every node of any statement.
func walk(m any, fn func(any)) {
	if n, ok := m.(*pg_query.Node); ok {
		if m = unwrap(n); m == nil {
			return
		}
	}
	(&fnWalker{fn}).visit(m)
}

func classify(n *pg_query.Node) stmtInfo {
	tag := fmt.Sprintf("%T", n.Node)
	tag = strings.TrimPrefix(strings.TrimPrefix(tag, "*pg_query.Node_"), "*pg_query.")
	si := stmtInfo{tag: tag, kind: kindDenied}
	switch s := n.Node.(type) {
	case *pg_query.Node_SelectStmt:
		if !hasInto(s.SelectStmt) {
			si.kind = kindRead
		}
	case *pg_query.Node_DeclareCursorStmt:
		if sel := s.DeclareCursorStmt.Query.GetSelectStmt(); sel != nil && !hasInto(sel) {
			si.kind = kindRead
		}
	case *pg_query.Node_ExecuteStmt, *pg_query.Node_FetchStmt, *pg_query.Node_ClosePortalStmt:
		si.kind = kindRead
	case *pg_query.Node_PrepareStmt:
		if sel := s.PrepareStmt.Query.GetSelectStmt(); sel != nil && !hasInto(sel) {
			si.kind = kindRead
		}
	case *pg_query.Node_TransactionStmt, *pg_query.Node_VariableShowStmt, *pg_query.Node_DiscardStmt,
		*pg_query.Node_DeallocateStmt, *pg_query.Node_UnlistenStmt:
		si.kind = kindSession
	case *pg_query.Node_VariableSetStmt:
		si.kind = kindSet
		si.setParam = strings.ToLower(s.VariableSetStmt.Name)
	case *pg_query.Node_InsertStmt:
		si.kind = kindWrite
		ins := s.InsertStmt
		wi := &writeInfo{op: "insert", rel: relOf(ins.Relation), allColumns: len(ins.Cols) == 0}
		for _, c := range ins.Cols {
			wi.columns = append(wi.columns, c.GetResTarget().GetName())
		}
		if oc := ins.OnConflictClause; oc != nil && oc.Action == pg_query.OnConflictAction_ONCONFLICT_UPDATE {
			wi.upsert = true
			wi.columns = append(wi.columns, setColumns(oc.TargetList)...)
		}
		si.write = wi
	case *pg_query.Node_UpdateStmt:
		si.kind = kindWrite
		si.write = &writeInfo{op: "update", rel: relOf(s.UpdateStmt.Relation), columns: setColumns(s.UpdateStmt.TargetList)}
	case *pg_query.Node_DeleteStmt:
		si.kind = kindWrite
		si.write = &writeInfo{op: "delete", rel: relOf(s.DeleteStmt.Relation)}
	case *pg_query.Node_CopyStmt:
		si.copy = copyOf(s.CopyStmt)
		if !s.CopyStmt.IsFrom && !s.CopyStmt.IsProgram && s.CopyStmt.Filename == "" {
			si.kind = kindCopyOut
		}
	}
	return si
}

// setValues returns, for each statement of sql, the first value a SET gives
// ("" for RESET, DEFAULT or another statement). The value can be a literal,
// which the cached analysis does not keep, so this parses sql afresh; SET is
// rare enough for that.
func setValues(sql string) []string {
	tree, err := parse(sql)
	if err != nil {
		return nil
	}
	out := make([]string, len(tree.Stmts))
	for i, raw := range tree.Stmts {
		vs := raw.Stmt.GetVariableSetStmt()
		if vs == nil || len(vs.Args) == 0 {
			continue
		}
		c := vs.Args[0].GetAConst()
		switch {
		case c == nil:
			out[i] = "?"
		case c.GetSval() != nil:
			out[i] = c.GetSval().Sval
		case c.GetIval() != nil:
			out[i] = fmt.Sprint(c.GetIval().Ival)
		case c.GetBoolval() != nil:
			out[i] = fmt.Sprint(c.GetBoolval().Boolval)
		default:
			out[i] = "?"
		}
	}
	return out
}

func relOf(rv *pg_query.RangeVar) relRef {
	if rv == nil {
		return relRef{}
	}
	return relRef{schema: rv.Schemaname, name: rv.Relname}
}

// setColumns are the columns a SET list assigns; (a, b) = (…) assigns each.
func setColumns(targets []*pg_query.Node) []string {
	var cols []string
	for _, t := range targets {
		if rt := t.GetResTarget(); rt != nil {
			cols = append(cols, rt.Name)
		}
	}
	return cols
}

func hasInto(s *pg_query.SelectStmt) bool {
	if s == nil {
		return false
	}
	return s.IntoClause != nil || hasInto(s.Larg) || hasInto(s.Rarg)
}

func copyOf(c *pg_query.CopyStmt) *copyInfo {
	ci := &copyInfo{format: "text"}
	if c.Relation != nil {
		ci.hasRel = true
		ci.rel = relRef{schema: c.Relation.Schemaname, name: c.Relation.Relname}
	}
	for _, a := range c.Attlist {
		ci.columns = append(ci.columns, a.GetString_().GetSval())
	}
	for _, o := range c.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		switch d.Defname {
		case "format":
			ci.format = strings.ToLower(d.Arg.GetString_().GetSval())
		case "binary":
			ci.format = "binary"
		case "header":
			ci.header = optionTrue(d.Arg)
		default:
			ci.custom = true
		}
	}
	return ci
}

// optionTrue reads a boolean COPY option: absent, true/on/1/match are true.
func optionTrue(arg *pg_query.Node) bool {
	if arg == nil {
		return true
	}
	if b := arg.GetBoolean(); b != nil {
		return b.Boolval
	}
	if i := arg.GetInteger(); i != nil {
		return i.Ival != 0
	}
	switch strings.ToLower(arg.GetString_().GetSval()) {
	case "false", "off", "0", "no":
		return false
	}
	return true
}

// operationOf turns a parse-tree tag into an operation name: SelectStmt →
// SELECT, VariableSetStmt → SET.
func operationOf(tag string) string {
	switch tag {
	case "SelectStmt":
		return "SELECT"
	case "VariableSetStmt":
		return "SET"
	case "VariableShowStmt":
		return "SHOW"
	case "TransactionStmt":
		return "TRANSACTION"
	case "CopyStmt":
		return "COPY"
	}
	return strings.ToUpper(strings.TrimSuffix(tag, "Stmt"))
}

// indexLiterals turns each lookup literal's byte offset into its index among
// the statement's literals, which is what stays true for another text with
// the same normalised form.
func (an *analysis) indexLiterals(sql string) {
	spans := literalSpans(sql)
	for i := range an.cols.refs {
		for j := range an.cols.refs[i].args {
			a := &an.cols.refs[i].args[j]
			if a.loc < 0 {
				continue
			}
			for k, sp := range spans {
				if sp[0] == int(a.loc) {
					a.literal = k
				}
			}
		}
	}
}
