package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the gateway's configuration file (configs/*.yaml). Policy
// (sandboxes and their rules) lives in separate files it names.
type Config struct {
	Version  int            `yaml:"version"`
	Listen   string         `yaml:"listen"`
	DataDir  string         `yaml:"data_dir"`
	Policy   []string       `yaml:"policy"`
	TLS      TLSConfig      `yaml:"tls"`
	Upstream UpstreamConfig `yaml:"upstream"`
	Limits   LimitsConfig   `yaml:"limits"`
	Pool     PoolConfig     `yaml:"pool"`
	// Relay: loop (default; Linux: plain-TCP sessions on the event loops)
	// or goroutines (every session with a goroutine per direction).
	Relay     string          `yaml:"relay"`
	Keys      KeysConfig      `yaml:"keys"`
	Log       LogConfig       `yaml:"log"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Audit     AuditConfig     `yaml:"audit"`
	Egress    EgressConfig    `yaml:"egress"`
	Synth     SynthConfig     `yaml:"synth"`
	HTTPData  HTTPDataConfig  `yaml:"http_data"`

	dir string // the file's directory: relative paths are resolved from it
}

type TLSConfig struct {
	// Mode: off, self-signed (development: a certificate generated into
	// data_dir) or files.
	Mode     string `yaml:"mode"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	Require  bool   `yaml:"require"`
}

type UpstreamConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	SSLMode      string `yaml:"sslmode"`
	SSLRootCert  string `yaml:"sslrootcert"`
	ConnectTime  string `yaml:"connect_timeout"`
}

type LimitsConfig struct {
	MaxMessageBytes    int    `yaml:"max_message_bytes"`
	StartupTimeout     string `yaml:"startup_timeout"`
	IdleTimeout        string `yaml:"idle_timeout"`
	MaxConnsPerSandbox int    `yaml:"max_connections_per_sandbox"`
}

type PoolConfig struct {
	IdlePerSandbox int    `yaml:"idle_per_sandbox"`
	IdleTimeout    string `yaml:"idle_timeout"`
}

type KeysConfig struct {
	// HashKeyFile holds the hash rule's key (32+ random bytes). Empty means
	// data_dir/hash.key, created on first start.
	HashKeyFile string `yaml:"hash_key_file"`
	// KeysetFile is the encrypted Tink keyset (`sandgate keys init`). Empty
	// means development keys: data_dir/keys.json under data_dir/master.key,
	// both created on first start.
	KeysetFile string `yaml:"keyset_file"`
	// MasterKeyFile is a local key-encryption key (development).
	MasterKeyFile string `yaml:"master_key_file"`
	// VaultKeyURI is a Vault Transit key (production), e.g.
	// hcvault:///transit/keys/sandgate; the address comes from VaultAddr or
	// $VAULT_ADDR and the token from $VAULT_TOKEN.
	VaultKeyURI string `yaml:"vault_key_uri"`
	VaultAddr   string `yaml:"vault_addr"`
	// CacheBytes caps the transform cache. Zero means 64 MiB.
	CacheBytes int64 `yaml:"cache_bytes"`
}

// TelemetryConfig chooses where traces and metrics go.
type TelemetryConfig struct {
	Traces      string   `yaml:"traces"`  // none, otlp-grpc, otlp-http or file
	Metrics     string   `yaml:"metrics"` // none, otlp-grpc or otlp-http
	Endpoint    string   `yaml:"endpoint"`
	Insecure    bool     `yaml:"insecure"` // plaintext OTLP, for a collector on loopback
	TraceFile   string   `yaml:"trace_file"`
	SampleRatio *float64 `yaml:"sample_ratio"`
	// AdminListen serves /metrics (Prometheus), /healthz and /readyz;
	// empty means off. Keep it on loopback: metrics name sandboxes.
	AdminListen string `yaml:"admin_listen"`
}

