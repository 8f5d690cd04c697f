package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sandgate/sandgate/gateway/egress"
	"github.com/sandgate/sandgate/gateway/pgwire"
	"github.com/sandgate/sandgate/gateway/synthhttp"
	"github.com/sandgate/sandgate/policy"
	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/synth"
	"github.com/sandgate/sandgate/telemetry/audit"
)

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "configs/sandgate.yaml", "gateway configuration file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for benchmarks; go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error(), try: "sandgate serve -config configs/sandgate.yaml"}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cfg, err := ReadConfigFile(*cfgPath)
	if err != nil {
		return err
	}
	slog.SetDefault(newLogger(cfg.Log, stderr))
	tuneGC()
	obs, err := newObservability(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := obs.close(sctx); err != nil {
			slog.Error("closing telemetry", "err", err)
		}
	}()
	gw, err := newGateway(cfg, obs)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	stopEgress, err := gw.startEgress(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopEgress(sctx)
	}()
	stopData, err := gw.startHTTPData(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopData()
	if cfg.Synth.Listen != "" {
		stopSynth, err := startSynthHTTP(ctx, cfg.Synth)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopSynth()
	}
	go gw.reloadOnSIGHUP(ctx)
	slog.Info("sandgate listening", "addr", ln.Addr().String(), "sandboxes", strings.Join(gw.policy.Load().Names(), ","))
	return gw.serve(ctx, ln)
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// gateway is the wired process: policy in force and the wire server.
type gateway struct {
	cfg     Config
	hashKey []byte
	engine  *pseudonymise.Engine
	obs     *observability // nil in the demo
	policy  atomic.Pointer[policy.Set]
	pg      *pgwire.Server
	egress  *egress.Server // nil when egress is not configured
	data    *dataFront     // nil when the HTTP data proxy is not configured
}

func newGateway(cfg Config, obs *observability) (*gateway, error) {
	if err := os.MkdirAll(cfg.path(cfg.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	gw := &gateway{cfg: cfg, obs: obs}
	var err error
	if gw.hashKey, err = loadOrCreateKey(cfg.path(cfg.Keys.HashKeyFile), filepath.Join(cfg.path(cfg.DataDir), "hash.key")); err != nil {
		return nil, err
	}
	if gw.engine, err = openEngine(cfg); err != nil {
		return nil, err
	}
	set, err := gw.loadPolicy()
	if err != nil {
		return nil, err
	}
	gw.policy.Store(set)
	pw, err := cfg.upstreamPassword()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	pc := pgwire.Config{
		Policy: gw.policy.Load,
		Upstream: pgwire.Upstream{Host: cfg.Upstream.Host, Port: cfg.Upstream.Port, User: cfg.Upstream.User,
			Password: pw, SSLMode: cfg.Upstream.SSLMode, SSLRootCert: cfg.path(cfg.Upstream.SSLRootCert),
			ConnectTimeout: duration(cfg.Upstream.ConnectTime)},
		TLS: tlsCfg, RequireTLS: cfg.TLS.Require,
		MaxMessageBytes: cfg.Limits.MaxMessageBytes, StartupTimeout: duration(cfg.Limits.StartupTimeout),
		IdleTimeout: duration(cfg.Limits.IdleTimeout), MaxConnsPerSandbox: cfg.Limits.MaxConnsPerSandbox,
		PoolIdlePerKey: cfg.Pool.IdlePerSandbox, PoolIdleTimeout: duration(cfg.Pool.IdleTimeout),
		GoroutineRelay: cfg.Relay == "goroutines",
	}
	if obs != nil {
		if obs.tracing {
			pc.TracerProvider = obs.providers.Tracer
		}
		if obs.metering {
			pc.Metrics = obs.metrics
		}
		if a := obs.auditor(); a != nil {
			pc.Audit = a
			// fsync per record promises that no client sees an answer
			// whose audit record is not on disk.
			pc.AuditBeforeAnswer = cfg.Audit.Durability == "fsync"
		}
	}
	gw.pg, err = pgwire.NewServer(pc)
	return gw, err
}

func (gw *gateway) loadPolicy() (*policy.Set, error) {
	paths := make([]string, len(gw.cfg.Policy))
	for i, p := range gw.cfg.Policy {
		paths[i] = gw.cfg.path(p)
	}
	return policy.LoadFiles(policy.Options{HashKey: gw.hashKey, Engine: gw.engine}, paths...)
}

// openEngine loads the Tink keysets and builds the transform engine. With no
// keyset configured it uses development keys in data_dir, creating them.
func openEngine(cfg Config) (*pseudonymise.Engine, error) {
	k := cfg.Keys
	keyset, master := cfg.path(k.KeysetFile), cfg.path(k.MasterKeyFile)
	if keyset == "" {
		dir := cfg.path(cfg.DataDir)
		keyset, master = filepath.Join(dir, "keys.json"), filepath.Join(dir, "master.key")
		if _, err := os.Stat(keyset); errors.Is(err, os.ErrNotExist) {
			kek, err := keysKEK(io.Discard, true, master, "", "")
			if err != nil {
				return nil, err
			}
			if err := keysInit(io.Discard, keyset, kek); err != nil {
				return nil, err
			}
			slog.Warn("created development keys; configure keys.keyset_file with Vault for real data", "keyset", keyset)
		}
	}
	kek, err := keysKEK(io.Discard, false, master, k.VaultKeyURI, cmp.Or(k.VaultAddr, os.Getenv("VAULT_ADDR")))
	if err != nil {
		return nil, fmt.Errorf("open key-encryption key: %w", err)
	}
	keys, err := pseudonymise.LoadKeys(keyset, kek)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	return pseudonymise.New(pseudonymise.Config{Keys: keys, CacheBytes: k.CacheBytes, Synthesiser: synthesiser{}})
}

// synthesiser adapts synth.Replace to the engine's hook; policy checks the
// kind when it builds the rule, so an error here cannot happen for a valid
// policy, and an empty value is what fails closed looks like.
type synthesiser struct{}

func (synthesiser) Replace(kind string, seed, dst []byte) []byte {
	out, err := synth.Replace(kind, seed, dst)
	if err != nil {
		return dst
	}
	return out
}

// serve runs until ctx ends, then drains sessions for up to 10 seconds.
func (gw *gateway) serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- gw.pg.Serve(ctx, ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, pgwire.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slog.Info("sandgate shutting down")
	return gw.pg.Shutdown(sctx)
}

// reloadOnSIGHUP swaps in a new policy; a bad one is logged and the old one
// stays in force.
func (gw *gateway) reloadOnSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(policyPollInterval)
	defer tick.Stop()
	last := gw.policyStamp()
	lastExpiry := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick.C:
			// Sandboxes expire at midnight UTC whether or not a file
			// changes: end their open sessions within a minute.
			if time.Since(lastExpiry) >= time.Minute && gw.pg != nil {
				lastExpiry = time.Now()
				if n := gw.pg.ApplyPolicy(gw.policy.Load()); n > 0 {
					slog.Info("sessions ended: their sandbox expired", "sessions", n)
				}
			}
			// The file watch: reload when a policy file's size or time changes.
			stamp := gw.policyStamp()
			if stamp == last {
				continue
			}
			last = stamp
		}
		gw.reload(ctx)
	}
}

