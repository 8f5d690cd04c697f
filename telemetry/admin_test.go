package telemetry

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestAdminServer(t *testing.T) {
	p, shutdown, err := Setup(t.Context(), Config{Prometheus: true})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t.Context())
	m, err := NewMetrics(p.Meter)
	if err != nil {
		t.Fatal(err)
	}
	m.Statement(t.Context(), "diabetes_dash", DecisionDeny, 2*time.Millisecond)
	m.Egress(t.Context(), "diabetes_dash", DecisionAllow)
	m.Transformed(t.Context(), "diabetes_dash", 3, 6)
	m.SessionStart(t.Context(), "diabetes_dash")()
	m.PolicyReload(t.Context(), errors.New(raw))
	ready := errors.New("policy not loaded")
	srv := NewAdminServer(AdminConfig{Gatherer: p.Gatherer, Ready: func() error { return ready }})
	if srv.Addr != DefaultAdminAddr {
		t.Errorf("got addr %q, want loopback default", srv.Addr)
	}
	code, body := get(t, srv.Handler, "/metrics")
	if code != 200 || !strings.Contains(body, `sandgate_statements_total{`) || !strings.Contains(body, `decision="deny"`) {
		t.Fatalf("got %d:\n%s", code, body)
	}
	if strings.Contains(body, raw) {
		t.Fatal("raw value in metrics")
	}
	if code, _ := get(t, srv.Handler, "/healthz"); code != 200 {
		t.Errorf("healthz: got %d, want 200", code)
	}
	if code, _ := get(t, srv.Handler, "/readyz"); code != 503 {
		t.Errorf("readyz while not ready: got %d, want 503", code)
	}
	ready = nil
	if code, _ := get(t, srv.Handler, "/readyz"); code != 200 {
		t.Errorf("readyz when ready: got %d, want 200", code)
	}
}
