package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Denial is a policy refusal. Its text names what was refused and never
// contains a data value.
type Denial struct {
	Code string // SQLSTATE: 42501 for policy, 42601 for unparsable SQL
	Rule string // which rule refused, e.g. "column-rule", "statement-kind"
	Msg  string
	Hint string
}

func (d *Denial) Error() string { return d.Msg }

// SQLSTATEs used in denials.
const (
	CodeInsufficientPrivilege = "42501"
	CodeSyntaxError           = "42601"
	CodeFeatureNotSupported   = "0A000"
)

// Statement is a statement the sandbox may run, with what planning its
// result needs to know.
type Statement struct {
	// Strict means the statement reads a table with protected columns, so a
	// computed result column (an expression) cannot be proven harmless and is
	// refused.
	Strict bool
	// Copy is set for COPY … TO STDOUT.
	Copy *CopyPlan
	// Normalised is the statement with literals replaced by ? and comments
	// removed: safe for logs, spans and audit records.
	Normalised string
	// Operation is the first statement's kind, e.g. SELECT.
	Operation string
	// Relations are the schema-qualified tables read (CTEs left out).
	Relations []string
	// Lookups are comparisons with tokens to reveal before the statement
	// goes upstream (see Rewrite and RevealParams).
	Lookups []Lookup
	// RowFilters are the filtered tables the statement reads: Rewrite puts
	// each table's filter under it.
	RowFilters []string
	filters    []filterEdit
}

// CopyPlan describes a COPY … TO STDOUT.
type CopyPlan struct {
	Schema, Table string   // the relation copied; empty for COPY (query)
	Columns       []string // as listed; empty means all
	Format        string   // text, csv or binary
	Header        bool     // the first row is a header
	// Custom means options besides FORMAT and HEADER (DELIMITER, QUOTE…):
	// such output cannot be rewritten, so it may not carry a transformed
	// column.
	Custom bool
}

// safeParams are run-time parameters a sandbox may SET: they change
// presentation, not what data is reachable. search_path, role and
// session_authorization are not here on purpose.
var safeParams = map[string]bool{
	"application_name": true, "client_encoding": true, "datestyle": true, "timezone": true,
	"intervalstyle": true, "extra_float_digits": true, "statement_timeout": true,
	"lock_timeout": true, "idle_in_transaction_session_timeout": true, "client_min_messages": true,
	"bytea_output": true, "standard_conforming_strings": true, "transaction_isolation": true,
	"transaction_read_only": true, "default_transaction_read_only": true, "time zone": true,
	"jit": true, "work_mem": true, "enable_seqscan": true,
}

// pinnedParams are the safeParams whose value SettingRefusal checks.
var pinnedParams = map[string]bool{"client_encoding": true, "standard_conforming_strings": true}

// clientOnlyEncodings are the client encodings whose multi-byte characters
// can end in the byte of a backslash or quote (names folded as PostgreSQL
// folds them: lower case, letters and digits only).
var clientOnlyEncodings = map[string]bool{
	"sjis": true, "shiftjis": true, "mskanji": true, "win932": true, "windows932": true, "shiftjis2004": true,
	"big5": true, "win950": true, "windows950": true, "gbk": true, "win936": true, "windows936": true, "cp936": true,
	"uhc": true, "win949": true, "windows949": true, "gb18030": true, "johab": true,
}

// SettingRefusal says why no sandbox may give the run-time parameter name
// the value v, or "" if that is fine as far as sandgate is concerned. It
// pins what changes how the server reads statement text: sandgate checks a
// statement with PostgreSQL's parser at its defaults, so a client encoding
// whose characters can contain a quote or backslash byte, or
// standard_conforming_strings off (backslash escapes in '…'), would let one
// text mean one thing to sandgate and another to the server.
func SettingRefusal(name, v string) string {
	switch strings.ToLower(name) {
	case "client_encoding":
		var b strings.Builder
		for _, c := range strings.ToLower(v) {
			if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
				b.WriteRune(c)
			}
		}
		if clientOnlyEncodings[b.String()] || v == "?" {
			return "that encoding's characters can contain quote and backslash bytes"
		}
	case "standard_conforming_strings":
		switch strings.ToLower(v) {
		case "", "on", "true", "yes", "1":
		default:
			return "with it off, backslashes escape quotes in '…' strings"
		}
	}
	return ""
}

