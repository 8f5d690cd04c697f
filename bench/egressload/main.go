// Command egressload runs the pieces of bench/egress.sh: a 1 KiB HTTP
// backend and a sandgate egress proxy in front of it, each on a loopback
// port it prints. The load itself comes from wrk (see bench/egress.sh).
//
// It is a benchmark harness, not a deployment: the proxy's sandbox
// password is given on the command line and names resolve from a static
// table (-host name=ip), as squid's hosts_file does in the same benchmark.
//
//	egressload backend -listen 127.0.0.1:0 -addr-file f
//	egressload proxy -listen 127.0.0.1:0 -addr-file f -backend-port N -host backend.test=127.0.0.1 -password pw
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandgate/sandgate/gateway/egress"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/telemetry"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: egressload backend|proxy [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "backend":
		err = runBackend(ctx, os.Args[2:])
	case "proxy":
		err = runProxy(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "egressload:", err)
		os.Exit(1)
	}
}

// listen listens and writes the address to addrFile for the script.
func listen(addr, addrFile string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			return nil, fmt.Errorf("write address: %w", err)
		}
	}
	return ln, nil
}

func runBackend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "listen address")
	addrFile := fs.String("addr-file", "", "write the bound address here")
	size := fs.Int("size", 1024, "response body bytes")
	_ = fs.Parse(args)
	ln, err := listen(*addr, *addrFile)
	if err != nil {
		return err
	}
	body := []byte(strings.Repeat("x", *size))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// staticResolver answers from a fixed table, like squid's hosts_file.
type staticResolver map[string][]net.IPAddr

func (s staticResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := s[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

type hostFlags staticResolver

func (h hostFlags) String() string { return "" }

func (h hostFlags) Set(v string) error {
	name, ip, ok := strings.Cut(v, "=")
	if !ok || net.ParseIP(ip) == nil {
		return fmt.Errorf("want name=ip, got %q", v)
	}
	h[name] = append(h[name], net.IPAddr{IP: net.ParseIP(ip)})
	return nil
}

func runProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "listen address")
	addrFile := fs.String("addr-file", "", "write the bound address here")
	port := fs.Int("backend-port", 0, "the backend's port (the allowlisted port)")
	password := fs.String("password", "bench-pw", "the bench sandbox's password")
	logFile := fs.String("log", "", "canonical log file (empty: discard)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here until exit")
	otlp := fs.String("otlp", "", "trace every request over OTLP/HTTP to this host:port, as serve does (empty: no tracing)")
	hosts := hostFlags{}
	fs.Var(hosts, "host", "name=ip for the static resolver (repeatable)")
	_ = fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	out, closeLog, err := openLog(ctx, *logFile)
	if err != nil {
		return err
	}
	defer closeLog()
	cfg, err := benchConfig(*password, *port, hosts, out)
	if err != nil {
		return err
	}
	if *otlp != "" {
		prov, shutdown, err := telemetry.Setup(ctx, telemetry.Config{TraceExporter: telemetry.ExporterOTLPHTTP, Endpoint: *otlp, Insecure: true})
		if err != nil {
			return err
		}
		defer shutdown(context.Background())
		cfg.TracerProvider = prov.Tracer
	}
	srv, err := egress.New(cfg)
	if err != nil {
		return err
	}
	ln, err := listen(*addr, *addrFile)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// bufferedLog batches log writes and flushes them on a timer, as squid's
// logging daemon does, so the benchmark measures proxying, not one write(2)
// per log line.
type bufferedLog struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedLog) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

func (b *bufferedLog) flushEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.flush()
		}
	}
}

// openLog returns the canonical log's writer: a buffered file flushed
// every 200 ms, or io.Discard.
func openLog(ctx context.Context, path string) (io.Writer, func(), error) {
	if path == "" {
		return io.Discard, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	bw := &bufferedLog{w: bufio.NewWriterSize(f, 256<<10)}
	go bw.flushEvery(ctx, 200*time.Millisecond)
	return bw, func() { bw.flush(); f.Close() }, nil
}

// benchConfig is one sandbox "bench" allowed to GET and CONNECT the
// static names on the backend's port, with limits out of the way.
func benchConfig(password string, port int, hosts hostFlags, out io.Writer) (egress.Config, error) {
	v, err := policy.NewVerifier(password, policy.DefaultIterations)
	if err != nil {
		return egress.Config{}, err
	}
	names := make([]string, 0, len(hosts))
	for n := range hosts {
		names = append(names, n)
	}
	return egress.Config{
		Sandboxes: map[string]*egress.Sandbox{"bench": {
			Verifier:      v.String(),
			Rules:         []egress.Rule{{ID: "bench-backend", Hosts: names, Ports: []int{port}, Methods: []string{"GET", "CONNECT"}}},
			AllowCIDRs:    []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			RatePerSecond: 1e6, Burst: 1e6, MaxConcurrent: 1024,
		}},
		Resolver: staticResolver(hosts),
		Logger:   slog.New(slog.NewJSONHandler(out, nil)),
	}, nil
}
