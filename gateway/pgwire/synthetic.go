package pgwire

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/synth"
	"github.com/sandgate/sandgate/telemetry/audit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// synthDBs provisions the scratch databases that serve sandboxes whose
// source is synthetic: one per (spec, seed, rows), created in the upstream
// on first use and loaded from the spec, then reused by every session and
// every later process (a database is marked complete only after its load
// commits; an incomplete one is dropped and loaded again).
type synthDBs struct {
	mu    sync.Mutex
	ready map[string]bool
}

const synthComplete = "sandgate synthetic dataset: complete"

func synthDBName(src *policy.DataSource) string {
	return fmt.Sprintf("sandgate_synth_%s_s%d_r%d", src.Spec, src.Seed, src.Rows)
}

// database returns the scratch database for src, provisioning it if needed.
func (s *Server) synthDatabase(ctx context.Context, src *policy.DataSource) (string, error) {
	name := synthDBName(src)
	s.synth.mu.Lock()
	defer s.synth.mu.Unlock()
	if s.synth.ready[name] {
		return name, nil
	}
	admin, err := s.connectPGX(ctx, "postgres")
	if err != nil {
		return "", err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var comment *string
	err = admin.QueryRow(ctx, `select shobj_description(oid, 'pg_database') from pg_database where datname = $1`, name).Scan(&comment)
	switch {
	case err == nil && comment != nil && *comment == synthComplete:
	case err == nil || errors.Is(err, pgx.ErrNoRows):
		if err := s.loadSynthDB(ctx, admin, name, src, err == nil); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("look up synthetic database: %w", err)
	}
	if s.synth.ready == nil {
		s.synth.ready = map[string]bool{}
	}
	s.synth.ready[name] = true
	return name, nil
}

func (s *Server) loadSynthDB(ctx context.Context, admin *pgx.Conn, name string, src *policy.DataSource, exists bool) (err error) {
	ctx, span := s.tracer.Start(ctx, "sandgate.synth_load", trace.WithAttributes(
		attribute.String("sandgate.synth.spec", src.Spec), attribute.Int64("sandgate.synth.rows", src.Rows),
		attribute.Int64("sandgate.synth.seed", int64(src.Seed)), attribute.String("db.namespace", name)))
	var rows int64
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "synthetic load failed")
		}
		span.SetAttributes(attribute.Int64("sandgate.rows", rows))
		span.End()
		s.auditSynthLoad(ctx, name, rows, err)
	}()
	ident := pgx.Identifier{name}.Sanitize()
	if exists {
		if _, err := admin.Exec(ctx, "DROP DATABASE "+ident); err != nil {
			return fmt.Errorf("drop incomplete synthetic database: %w", err)
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("create synthetic database (sandgate's upstream role needs CREATEDB): %w", err)
	}
	spec, err := synth.Builtin(src.Spec)
	if err != nil {
		return err
	}
	conn, err := s.connectPGX(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sum, err := synth.Load(ctx, conn, spec, synth.LoadOptions{Seed: src.Seed, Rows: src.Rows})
	if err != nil {
		return fmt.Errorf("load synthetic dataset %s: %w", src.Spec, err)
	}
	for _, t := range sum.Tables {
		rows += t.Rows
	}
	if _, err := admin.Exec(ctx, "COMMENT ON DATABASE "+ident+" IS '"+synthComplete+"'"); err != nil {
		return fmt.Errorf("mark synthetic database complete: %w", err)
	}
	s.log.Info("synthetic database provisioned", "database", name, "spec", src.Spec, "tables", len(sum.Tables))
	return nil
}

// connectPGX opens a pgx connection to an upstream database with
// sandgate's own credentials.
func (s *Server) connectPGX(ctx context.Context, database string) (*pgx.Conn, error) {
	pcfg, err := s.cfg.Upstream.pgconnConfig(database)
	if err != nil {
		return nil, err
	}
	ccfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	ccfg.Config = *pcfg
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	if err != nil {
		return nil, fmt.Errorf("connect to upstream database %q: %w", database, err)
	}
	return conn, nil
}

// auditSynthLoad records a synthetic dataset provisioned for sandboxes.
func (s *Server) auditSynthLoad(ctx context.Context, database string, rows int64, err error) {
	if s.cfg.Audit == nil {
		return
	}
	rec := audit.Record{Kind: audit.KindSynthLoad, Decision: audit.Allow, Relations: []string{database}, Rows: rows}
	if err != nil {
		rec.Decision, rec.ErrorClass = audit.Deny, "synth_load_failed"
	}
	if aerr := s.cfg.Audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
		s.log.Error("audit append failed", "err", aerr)
	}
}
