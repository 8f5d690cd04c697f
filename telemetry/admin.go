package telemetry

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAdminAddr is the admin listener's default: loopback only.
const DefaultAdminAddr = "127.0.0.1:9464"

// AdminConfig configures NewAdminServer.
type AdminConfig struct {
	// Addr to listen on; "" means DefaultAdminAddr. Exposing it beyond
	// loopback is a deliberate choice: metrics name sandboxes.
	Addr string
	// Gatherer serves /metrics (e.g. Providers.Gatherer); nil means no
	// /metrics route.
	Gatherer prometheus.Gatherer
	// Ready reports readiness for /readyz; nil means always ready. Its
	// error text is shown, so it must not carry secrets.
	Ready func() error
}

// NewAdminServer returns an unstarted server with /metrics, /healthz
// (the process answers) and /readyz (Ready says yes). The caller runs
// ListenAndServe (or Serve) and Shutdown.
func NewAdminServer(cfg AdminConfig) *http.Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAdminAddr
	}
	mux := http.NewServeMux()
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return &http.Server{Addr: cfg.Addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}
