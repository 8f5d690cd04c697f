package pgwire

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/telemetry/audit"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpansAndAudit checks that every statement, allowed or denied, has a
// span and an audit record, and that neither carries a protected value.
func TestSpansAndAudit(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	dir := t.TempDir()
	log, err := audit.Open(audit.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, worldOpts{mutate: func(c *Config) { c.TracerProvider = tp; c.Audit = log }})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	var nhs string
	if err := c.QueryRow(ctx, "select nhs_number from patients where patient_id = 1 and note <> '"+secretNHS+"'", pgx.QueryExecModeSimpleProtocol).Scan(&nhs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "select family_name from patients where patient_id = $1", 1); pgCode(err) != "42501" {
		t.Fatalf("got %v, want 42501", err)
	}
	if _, err := c.Exec(ctx, "delete from patients"); pgCode(err) != "42501" {
		t.Fatalf("got %v, want 42501", err)
	}
	c.Close(ctx)
	for i := 0; i < 300 && len(spans.GetSpans()) < 4; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range spans.GetSpans() {
		t.Logf("span %s", s.Name)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}

	var names []string
	var sawSelect, sawTimings bool
	for _, s := range spans.GetSpans() {
		names = append(names, s.Name)
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.Emit(), secretNHS) {
				t.Errorf("span %s attribute %s carries a protected value", s.Name, a.Key)
			}
			if a.Key == "db.query.text" && strings.Contains(a.Value.AsString(), "note <> ?") {
				sawSelect = true
			}
			if a.Key == "sandgate.upstream_us" {
				sawTimings = true
			}
		}
	}
	if !sawTimings {
		t.Errorf("no statement span has the upstream phase timing")
	}
	if !sawSelect {
		t.Errorf("no statement span with the normalised text; spans: %q", names)
	}
	files, err := audit.Files(dir, "")
	if err != nil || len(files) == 0 {
		t.Fatalf("audit files: %v, %v", files, err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	text := all.String()
	if strings.Contains(text, secretNHS) || strings.Contains(text, secretFamily) {
		t.Fatal("a protected value reached the audit log")
	}
	for _, want := range []string{`"decision":"transform"`, `"transform":"hash"`, `"rules":["column-deny"]`,
		`"rules":["write"],"relations":["public.patients"]`, `"kind":"session"`} {
		if !strings.Contains(text, want) {
			t.Errorf("audit log lacks %s:\n%s", want, text)
		}
	}
	res, err := audit.Verify(files...)
	if err != nil || len(res.Problems) > 0 {
		t.Fatalf("audit chain: %+v %v", res, err)
	}
}

// countingAuditor counts the statement records it passes to the log.
type countingAuditor struct {
	log        *audit.Log
	statements atomic.Int64
}

func (c *countingAuditor) Append(ctx context.Context, rec audit.Record) error {
	err := c.log.Append(ctx, rec)
	if err == nil && rec.Kind == audit.KindStatement {
		c.statements.Add(1)
	}
	return err
}

// TestAuditBeforeAnswer: with AuditBeforeAnswer (what fsync-per-record
// durability sets), a statement's audit record is appended before the
// client has its answer, every time.
func TestAuditBeforeAnswer(t *testing.T) {
	log, err := audit.Open(audit.Config{Dir: t.TempDir(), Durability: audit.SyncEach})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	counter := &countingAuditor{log: log}
	w := newWorld(t, worldOpts{mutate: func(c *Config) { c.Audit = counter; c.AuditBeforeAnswer = true }})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	ctx := context.Background()
	defer c.Close(ctx)
	for i := 1; i <= 20; i++ {
		var id int32
		mode := pgx.QueryExecModeSimpleProtocol
		if i%2 == 0 {
			mode = pgx.QueryExecModeCacheStatement
		}
		if err := c.QueryRow(ctx, "select patient_id from patients where patient_id = 1", mode).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if got := counter.statements.Load(); got < int64(i) {
			t.Fatalf("after %d answered statements only %d audit records", i, got)
		}
	}
}
