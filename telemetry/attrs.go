package telemetry

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// sandgate.* attribute keys. Values are identifiers and counts, never
// field values.
const (
	KeySandbox            = attribute.Key("sandgate.sandbox")
	KeyUser               = attribute.Key("sandgate.user")
	KeyDecision           = attribute.Key("sandgate.decision") // allow, deny or transform
	KeyRuleIDs            = attribute.Key("sandgate.rule_ids")
	KeyColumnsTransformed = attribute.Key("sandgate.columns_transformed")
	KeyRowsReturned       = attribute.Key("sandgate.rows_returned")
	KeyBytes              = attribute.Key("sandgate.bytes")
)

// The decisions, as KeyDecision values and metric attributes.
const (
	DecisionAllow     = "allow"
	DecisionDeny      = "deny"
	DecisionTransform = "transform"
)

// Sandbox is sandgate.sandbox.
func Sandbox(name string) attribute.KeyValue { return KeySandbox.String(name) }

// User is sandgate.user: the authenticated user, not a data subject.
func User(name string) attribute.KeyValue { return KeyUser.String(name) }

// Decision is sandgate.decision.
func Decision(d string) attribute.KeyValue { return KeyDecision.String(d) }

// RuleIDs is sandgate.rule_ids.
func RuleIDs(ids ...string) attribute.KeyValue { return KeyRuleIDs.StringSlice(ids) }

// ColumnsTransformed is sandgate.columns_transformed, each entry
// "relation.column=transform".
func ColumnsTransformed(cols ...string) attribute.KeyValue {
	return KeyColumnsTransformed.StringSlice(cols)
}

// RowsReturned is sandgate.rows_returned.
func RowsReturned(n int64) attribute.KeyValue { return KeyRowsReturned.Int64(n) }

// Bytes is sandgate.bytes.
func Bytes(n int64) attribute.KeyValue { return KeyBytes.Int64(n) }

// Statement describes one SQL statement for a span. SQL is the statement
// as received: only its normalised form is recorded. Parameters have no
// field on purpose.
type Statement struct {
	SQL        string
	Operation  string   // e.g. SELECT; "" leaves db.operation.name out
	Relations  []string // schema-qualified tables; the first is db.collection.name
	Database   string   // db.namespace
	Normalised string   // if set, used instead of NormaliseSQL(SQL)
}

// DBAttributes returns the semantic-convention attributes of a PostgreSQL
// statement span: db.system.name, db.namespace, db.operation.name,
// db.collection.name, db.query.summary and db.query.text (normalised).
func DBAttributes(st Statement) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 6)
	kv = append(kv, semconv.DBSystemNamePostgreSQL)
	if st.Database != "" {
		kv = append(kv, semconv.DBNamespace(st.Database))
	}
	op := strings.ToUpper(st.Operation)
	if op != "" {
		kv = append(kv, semconv.DBOperationName(op))
	}
	if len(st.Relations) == 1 {
		kv = append(kv, semconv.DBCollectionName(st.Relations[0]))
	}
	if s := querySummary(op, st.Relations); s != "" {
		kv = append(kv, semconv.DBQuerySummary(s))
	}
	text := st.Normalised
	if text == "" && st.SQL != "" {
		text = NormaliseSQL(st.SQL)
	}
	if text != "" {
		kv = append(kv, semconv.DBQueryText(text))
	}
	return kv
}

// querySummary is "{operation} {target…}", as the conventions suggest.
func querySummary(op string, rels []string) string {
	return strings.TrimSpace(op + " " + strings.Join(rels, " "))
}

// SpanName is the conventional span name: the summary, or "postgresql".
func SpanName(st Statement) string {
	if s := querySummary(strings.ToUpper(st.Operation), st.Relations); s != "" {
		return s
	}
	return "postgresql"
}

// HTTPAttributes returns http.request.method, server.address and
// server.port for an egress or HTTP data request. The URL's path and query
// are deliberately not recorded.
func HTTPAttributes(method, host string, port int) []attribute.KeyValue {
	kv := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(method), semconv.ServerAddress(host)}
	if port > 0 {
		kv = append(kv, semconv.ServerPort(port))
	}
	return kv
}
