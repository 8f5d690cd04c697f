package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/sandgate/sandgate/telemetry/audit"
)

const auditUsage = `Usage:
  sandgate audit verify [-public-key FILE] [-require-sealed] FILE|DIR...
  sandgate audit query  [-sandbox S] [-user U] [-table T] [-column C] [-decision D] [-kind K]
                        [-from TIME] [-to TIME] [-format jsonl|table] FILE|DIR...
  sandgate audit keygen -key FILE -public-key FILE (-master-key FILE | -vault-key-uri URI)

A DIR stands for its audit-*.jsonl files in chain order. TIME is RFC 3339
(2026-03-01T09:00:00Z) or a date (2026-03-01, UTC). verify exits non-zero
and says where the chain broke: file, line, sequence number and what is wrong.`

// auditCmd verifies, queries and keys the audit log.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprintln(stdout, auditUsage)
		return nil
	}
	switch args[0] {
	case "verify":
		return auditVerify(args[1:], stdout, stderr)
	case "query":
		return auditQuery(ctx, args[1:], stdout, stderr)
	case "keygen":
		return auditKeygen(args[1:], stdout, stderr)
	}
	return &usageError{msg: fmt.Sprintf("unknown audit command %q", args[0]), try: "sandgate audit -h"}
}

func newAuditFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("audit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, auditUsage) }
	return fs
}

func parseAuditFlags(fs *flag.FlagSet, args []string) (bool, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, &usageError{msg: err.Error(), try: "sandgate audit -h"}
	}
	return false, nil
}

// auditFiles expands directories into their log files, in chain order.
func auditFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, &usageError{msg: "no audit file given", try: "sandgate audit verify /var/lib/sandgate/audit"}
	}
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("audit files: %w", err)
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		fs, err := audit.Files(a, "")
		if err != nil {
			return nil, fmt.Errorf("audit files %s: %w", a, err)
		}
		files = append(files, fs...)
	}
	return files, nil
}

func auditVerify(args []string, stdout, stderr io.Writer) error {
	fs := newAuditFlags("verify", stderr)
	pub := fs.String("public-key", "", "public keyset to check checkpoint signatures (from audit keygen)")
	sealed := fs.Bool("require-sealed", false, "fail unless the log ends with a checkpoint (closed cleanly)")
	if help, err := parseAuditFlags(fs, args); help || err != nil {
		return err
	}
	files, err := auditFiles(fs.Args())
	if err != nil {
		return err
	}
	opts := audit.VerifyOptions{RequireSealed: *sealed}
	if *pub != "" {
		if opts.Verifier, err = readPublicKeyFile(*pub); err != nil {
			return err
		}
	}
	res, err := audit.VerifyWith(opts, files...)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintf(stdout, "%d records in %d files, seq %d to %d, %d checkpoints", res.Records, res.Files, res.FirstSeq, res.LastSeq, res.Checkpoints)
	switch {
	case opts.Verifier == nil:
		fmt.Fprintln(stdout, "; signatures not checked (no -public-key)")
	case res.LastSigned > 0:
		fmt.Fprintf(stdout, "; signed up to seq %d, sealed %v\n", res.LastSigned, res.Sealed)
	default:
		fmt.Fprintln(stdout, "; no signed checkpoint")
	}
	if err := res.Err(); err != nil {
		n := 0
		for _, p := range res.Problems {
			if p.Kind != audit.Interrupted {
				n++
			}
		}
		return fmt.Errorf("audit chain broken: %d problems, first at %s:%d", n, res.Problems[0].File, res.Problems[0].Line)
	}
	fmt.Fprintln(stdout, "chain intact")
	return nil
}

// recordFilter selects records for query and report.
type recordFilter struct {
	sandbox, user, table, column, decision, kind string
	from, to                                     time.Time
}

func (f recordFilter) match(r audit.Record) bool {
	switch {
	case r.Kind == audit.KindCheckpoint,
		f.sandbox != "" && r.Sandbox != f.sandbox,
		f.user != "" && r.User != f.user,
		f.decision != "" && string(r.Decision) != f.decision,
		f.kind != "" && string(r.Kind) != f.kind,
		!f.from.IsZero() && r.Time.Before(f.from),
		!f.to.IsZero() && !r.Time.Before(f.to):
		return false
	}
	if f.table != "" && !slices.ContainsFunc(r.Relations, func(rel string) bool { return sameTable(rel, f.table) }) &&
		!slices.ContainsFunc(r.Columns, func(c audit.Column) bool { return sameTable(c.Relation, f.table) }) {
		return false
	}
	return f.column == "" || slices.ContainsFunc(r.Columns, func(c audit.Column) bool { return c.Name == f.column })
}