// policyPollInterval is how often policy files are checked for changes.
const policyPollInterval = 2 * time.Second

// policyStamp summarises the policy files' sizes and modification times.
func (gw *gateway) policyStamp() string {
	var b strings.Builder
	for _, p := range gw.cfg.Policy {
		if fi, err := os.Stat(gw.cfg.path(p)); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:missing;", p)
		}
	}
	return b.String()
}

// reload validates the policy files completely and swaps them in at once; a
// bad policy is rejected with the same messages as `policy check`, and the
// one in force stays.
func (gw *gateway) reload(ctx context.Context) {
	set, err := gw.loadPolicy()
	var ecfg egress.Config
	var routes *dataRoutes
	// The egress and HTTP data sections are built before anything is
	// swapped, so the three front ends never disagree.
	if err == nil && gw.egress != nil {
		ecfg, err = egressConfig(set, gw.cfg.Egress.Listen)
	}
	if err == nil && gw.data != nil {
		routes, err = newDataRoutes(set, gw.engine)
	}
	gw.recordReload(ctx, err)
	if err != nil {
		slog.Error("policy reload rejected; the previous policy stays in force", "err", err)
		return
	}
	gw.policy.Store(set)
	if gw.pg != nil {
		if n := gw.pg.ApplyPolicy(set); n > 0 {
			slog.Info("sessions ended: their sandbox's policy changed", "sessions", n)
		}
	}
	if gw.data != nil {
		gw.data.routes.Store(routes)
	}
	if gw.egress != nil {
		if err := gw.egress.Reload(ecfg.Sandboxes); err != nil {
			// Validated above, so this is not expected; the old egress rules stay.
			slog.Error("egress rules not reloaded; the previous ones stay in force", "err", err)
		}
	}
	slog.Info("policy reloaded", "sandboxes", strings.Join(set.Names(), ","))
}

