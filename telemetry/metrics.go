package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName scopes sandgate's instruments.
const meterName = "github.com/sandgate/sandgate"

// Metrics are sandgate's instruments. Their attributes are sandbox and
// decision (or result) only: bounded, and never a value.
type Metrics struct {
	Sessions          metric.Int64Counter       // sessions opened
	ActiveSessions    metric.Int64UpDownCounter // sessions open now
	Statements        metric.Int64Counter       // by sandbox and decision
	StatementDuration metric.Float64Histogram   // seconds
	RowsTransformed   metric.Int64Counter       // rows with at least one transformed field
	FieldsTransformed metric.Int64Counter
	EgressRequests    metric.Int64Counter // by sandbox and decision (allow or deny)
	PolicyReloads     metric.Int64Counter // by result (ok or error)
	AuditWriteLag     metric.Float64Histogram

	setsMu sync.RWMutex
	sets   map[setKey]metric.MeasurementOption
}

type setKey struct{ sandbox, decision string }

// attrSet returns the measurement option for a sandbox and decision, built
// once: attribute.NewSet sorts and hashes, and statements are the hot path.
// The key is a struct, so a lookup allocates nothing.
func (m *Metrics) attrSet(sandbox, decision string) metric.MeasurementOption {
	key := setKey{sandbox, decision}
	m.setsMu.RLock()
	opt, ok := m.sets[key]
	m.setsMu.RUnlock()
	if ok {
		return opt
	}
	var set attribute.Set
	if decision == "" {
		set = attribute.NewSet(Sandbox(sandbox))
	} else {
		set = attribute.NewSet(Sandbox(sandbox), Decision(decision))
	}
	opt = metric.WithAttributeSet(set)
	m.setsMu.Lock()
	if m.sets == nil {
		m.sets = map[setKey]metric.MeasurementOption{}
	}
	m.sets[key] = opt
	m.setsMu.Unlock()
	return opt
}

// NewMetrics creates the instruments from mp (for example
// Providers.Meter, or a no-op provider).
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := mp.Meter(meterName)
	var errs [9]error
	var x Metrics
	x.Sessions, errs[0] = m.Int64Counter("sandgate.sessions", metric.WithDescription("Sessions opened."), metric.WithUnit("{session}"))
	x.ActiveSessions, errs[1] = m.Int64UpDownCounter("sandgate.sessions.active", metric.WithDescription("Sessions open now."), metric.WithUnit("{session}"))
	x.Statements, errs[2] = m.Int64Counter("sandgate.statements", metric.WithDescription("Statements decided, by decision."), metric.WithUnit("{statement}"))
	x.StatementDuration, errs[3] = m.Float64Histogram("sandgate.statement.duration", metric.WithDescription("Statement time through the gateway."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	x.RowsTransformed, errs[4] = m.Int64Counter("sandgate.rows.transformed", metric.WithDescription("Rows with a transformed field."), metric.WithUnit("{row}"))
	x.FieldsTransformed, errs[5] = m.Int64Counter("sandgate.fields.transformed", metric.WithDescription("Fields transformed."), metric.WithUnit("{field}"))
	x.EgressRequests, errs[6] = m.Int64Counter("sandgate.egress.requests", metric.WithDescription("Egress requests, by decision."), metric.WithUnit("{request}"))
	x.PolicyReloads, errs[7] = m.Int64Counter("sandgate.policy.reloads", metric.WithDescription("Policy reloads, by result."), metric.WithUnit("{reload}"))
	x.AuditWriteLag, errs[8] = m.Float64Histogram("sandgate.audit.write_lag", metric.WithDescription("Time from an access to its audit record on disk."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return &x, nil
}

// Statement records one decided statement and its duration.
func (m *Metrics) Statement(ctx context.Context, sandbox, decision string, d time.Duration) {
	set := m.attrSet(sandbox, decision)
	m.Statements.Add(ctx, 1, set)
	m.StatementDuration.Record(ctx, d.Seconds(), set)
}

// Transformed records rows and fields transformed for a sandbox.
func (m *Metrics) Transformed(ctx context.Context, sandbox string, rows, fields int64) {
	set := m.attrSet(sandbox, "")
	m.RowsTransformed.Add(ctx, rows, set)
	m.FieldsTransformed.Add(ctx, fields, set)
}

// Egress records one egress request decision (allow or deny).
func (m *Metrics) Egress(ctx context.Context, sandbox, decision string) {
	m.EgressRequests.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(Sandbox(sandbox), Decision(decision))))
}

// SessionStart counts a session and returns the function ending it.
func (m *Metrics) SessionStart(ctx context.Context, sandbox string) (end func()) {
	set := metric.WithAttributeSet(attribute.NewSet(Sandbox(sandbox)))
	m.Sessions.Add(ctx, 1, set)
	m.ActiveSessions.Add(ctx, 1, set)
	return func() { m.ActiveSessions.Add(context.WithoutCancel(ctx), -1, set) }
}

// PolicyReload records a reload; err nil means it succeeded.
func (m *Metrics) PolicyReload(ctx context.Context, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.PolicyReloads.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
}