// catalogSchemas are readable by every sandbox, except deniedCatalog.
var catalogSchemas = map[string]bool{"pg_catalog": true, "information_schema": true}

// deniedCatalog are views and tables that expose data values, other
// sessions' statements or secrets.
var deniedCatalog = map[string]bool{
	"pg_statistic": true, "pg_stats": true, "pg_stats_ext": true, "pg_stats_ext_exprs": true,
	"pg_statistic_ext_data": true, "pg_stat_statements": true, "pg_stat_statements_info": true,
	"pg_stat_activity": true, "pg_authid": true, "pg_shadow": true, "pg_user_mapping": true,
	"pg_user_mappings": true, "pg_largeobject": true, "pg_file_settings": true,
	"pg_hba_file_rules": true, "pg_ident_file_mappings": true, "pg_subscription": true,
	"pg_replication_slots": true, "pg_prepared_xacts": true,
}

// deniedFunctions read server files, raw pages or the WAL, reach other
// databases, run SQL given as a string (which this analysis cannot see
// into: ts_stat, query_to_xml), or change settings.
var deniedFunctions = map[string]bool{
	"pg_read_file": true, "pg_read_binary_file": true, "pg_stat_file": true, "pg_ls_dir": true,
	"ts_stat": true, "get_raw_page": true, "heap_page_items": true, "tuple_data_split": true, "bt_page_items": true,
	"pg_ls_logdir": true, "pg_ls_waldir": true, "pg_ls_tmpdir": true, "pg_ls_archive_statusdir": true,
	"lo_import": true, "lo_export": true, "lo_get": true, "lo_open": true, "loread": true,
	"lo_from_bytea": true, "lo_put": true, "dblink": true, "dblink_exec": true, "dblink_connect": true,
	"query_to_xml": true, "query_to_xmlschema": true, "query_to_xml_and_xmlschema": true,
	"table_to_xml": true, "table_to_xmlschema": true, "table_to_xml_and_xmlschema": true,
	"cursor_to_xml": true, "schema_to_xml": true, "database_to_xml": true,
	"schema_to_xml_and_xmlschema": true, "database_to_xml_and_xmlschema": true,
	"set_config": true, "pg_stat_get_activity": true, "pg_stat_get_backend_activity": true,
	"pg_stat_statements": true, "pg_terminate_backend": true, "pg_cancel_backend": true,
	"pg_reload_conf": true, "pg_notify": true, "pg_logical_emit_message": true,
	"pg_mcv_list_items": true, "pg_current_logfile": true, "pg_file_write": true,
	"pg_stat_get_backend_activity_start": true, "pg_get_backend_memory_contexts": true,
}

// CheckStatement decides whether the sandbox may run sql (one simple Query
// message, possibly several statements, or one Parse). With a denial it
// still returns what it learnt of the statement (its normalised text, for
// the audit record) unless the statement could not be parsed; that
// Statement must not be run.
func (sb *Sandbox) CheckStatement(sql string) (*Statement, error) {
	if strings.IndexByte(sql, 0) >= 0 {
		// The wire protocol ends a statement at NUL, and the cache key uses
		// NUL for literals: such a text is refused, never looked up.
		return nil, &Denial{Code: CodeSyntaxError, Rule: "parse", Msg: "the statement text contains a NUL byte",
			Hint: "PostgreSQL statements cannot contain NUL; send the text without it"}
	}
	an := defaultAnalyser.analyse(sql)
	if sb.checked == nil || an.pinnedSet || an.parseErr != nil {
		return sb.checkStatement(sql, an)
	}
	if r, ok := sb.checked.get(an); ok {
		return r.st, r.err
	}
	st, err := sb.checkStatement(sql, an)
	sb.checked.put(an, checkResult{st, err})
	return st, err
}