// loadOrCreateKey reads a key file, or creates fallback with 32 random bytes
// when no file is configured.
func loadOrCreateKey(configured, fallback string) ([]byte, error) {
	path := configured
	if path == "" {
		path = fallback
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			key := make([]byte, 32)
			rand.Read(key)
			if err := os.WriteFile(path, key, 0o600); err != nil {
				return nil, fmt.Errorf("create hash key: %w", err)
			}
		}
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hash key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("hash key %s is shorter than 32 bytes", path)
	}
	return key, nil
}

// serverTLS returns the TLS configuration for clients, generating a
// self-signed development certificate when asked.
func serverTLS(cfg Config) (*tls.Config, error) {
	var certFile, keyFile string
	switch cfg.TLS.Mode {
	case "off":
		return nil, nil
	case "files":
		certFile, keyFile = cfg.path(cfg.TLS.CertFile), cfg.path(cfg.TLS.KeyFile)
	default:
		dir := cfg.path(cfg.DataDir)
		certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := pgwire.WriteSelfSigned(certFile, keyFile); err != nil {
				return nil, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// checkConfigCmd validates a configuration and its policy files without
// starting anything.
func checkConfigCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return &usageError{msg: "name one or more configuration files", try: "sandgate check-config configs/sandgate.yaml"}
	}
	var errs []error
	for _, p := range fs.Args() {
		cfg, err := ReadConfigFile(p)
		if err == nil {
			paths := make([]string, len(cfg.Policy))
			for i, pp := range cfg.Policy {
				paths[i] = cfg.path(pp)
			}
			_, err = loadForCheck(paths)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", p)
	}
	return errors.Join(errs...)
}

// checkEngine builds transforms with throwaway in-memory keys, so a policy
// can be checked (every transform's parameters validated) without the
// deployment's keys.
func checkEngine() *pseudonymise.Engine {
	keys, err := pseudonymise.NewKeys()
	if err != nil {
		return nil
	}
	e, _ := pseudonymise.New(pseudonymise.Config{Keys: keys, CacheBytes: -1, Synthesiser: synthesiser{}})
	return e
}

// recordReload counts a policy reload and writes its audit record.
func (gw *gateway) recordReload(ctx context.Context, err error) {
	if gw.obs == nil {
		return
	}
	gw.obs.metrics.PolicyReload(ctx, err)
	a := gw.obs.auditor()
	if a == nil {
		return
	}
	rec := audit.Record{Kind: audit.KindPolicyReload, Decision: audit.Allow}
	if err != nil {
		rec.Decision, rec.ErrorClass = audit.Deny, "invalid_policy"
	}
	if aerr := a.Append(ctx, rec); aerr != nil {
		slog.Error("audit append failed", "err", aerr)
	}
}

// startSynthHTTP serves synthetic datasets over HTTP; the returned function
// stops it.
func startSynthHTTP(ctx context.Context, c SynthConfig) (func(), error) {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("synth listen on %s: %w", c.Listen, err)
	}
	srv := &http.Server{Handler: synthhttp.New(synthhttp.Config{MaxRows: c.MaxRows}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("synth endpoint stopped", "err", err)
		}
	}()
	slog.Info("synthetic data endpoint listening", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}

// defaultGCPercent is the collector's target when GOGC is unset. The
// gateway's live heap is small (caches, buffers: tens of MB) while every
// statement allocates a little, above all its span; at Go's default of 100
// collection ran several times a second under load and took about a fifth
// of the CPU the observability path costs. 400 lets the heap grow to five
// times the live data between collections, a few tens of MB more, for a
// quarter of the collections.
const defaultGCPercent = 400

// tuneGC sets the collector's target unless GOGC says otherwise.
func tuneGC() {
	if v, ok := os.LookupEnv("GOGC"); ok {
		slog.Info("garbage collector target from GOGC", "GOGC", v)
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	slog.Debug("garbage collector target", "gc_percent", defaultGCPercent)
}
