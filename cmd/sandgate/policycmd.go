package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/gateway/egress"
	"github.com/sandgate/sandgate/policy"
)

const policyUsage = `Usage:
  sandgate policy check [-dsn DSN] FILE…
      Check policy files: every problem with file:line:column and what to do.
      With -dsn, also check that every named table and column exists and
      that every row filter runs.
  sandgate policy explain -sandbox S -policy FILE [-policy FILE…] [-dsn DSN] "SQL"
      Say what sandgate would do with a statement, and why: the decision and,
      with -dsn (to describe the result), the rule behind each output column.`

// policyCmd implements `sandgate policy check|explain`.
func policyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintln(stdout, policyUsage)
		return nil
	}
	switch args[0] {
	case "check":
		return policyCheck(ctx, args[1:], stdout, stderr)
	case "explain":
		return policyExplain(ctx, args[1:], stdout, stderr)
	}
	return &usageError{msg: fmt.Sprintf("unknown policy command %q", args[0]), try: "sandgate policy -h"}
}

// loadForCheck compiles policy files with throwaway keys and validates
// everything the gateways build from them (egress allowlists, HTTP
// sources), for `policy check`, `check-config` and `report`.
func loadForCheck(paths []string) (*policy.Set, error) {
	set, err := policy.LoadFiles(policy.Options{HashKey: make([]byte, 32), Engine: checkEngine()}, paths...)
	if err != nil {
		return nil, err
	}
	if _, err := egressConfig(set, egress.DefaultListen); err != nil {
		return nil, fmt.Errorf("egress sections: %w", err)
	}
	if _, err := newDataFront(set, checkEngine()); err != nil {
		return nil, fmt.Errorf("http_sources: %w", err)
	}
	return set, nil
}

func policyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("dsn", "", "a PostgreSQL connection string: check that named tables and columns exist")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return &usageError{msg: "name one or more policy files", try: "sandgate policy check configs/demo-policy.yaml"}
	}
	set, err := loadForCheck(fs.Args())
	if err != nil {
		return err
	}
	if *dsn != "" {
		if err := checkAgainstDatabase(ctx, set, *dsn); err != nil {
			return err
		}
	}
	n := len(set.Names())
	plural := "es"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(stdout, "%s: ok (%d sandbox%s: %s)\n", strings.Join(fs.Args(), ", "), n, plural, strings.Join(set.Names(), ", "))
	return nil
}