// sameTable matches "patients" against "public.patients" too.
func sameTable(rel, want string) bool {
	return rel == want || (!strings.Contains(want, ".") && strings.HasSuffix(rel, "."+want))
}

// parseTime reads RFC 3339 or a date (UTC midnight).
func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &usageError{msg: fmt.Sprintf("-%s %q is not a time", flagName, s), try: "-" + flagName + " 2026-03-01 or 2026-03-01T09:00:00Z"}
}

func filterFlags(fs *flag.FlagSet) (*recordFilter, *string, *string) {
	f := &recordFilter{}
	fs.StringVar(&f.sandbox, "sandbox", "", "only this sandbox")
	fs.StringVar(&f.user, "user", "", "only this user")
	fs.StringVar(&f.table, "table", "", "only records touching this table (schema.table, or table in any schema)")
	fs.StringVar(&f.column, "column", "", "only records touching this column")
	fs.StringVar(&f.decision, "decision", "", "allow, deny or transform")
	fs.StringVar(&f.kind, "kind", "", "session, statement, egress, http_data, synth_load, keys_reveal or policy_reload")
	from := fs.String("from", "", "from this time (inclusive)")
	to := fs.String("to", "", "to this time (exclusive)")
	return f, from, to
}

func (f *recordFilter) times(from, to string) (err error) {
	if f.from, err = parseTime("from", from); err != nil {
		return err
	}
	f.to, err = parseTime("to", to)
	return err
}

func auditQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newAuditFlags("query", stderr)
	f, from, to := filterFlags(fs)
	format := fs.String("format", "jsonl", "jsonl or table")
	if help, err := parseAuditFlags(fs, args); help || err != nil {
		return err
	}
	if err := f.times(*from, *to); err != nil {
		return err
	}
	if *format != "jsonl" && *format != "table" {
		return &usageError{msg: fmt.Sprintf("-format %q", *format), try: "-format jsonl or -format table"}
	}
	files, err := auditFiles(fs.Args())
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if *format == "table" {
		fmt.Fprintln(tw, "TIME\tSEQ\tKIND\tSANDBOX\tUSER\tDECISION\tRELATIONS\tCOLUMNS\tROWS\tDESTINATION\tERROR")
	}
	err = audit.ReadFiles(files, func(_ string, _ int, r audit.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !f.match(r) {
			return nil
		}
		if *format == "jsonl" {
			return enc.Encode(r)
		}
		_, err := fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Seq, r.Kind,
			r.Sandbox, r.User, r.Decision, strings.Join(r.Relations, ","), columnsText(r.Columns), r.Rows, r.Destination, r.ErrorClass)
		return err
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func columnsText(cs []audit.Column) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Transform
	}
	return strings.Join(parts, ",")
}

func auditKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newAuditFlags("keygen", stderr)
	keyPath := fs.String("key", "", "where to write the encrypted signing keyset")
	pubPath := fs.String("public-key", "", "where to write the public keyset, for verify")
	masterKey := fs.String("master-key", "", "local master-key file (development; created if absent)")
	vaultURI := fs.String("vault-key-uri", "", "Vault Transit key URI, hcvault:///MOUNT/keys/NAME")
	vaultAddr := fs.String("vault-addr", os.Getenv("VAULT_ADDR"), "Vault address")
	if help, err := parseAuditFlags(fs, args); help || err != nil {
		return err
	}
	if *keyPath == "" || *pubPath == "" {
		return &usageError{msg: "audit keygen: -key and -public-key are required", try: "sandgate audit keygen -key audit-key.json -public-key audit-pub.json -master-key master.json"}
	}
	kek, err := keysKEK(stderr, true, *masterKey, *vaultURI, *vaultAddr)
	if err != nil {
		return err
	}
	kf, err := os.OpenFile(*keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	h, err := audit.NewSigningKey(kf, kek)
	if cerr := kf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	pf, err := os.OpenFile(*pubPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	err = audit.WritePublicKey(pf, h)
	if cerr := pf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (encrypted) and %s\n", *keyPath, *pubPath)
	return nil
}

func readPublicKeyFile(path string) (tink.Verifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	defer f.Close()
	return audit.ReadPublicKey(f)
}