// checkStatement is CheckStatement's decision for an analysis of sql.
func (sb *Sandbox) checkStatement(sql string, an *analysis) (*Statement, error) {
	if an.parseErr != nil {
		return nil, &Denial{Code: CodeSyntaxError, Rule: "parse",
			Msg:  "sandgate could not parse the statement: " + an.parseErr.Error(),
			Hint: "every statement is checked with PostgreSQL's parser before it runs; fix the SQL syntax"}
	}
	st := &Statement{Normalised: an.normalised, Operation: an.operation}
	var setVals []string
	for i, s := range an.stmts {
		if s.kind == kindSet && pinnedParams[s.setParam] {
			if setVals == nil {
				setVals = setValues(sql)
			}
			v := "?"
			if i < len(setVals) {
				v = setVals[i]
			}
			if r := SettingRefusal(s.setParam, v); r != "" {
				return st, &Denial{Code: CodeInsufficientPrivilege, Rule: "set-parameter",
					Msg:  fmt.Sprintf("sandbox %q may not set %s to %s: %s", sb.Name, s.setParam, v, r),
					Hint: "sandgate must read every statement exactly as the database does; use UTF8 and standard_conforming_strings = on"}
			}
		}
		if err := sb.checkKind(s, st); err != nil {
			return st, err
		}
	}
	if an.nestedWrite {
		return st, &Denial{Code: CodeInsufficientPrivilege, Rule: "statement-kind",
			Msg:  fmt.Sprintf("sandbox %q may not write inside another statement (WITH … AS (INSERT/UPDATE/DELETE …))", sb.Name),
			Hint: "send each write on its own, where the policy's writes section allows it"}
	}
	if an.locking {
		return st, &Denial{Code: CodeInsufficientPrivilege, Rule: "statement-kind",
			Msg:  fmt.Sprintf("sandbox %q may not lock rows (FOR UPDATE/SHARE)", sb.Name),
			Hint: "row locks block the clinical systems' own writes; read without FOR UPDATE"}
	}
	for _, f := range an.functions {
		if deniedFunctions[f] || strings.HasPrefix(f, "dblink") || strings.HasPrefix(f, "lo_") || strings.HasPrefix(f, "pg_ls_") ||
			strings.HasPrefix(f, "pg_logical_slot_") || strings.HasPrefix(f, "pg_get_wal_") {
			return st, &Denial{Code: CodeInsufficientPrivilege, Rule: "function",
				Msg:  fmt.Sprintf("function %s is not allowed in sandbox %q", f, sb.Name),
				Hint: "it reads server files, other databases or settings, or runs SQL sandgate cannot check"}
		}
	}
	var read []*table
	for _, r := range an.relations {
		if r.cte {
			continue
		}
		t, err := sb.relation(r)
		if err != nil {
			return st, err
		}
		if t != nil {
			read = append(read, t)
		}
		if t != nil && !slices.Contains(st.Relations, t.name.String()) {
			st.Relations = append(st.Relations, t.name.String())
		}
	}
	if err := sb.checkColumns(an, read, st); err != nil {
		return st, err
	}
	if err := sb.rowFilters(an, st); err != nil {
		return st, err
	}
	if st.Copy != nil && st.Copy.Table != "" {
		// COPY table TO STDOUT reads every column it copies directly.
		if t := sb.tables[relName{st.Copy.Schema, st.Copy.Table}]; t != nil && t.protected {
			st.Strict = true
		}
	}
	if st.Copy != nil && len(an.stmts) > 1 {
		return st, &Denial{Code: CodeFeatureNotSupported, Rule: "copy",
			Msg: "COPY must be the only statement in its query", Hint: "send the COPY on its own"}
	}
	return st, nil
}

// checkCache remembers CheckStatement's answers by analysis, so that a
// statement sent again (prepared or not, with other literals) is decided
// once. A sandbox and an analysis never change, so neither does the
// answer; a Statement is read-only once returned, which is what lets
// sessions share it. Two answers depend on more than the analysis and are
// never cached: a SET of a pinned parameter (on the value set,
// analysis.pinnedSet), and a parse error (its text quotes the statement).
type checkCache struct {
	mu sync.RWMutex
	m  map[*analysis]checkResult
}

type checkResult struct {
	st  *Statement
	err error
}

// maxChecked bounds a sandbox's cache like the analyser's.
const maxChecked = 10000

func newCheckCache() *checkCache { return &checkCache{m: map[*analysis]checkResult{}} }

func (c *checkCache) get(an *analysis) (checkResult, bool) {
	c.mu.RLock()
	r, ok := c.m[an]
	c.mu.RUnlock()
	return r, ok
}