// SynthConfig serves GET /synth/{dataset}/{table} (NDJSON, CSV, FHIR R4).
type SynthConfig struct {
	Listen  string `yaml:"listen"`   // empty means off
	MaxRows int64  `yaml:"max_rows"` // zero means 10000
}

// AuditConfig is the tamper-evident audit log.
type AuditConfig struct {
	Dir        string `yaml:"dir"`        // empty means no audit log
	Durability string `yaml:"durability"` // group (default) or fsync
	// GroupWindow bounds how long a record waits for its group's fsync
	// with durability group (what a crash can lose); empty means 5ms.
	GroupWindow  string `yaml:"group_window"`
	MaxFileBytes int64  `yaml:"max_file_bytes"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{Version: 1, Listen: "127.0.0.1:6432", DataDir: ".sandgate",
		TLS:      TLSConfig{Mode: "self-signed"},
		Upstream: UpstreamConfig{Host: "127.0.0.1", Port: 5432, User: "sandgate", PasswordEnv: "SANDGATE_UPSTREAM_PASSWORD", SSLMode: "prefer"},
		Log:      LogConfig{Level: "info", Format: "text"}}
}

// ConfigError is one invalid field.
type ConfigError struct {
	Field string
	Value any
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %v (got %v)", e.Field, e.Err, e.Value)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ErrInvalidConfig is wrapped by every validation error.
var ErrInvalidConfig = errors.New("invalid value")

// ParseConfig decodes strictly (an unknown key is an error) over the
// defaults and validates every field. It has no side effects.
func ParseConfig(r io.Reader) (Config, error) {
	cfg := DefaultConfig()
	data, err := io.ReadAll(r)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("parse config: %w", err)
	}
	return cfg, cfg.validate()
}

// ReadConfigFile reads and parses a configuration file; relative paths in it
// are resolved from the file's directory.
func ReadConfigFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	cfg.dir = filepath.Dir(path)
	return cfg, nil
}

// path resolves p relative to the config file.
func (c Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c Config) validate() error {
	var errs []error
	bad := func(field string, value any, format string, a ...any) {
		errs = append(errs, &ConfigError{Field: field, Value: value, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...)})
	}
	if c.Version != 1 {
		bad("version", c.Version, "must be 1")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", c.Listen, "must be host:port")
	}
	if c.Egress.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Egress.Listen); err != nil {
			bad("egress.listen", c.Egress.Listen, "must be host:port")
		}
	}
	if t := c.Egress.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		bad("egress.tls", t.CertFile+t.KeyFile, "needs both cert_file and key_file")
	} else if t.CertFile == "" && (t.ClientCAFile != "" || t.RequireClientCert) {
		bad("egress.tls.client_ca_file", t.ClientCAFile, "client certificates need the proxy's own TLS: set cert_file and key_file")
	} else if t.RequireClientCert && t.ClientCAFile == "" {
		bad("egress.tls.require_client_cert", t.RequireClientCert, "needs client_ca_file, the CA that issues the sandboxes' certificates")
	}
	if c.HTTPData.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPData.Listen); err != nil {
			bad("http_data.listen", c.HTTPData.Listen, "must be host:port")
		}
	}
	if c.Synth.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Synth.Listen); err != nil {
			bad("synth.listen", c.Synth.Listen, "must be host:port")
		}
	}
	if len(c.Policy) == 0 {
		bad("policy", c.Policy, "name at least one policy file")
	}
	switch c.Relay {
	case "", "loop", "goroutines":
	default:
		bad("relay", c.Relay, "must be loop or goroutines")
	}
	switch c.TLS.Mode {
	case "off", "self-signed":
	case "files":
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			bad("tls", c.TLS.Mode, "mode files needs cert_file and key_file")
		}
	default:
		bad("tls.mode", c.TLS.Mode, "must be off, self-signed or files")
	}
	if c.TLS.Require && c.TLS.Mode == "off" {
		bad("tls.require", true, "cannot require TLS with tls.mode off")
	}
	switch c.Upstream.SSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		bad("upstream.sslmode", c.Upstream.SSLMode, "must be one of disable, allow, prefer, require, verify-ca, verify-full")
	}
	if c.Upstream.Port < 1 || c.Upstream.Port > 65535 {
		bad("upstream.port", c.Upstream.Port, "must be 1-65535")
	}
	if c.Upstream.User == "" {
		bad("upstream.user", "", "must name sandgate's upstream role")
	}
	if c.Upstream.PasswordEnv == "" && c.Upstream.PasswordFile == "" {
		bad("upstream", "", "set password_env or password_file (a password is never written in this file)")
	}
	durations := map[string]string{"upstream.connect_timeout": c.Upstream.ConnectTime,
		"limits.startup_timeout": c.Limits.StartupTimeout, "limits.idle_timeout": c.Limits.IdleTimeout,
		"pool.idle_timeout": c.Pool.IdleTimeout}
	maps.Copy(durations, c.Egress.Timeouts.fields())
	for _, field := range slices.Sorted(maps.Keys(durations)) {
		v := durations[field]
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			bad(field, v, "must be a duration such as 10s or 5m")
		}
	}
	if c.Limits.MaxMessageBytes < 0 || (c.Limits.MaxMessageBytes > 0 && c.Limits.MaxMessageBytes < 1024) {
		bad("limits.max_message_bytes", c.Limits.MaxMessageBytes, "must be at least 1024")
	}
	if c.Keys.KeysetFile != "" && (c.Keys.MasterKeyFile == "") == (c.Keys.VaultKeyURI == "") {
		bad("keys", c.Keys.KeysetFile, "keyset_file needs exactly one of master_key_file (development) or vault_key_uri (production)")
	}
	if c.Limits.MaxConnsPerSandbox < 0 {
		bad("limits.max_connections_per_sandbox", c.Limits.MaxConnsPerSandbox, "must not be negative")
	}
	switch c.Telemetry.Traces {
	case "", "none", "otlp-grpc", "otlp-http", "file":
	default:
		bad("telemetry.traces", c.Telemetry.Traces, "must be none, otlp-grpc, otlp-http or file")
	}
	switch c.Telemetry.Metrics {
	case "", "none", "otlp-grpc", "otlp-http":
	default:
		bad("telemetry.metrics", c.Telemetry.Metrics, "must be none, otlp-grpc or otlp-http (Prometheus is served on admin_listen)")
	}
	if c.Telemetry.Traces == "file" && c.Telemetry.TraceFile == "" {
		bad("telemetry.trace_file", "", "traces: file needs trace_file")
	}
	if r := c.Telemetry.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		bad("telemetry.sample_ratio", *r, "must be between 0 and 1")
	}
	switch c.Audit.Durability {
	case "", "group", "fsync":
	default:
		bad("audit.durability", c.Audit.Durability, "must be group or fsync")
	}
	if w := c.Audit.GroupWindow; w != "" {
		if d, err := time.ParseDuration(w); err != nil || d <= 0 || d > time.Second {
			bad("audit.group_window", w, "must be a duration from 1ms to 1s, such as 5ms or 20ms")
		} else if c.Audit.Durability == "fsync" {
			bad("audit.group_window", w, "applies to durability group only; fsync writes each record at once")
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", c.Log.Level, "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", c.Log.Format, "must be text or json")
	}
	return errors.Join(errs...)
}

// duration parses a validated duration; empty is zero.
func duration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// upstreamPassword reads the password from the environment or a file.
func (c Config) upstreamPassword() (string, error) {
	if c.Upstream.PasswordFile != "" {
		b, err := os.ReadFile(c.path(c.Upstream.PasswordFile))
		if err != nil {
			return "", fmt.Errorf("read upstream password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	pw, ok := os.LookupEnv(c.Upstream.PasswordEnv)
	if !ok {
		return "", fmt.Errorf("environment variable %s (upstream.password_env) is not set", c.Upstream.PasswordEnv)
	}
	return pw, nil
}
