package synth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoadOptions configure Load. The zero value loads each root table's
// spec row count with seed 0.
type LoadOptions struct {
	// Seed selects the dataset; the same seed loads the same rows.
	Seed uint64
	// Rows is the number of rows of each root (patient) table; child tables
	// follow. Zero means the count in the spec.
	Rows int64
	// Drop drops the spec's tables first if they exist. When false, an
	// existing table makes Load fail.
	Drop bool
	// Progress, when not nil, is called from Load's goroutine as rows go
	// out: every ProgressEvery slots and once at the end of each table.
	Progress func(Progress)
	// ProgressEvery is the number of slots between Progress calls; zero
	// means 65536.
	ProgressEvery int64
}

// Progress reports how far the load of one table has got.
type Progress struct {
	Table      string
	Slots      int64 // slots generated so far
	TotalSlots int64 // slots in the table (rows ≤ slots)
	Rows       int64 // rows sent so far
	Done       bool  // the table is complete
}

// Summary is what Load did.
type Summary struct {
	Tables  []TableSummary
	Elapsed time.Duration
}

// TableSummary is one table's part of a Summary.
type TableSummary struct {
	Name    string
	Rows    int64
	Elapsed time.Duration
}

// Rows is the total rows loaded.
func (s Summary) Rows() int64 {
	var n int64
	for _, t := range s.Tables {
		n += t.Rows
	}
	return n
}

// Load creates the spec's tables on conn and fills them through binary
// COPY, generating rows as COPY asks for them. Everything happens in one
// transaction: on error nothing is left behind. Primary and foreign keys
// are added after the data is in (faster than checking row by row), which
// also checks the dataset's referential integrity.
func Load(ctx context.Context, conn *pgx.Conn, spec *Spec, opts LoadOptions) (Summary, error) {
	start := time.Now()
	var sum Summary
	tx, err := conn.Begin(ctx)
	if err != nil {
		return sum, fmt.Errorf("load %s: begin: %w", spec.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, stmt := range createStatements(spec, opts.Drop) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return sum, fmt.Errorf("load %s: %s: %w", spec.Name, firstWords(stmt), err)
		}
	}
	for _, t := range spec.Tables {
		ts, err := copyTable(ctx, tx, spec, t, &opts)
		if err != nil {
			return sum, fmt.Errorf("load table %s: %w", t.Name, err)
		}
		sum.Tables = append(sum.Tables, ts)
	}
	for _, stmt := range constraintStatements(spec) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return sum, fmt.Errorf("load %s: %s: %w", spec.Name, firstWords(stmt), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return sum, fmt.Errorf("load %s: commit: %w", spec.Name, err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func firstWords(stmt string) string {
	if f := strings.Fields(stmt); len(f) > 3 {
		return strings.ToLower(strings.Join(f[:3], " "))
	}
	return strings.ToLower(stmt)
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// createStatements returns the statements that create the spec's tables, without
// constraints (see ConstraintSQL).
func createStatements(spec *Spec, drop bool) []string {
	var stmts []string
	if drop {
		for i := len(spec.Tables) - 1; i >= 0; i-- {
			stmts = append(stmts, "DROP TABLE IF EXISTS "+ident(spec.Tables[i].Name)+" CASCADE")
		}
	}
	for _, t := range spec.Tables {
		var b strings.Builder
		b.WriteString("CREATE TABLE " + ident(t.Name) + " (")
		for i, c := range t.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ident(c.Name) + " " + c.Type + " NOT NULL")
		}
		b.WriteString(")")
		stmts = append(stmts, b.String())
	}
	return stmts
}

// constraintStatements adds primary keys, then foreign keys.
func constraintStatements(spec *Spec) []string {
	var pks, fks []string
	for _, t := range spec.Tables {
		for _, c := range t.Columns {
			if c.PrimaryKey {
				pks = append(pks, fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s)", ident(t.Name), ident(c.Name)))
			}
			if c.References != nil {
				fks = append(fks, fmt.Sprintf("ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s (%s)",
					ident(t.Name), ident(c.Name), ident(c.RefTable.Name), ident(c.References.Name)))
			}
		}
	}
	return append(pks, fks...)
}

// DDL returns the SQL that creates the spec's tables with their keys, for
// people who load data by other means.
func (s *Spec) DDL() string {
	stmts := append(createStatements(s, false), constraintStatements(s)...)
	return strings.Join(stmts, ";\n") + ";\n"
}

func copyTable(ctx context.Context, tx pgx.Tx, spec *Spec, t *Table, opts *LoadOptions) (TableSummary, error) {
	start := time.Now()
	rows := opts.Rows
	if rows <= 0 {
		rows = t.Root().Rows
	}
	src := newCopySource(ctx, spec.NewGenerator(t, opts.Seed), 0, t.Slots(rows), opts)
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.Name
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.Name}, cols, src)
	if err != nil {
		return TableSummary{}, err
	}
	src.report(true)
	return TableSummary{Name: t.Name, Rows: n, Elapsed: time.Since(start)}, nil
}