func (c *checkCache) put(an *analysis, r checkResult) {
	c.mu.Lock()
	if len(c.m) >= maxChecked {
		clear(c.m) // crude but bounded, as the analyser's cache
	}
	c.m[an] = r
	c.mu.Unlock()
}

func (sb *Sandbox) checkKind(s stmtInfo, st *Statement) error {
	switch s.kind {
	case kindRead, kindSession:
		return nil
	case kindSet:
		if safeParams[s.setParam] || s.setParam == "" {
			return nil
		}
		return &Denial{Code: CodeInsufficientPrivilege, Rule: "set-parameter",
			Msg:  fmt.Sprintf("sandbox %q may not change the setting %s", sb.Name, s.setParam),
			Hint: "it can change what data a statement reaches; ask the gateway's operators if you need it"}
	case kindWrite:
		// Server error text about a written row ("Failing row contains …")
		// shows every column of it, protected or not.
		st.Strict = true
		if rn := sb.resolve(s.write.rel).String(); !slices.Contains(st.Relations, rn) {
			st.Relations = append(st.Relations, rn) // for the audit record, even when refused
		}
		return sb.checkWrite(s.write)
	case kindCopyOut:
		cp := &CopyPlan{Format: s.copy.format, Columns: s.copy.columns, Header: s.copy.header, Custom: s.copy.custom}
		if s.copy.hasRel {
			rn := sb.resolve(s.copy.rel)
			cp.Schema, cp.Table = rn.schema, rn.name
		}
		st.Copy = cp
		return nil
	}
	if s.tag == "ListenStmt" {
		return &Denial{Code: CodeInsufficientPrivilege, Rule: "listen",
			Msg:  fmt.Sprintf("sandbox %q may not LISTEN: notification payloads come from other applications and can carry patient data", sb.Name),
			Hint: "poll the tables your policy names instead"}
	}
	if s.copy != nil {
		return &Denial{Code: CodeInsufficientPrivilege, Rule: "copy",
			Msg:  fmt.Sprintf("sandbox %q may only COPY … TO STDOUT; COPY FROM, files and programs are refused", sb.Name),
			Hint: "sandboxes are read-only; use \\copy in psql to write a local file"}
	}
	return &Denial{Code: CodeInsufficientPrivilege, Rule: "statement-kind",
		Msg:  fmt.Sprintf("sandbox %q is read-only: %s statements are not allowed", sb.Name, strings.TrimSuffix(s.tag, "Stmt")),
		Hint: "sandgate lets prototypes read what their policy names; writes, DDL and row locks need a policy rule"}
}

// resolve qualifies an unqualified name as PostgreSQL would with sandgate's
// fixed search_path: pg_catalog for pg_* names, otherwise public.
func (sb *Sandbox) resolve(r relRef) relName {
	name := relName{r.schema, r.name} // pg_query folds unquoted names; quoted ones keep their case, as in PostgreSQL
	if name.schema != "" {
		return name
	}
	if strings.HasPrefix(name.name, "pg_") {
		// PostgreSQL searches pg_catalog first, whatever search_path says.
		return relName{"pg_catalog", name.name}
	}
	return relName{"public", name.name}
}

// relation checks one referenced relation; it returns the sandbox's table,
// or nil for a readable catalog relation.
func (sb *Sandbox) relation(r relRef) (*table, error) {
	rn := sb.resolve(r)
	if catalogSchemas[rn.schema] {
		if deniedCatalog[rn.name] {
			return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "catalog",
				Msg:  fmt.Sprintf("%s is not readable through sandgate", rn),
				Hint: "statistics and activity views can reveal data values or other sessions' statements"}
		}
		return nil, nil
	}
	t, ok := sb.tables[rn]
	if !ok {
		return nil, sb.notNamed(rn.String())
	}
	return t, nil
}

func (sb *Sandbox) notNamed(what string) error {
	return &Denial{Code: CodeInsufficientPrivilege, Rule: "not-named",
		Msg:  fmt.Sprintf("table %s is not in the policy of sandbox %q", what, sb.Name),
		Hint: "ask your information governance team to add it to the sandbox's policy, naming the columns you need"}
}
