package egress

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestCanonicalLineAndSpan: one log line and one span per request, with
// decision, rule, sandbox and destination — and never credentials.
func TestCanonicalLineAndSpan(t *testing.T) {
	w := newWorld(t, nil)
	ok := fmt.Sprintf("backend.test:%d", w.plain.port)
	resp, err := w.client("ward").Get("http://" + ok + "/x")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	resp, err = w.client("ward").Get("http://elsewhere.test/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	resp, err = w.client("report").Get("http://" + ok + "/r")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	lines := w.canonical()
	if len(lines) != 3 {
		t.Fatalf("got %d canonical lines, want 3:\n%s", len(lines), w.logs.String())
	}
	want := []map[string]any{
		{"decision": "allow", "rule": "backend", "sandbox": "ward", "destination": ok, "status": 200.0},
		{"decision": "deny", "code": "no_rule", "sandbox": "ward", "destination": "elsewhere.test:80", "status": 403.0},
		{"decision": "report", "sandbox": "report", "destination": ok},
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range want[i] {
			if m[k] != v {
				t.Errorf("line %d: got %s=%v, want %v", i, k, m[k], v)
			}
		}
		if _, ok := m["duration"]; !ok {
			t.Errorf("line %d has no duration", i)
		}
	}
	if !strings.Contains(lines[2], "enforce would deny") {
		t.Errorf("report line does not say what enforce would deny: %s", lines[2])
	}
	all := w.logs.String()
	for _, secret := range []string{passwords["ward"], passwords["report"], strings.TrimPrefix(basic("ward"), "Basic ")} {
		if strings.Contains(all, secret) {
			t.Fatalf("logs contain a credential")
		}
	}
	spans := w.spans.Ended()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3", len(spans))
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range spans[0].Attributes() {
		attrs[kv.Key] = kv.Value
	}
	if spans[0].Name() != "sandgate.egress" || attrs["sandbox"].AsString() != "ward" || attrs["destination.host"].AsString() != "backend.test" ||
		attrs["destination.port"].AsInt64() != int64(w.plain.port) || attrs["decision"].AsString() != "allow" || attrs["rule"].AsString() != "backend" {
		t.Fatalf("span %s has attributes %v", spans[0].Name(), spans[0].Attributes())
	}
}
