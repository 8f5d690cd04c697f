package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/synth"
)

const synthUsage = `usage:
  sandgate synth load --spec ehr|FILE --rows N --dsn DSN [--seed S] [--drop]
      create the spec's tables and fill them through COPY (N rows per root table)
  sandgate synth gen --spec ehr|FILE --table T --rows N [--seed S] [--format csv|ndjson|fhir]
      write N rows of table T to stdout
  sandgate synth ddl --spec ehr|FILE
      print the CREATE TABLE statements
`

// synthCmd implements "sandgate synth".
func synthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, synthUsage)
		return errors.New("synth: missing subcommand (load, gen or ddl)")
	}
	switch args[0] {
	case "load":
		return synthLoad(ctx, args[1:], stderr)
	case "gen":
		return synthGen(ctx, args[1:], stdout, stderr)
	case "ddl":
		return synthDDL(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, synthUsage)
		return nil
	}
	fmt.Fprint(stderr, synthUsage)
	return fmt.Errorf("synth: unknown subcommand %q; use load, gen or ddl", args[0])
}

// synthFlags are the flags the subcommands share.
type synthFlags struct {
	fs     *flag.FlagSet
	spec   string
	rows   int64
	seed   string
	dsn    string
	table  string
	format string
	drop   bool
}

func newSynthFlags(name string, stderr io.Writer) *synthFlags {
	f := &synthFlags{fs: flag.NewFlagSet("synth "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() { fmt.Fprint(stderr, synthUsage) }
	f.fs.StringVar(&f.spec, "spec", "ehr", "built-in spec name or YAML file")
	f.fs.StringVar(&f.seed, "seed", "", "seed (default: the spec's)")
	return f
}

func (f *synthFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", f.fs.Name(), err)
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.fs.Name(), f.fs.Arg(0))
	}
	return nil
}

// load returns the spec and the seed to use.
func (f *synthFlags) load() (*synth.Spec, uint64, error) {
	spec, err := synthOpenSpec(f.spec)
	if err != nil {
		return nil, 0, err
	}
	seed := spec.Seed
	if f.seed != "" {
		if seed, err = strconv.ParseUint(f.seed, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("--seed %q: want a whole number from 0 to 18446744073709551615", f.seed)
		}
	}
	return spec, seed, nil
}

// synthOpenSpec returns a built-in spec by name, or parses a YAML file.
func synthOpenSpec(name string) (*synth.Spec, error) {
	for _, b := range synth.Builtins() {
		if name == b {
			return synth.Builtin(name)
		}
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("spec %q is neither a built-in (%s) nor a readable file: %w",
			name, strings.Join(synth.Builtins(), ", "), err)
	}
	defer fh.Close()
	return synth.ParseSpec(fh, name)
}

func synthDDL(args []string, stdout, stderr io.Writer) error {
	f := newSynthFlags("ddl", stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	spec, _, err := f.load()
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, spec.DDL())
	return err
}

func synthGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newSynthFlags("gen", stderr)
	f.fs.StringVar(&f.table, "table", "patients", "table to generate")
	f.fs.Int64Var(&f.rows, "rows", 10, "rows to write")
	f.fs.StringVar(&f.format, "format", "csv", "csv, ndjson or fhir")
	if err := f.parse(args); err != nil {
		return err
	}
	spec, seed, err := f.load()
	if err != nil {
		return err
	}
	g, err := spec.GeneratorFor(f.table, seed)
	if err != nil {
		return fmt.Errorf("gen: %w; tables are: %s", err, synthTableList(spec))
	}
	if f.rows < 0 {
		return fmt.Errorf("gen: --rows is %d; give 0 or more", f.rows)
	}
	if f.format == "fhir" && g.FHIRType() == "" {
		return fmt.Errorf("gen: table %s has no FHIR form; use --format csv or ndjson", f.table)
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	if err := synthWriteRows(ctx, w, g, f.rows, f.format); err != nil {
		return fmt.Errorf("gen %s: %w", f.table, err)
	}
	return w.Flush()
}

func synthTableList(s *synth.Spec) string {
	var names []string
	for _, t := range s.Tables {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// synthWriteRows writes n rows of g in format to w.
func synthWriteRows(ctx context.Context, w *bufio.Writer, g *synth.Generator, n int64, format string) error {
	switch format {
	case "csv", "ndjson", "fhir":
	default:
		return fmt.Errorf("--format %q: use csv, ndjson or fhir", format)
	}
	_, err := synth.Stream(ctx, w, g, synth.StreamOptions{Rows: n, Format: format})
	return err
}

func synthLoad(ctx context.Context, args []string, stderr io.Writer) error {
	f := newSynthFlags("load", stderr)
	f.fs.Int64Var(&f.rows, "rows", 0, "rows per root table (default: the spec's)")
	f.fs.StringVar(&f.dsn, "dsn", "", "PostgreSQL connection string (required)")
	f.fs.BoolVar(&f.drop, "drop", false, "drop the spec's tables first if they exist")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.dsn == "" {
		return errors.New("load: --dsn is required, e.g. --dsn postgres://user@localhost/scratch")
	}
	if f.rows < 0 {
		return fmt.Errorf("load: --rows is %d; give 1 or more", f.rows)
	}
	spec, seed, err := f.load()
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		return fmt.Errorf("load: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	bar := newSynthProgressBar(stderr)
	sum, err := synth.Load(ctx, conn, spec, synth.LoadOptions{Seed: seed, Rows: f.rows, Drop: f.drop, Progress: bar.update})
	if err != nil {
		return err
	}
	printSynthSummary(stderr, sum)
	return nil
}

// synthProgressBar draws on a terminal and stays quiet elsewhere (the summary
// says what happened).
type synthProgressBar struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newSynthProgressBar(w io.Writer) *synthProgressBar {
	return &synthProgressBar{w: w, tty: synthIsTerminal(w)}
}

// synthIsTerminal reports whether w is a character device (a terminal).
func synthIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (b *synthProgressBar) update(p synth.Progress) {
	if !b.tty || (!p.Done && time.Since(b.last) < 100*time.Millisecond) {
		return
	}
	b.last = time.Now()
	const width = 30
	filled := 0
	if p.TotalSlots > 0 {
		filled = int(p.Slots * width / p.TotalSlots)
	}
	fmt.Fprintf(b.w, "\r%-14s [%s%s] %3d%% %12d rows", p.Table,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), filled*100/width, p.Rows)
	if p.Done {
		fmt.Fprintln(b.w)
	}
}

func printSynthSummary(w io.Writer, s synth.Summary) {
	fmt.Fprintf(w, "%-14s %12s %12s\n", "table", "rows", "rows/s")
	for _, t := range s.Tables {
		fmt.Fprintf(w, "%-14s %12d %12.0f\n", t.Name, t.Rows, float64(t.Rows)/t.Elapsed.Seconds())
	}
	fmt.Fprintf(w, "%-14s %12d %12.0f  (%s including keys and commit)\n", "total", s.Rows(),
		float64(s.Rows())/s.Elapsed.Seconds(), s.Elapsed.Round(time.Millisecond))
}