// checkAgainstDatabase reports every named table or column the database
// does not have.
func checkAgainstDatabase(ctx context.Context, set *policy.Set, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to check tables: %w", err)
	}
	defer conn.Close(ctx)
	var errs []error
	for _, name := range set.Names() {
		sb := set.Sandbox(name)
		tables := sb.Tables()
		names := make([]string, 0, len(tables))
		for t := range tables {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, t := range names {
			schema, table, _ := strings.Cut(t, ".")
			var have []string
			rows, err := conn.Query(ctx, `select column_name from information_schema.columns
				where table_schema = $1 and table_name = $2`, schema, table)
			if err == nil {
				have, err = pgx.CollectRows(rows, pgx.RowTo[string])
			}
			if err != nil {
				return fmt.Errorf("read columns of %s: %w", t, err)
			}
			if len(have) == 0 {
				errs = append(errs, fmt.Errorf("sandbox %q: table %s does not exist in the database (or sandgate's role cannot see it)", name, t))
				continue
			}
			for _, c := range tables[t] {
				if !contains(have, c) {
					errs = append(errs, fmt.Errorf("sandbox %q: column %s.%s does not exist", name, t, c))
				}
			}
		}
		for t, sub := range sb.RowFilters() {
			// Preparing plans the filter without running it.
			if _, err := conn.PgConn().Prepare(ctx, "", "SELECT 1 FROM "+sub+" AS f", nil); err != nil {
				errs = append(errs, fmt.Errorf("sandbox %q: the row filter of %s does not run on this database: %w", name, t, err))
			}
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func policyExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sandbox := fs.String("sandbox", "", "the sandbox whose policy applies")
	dsn := fs.String("dsn", "", "a PostgreSQL connection string, to describe the statement's result columns")
	var files multiFlag
	fs.Var(&files, "policy", "a policy file (repeatable)")
	if err := fs.Parse(args); err != nil || *sandbox == "" || len(files) == 0 || fs.NArg() != 1 {
		return &usageError{msg: "explain needs -sandbox, at least one -policy file and one statement",
			try: `sandgate policy explain -sandbox diabetes_dash -policy configs/demo-policy.yaml "select nhs_number from patients"`}
	}
	set, err := loadForCheck(files)
	if err != nil {
		return err
	}
	sb := set.Sandbox(*sandbox)
	if sb == nil {
		return &usageError{msg: fmt.Sprintf("no sandbox %q in the policy", *sandbox), try: "one of: " + strings.Join(set.Names(), ", ")}
	}
	sql := fs.Arg(0)
	st, err := sb.CheckStatement(sql)
	var d *policy.Denial
	if errors.As(err, &d) {
		fmt.Fprintf(stdout, "decision: deny (rule %s, SQLSTATE %s)\nwhy:      %s\nnext:     %s\n", d.Rule, d.Code, d.Msg, d.Hint)
		return nil
	}
	if err != nil {
		return err
	}
	upstream, err := st.Upstream(sql)
	if errors.As(err, &d) {
		fmt.Fprintf(stdout, "decision: deny (rule %s, SQLSTATE %s)\nwhy:      %s\nnext:     %s\n", d.Rule, d.Code, d.Msg, d.Hint)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "decision: allow (statement)\nstatement as sent upstream: %s\nrelations: %s\n", upstream, strings.Join(st.Relations, ", "))
	if len(st.RowFilters) > 0 {
		fmt.Fprintf(stdout, "row filters: %s (each is read through its filter's subquery)\n", strings.Join(st.RowFilters, ", "))
	}
	if len(st.Lookups) > 0 {
		fmt.Fprintln(stdout, "lookups: each token compared with a tokenised column is replaced by its real value before the statement goes upstream")
	}
	if st.Strict {
		fmt.Fprintln(stdout, "note: reads protected columns: computed result columns are refused, server error text is withheld")
	}
	if *dsn == "" {
		fmt.Fprintln(stdout, "columns: (give -dsn to describe the result and show each column's rule)")
		return nil
	}
	return explainColumns(ctx, stdout, sb, st, upstream, *dsn)
}

// explainColumns describes the statement upstream and plans its columns.
func explainColumns(ctx context.Context, w io.Writer, sb *policy.Sandbox, st *policy.Statement, sql, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to describe: %w", err)
	}
	defer conn.Close(ctx)
	desc, err := conn.PgConn().Prepare(ctx, "", sql, nil)
	if err != nil {
		return fmt.Errorf("describe the statement: %w", err)
	}
	cols := make([]policy.Column, len(desc.Fields))
	for i, f := range desc.Fields {
		cols[i].Name = f.Name
		if f.TableOID == 0 {
			continue
		}
		err := conn.QueryRow(ctx, `select n.nspname, c.relname, a.attname from pg_catalog.pg_attribute a
			join pg_catalog.pg_class c on c.oid = a.attrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
			where a.attrelid = $1 and a.attnum = $2`, f.TableOID, f.TableAttributeNumber).Scan(&cols[i].Schema, &cols[i].Table, &cols[i].Attr)
		if err != nil {
			cols[i].Unresolved = true
		}
	}
	pl, err := sb.PlanColumns(st, cols)
	var d *policy.Denial
	if errors.As(err, &d) {
		fmt.Fprintf(w, "decision: deny (rule %s)\nwhy:      %s\nnext:     %s\n", d.Rule, d.Msg, d.Hint)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "columns:")
	for i, c := range cols {
		rule, src := "allow", "computed"
		if c.Table != "" {
			src = c.Schema + "." + c.Table + "." + c.Attr
		}
		if tr := pl.Transforms[i]; tr != nil {
			rule = tr.Name()
		}
		fmt.Fprintf(w, "  %-20s %-40s %s\n", c.Name, src, rule)
	}
	return nil
}
