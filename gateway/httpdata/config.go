package httpdata

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/sandgate/sandgate/pseudonymise"
)

// Action is what a rule does with the value at its path.
type Action string

const (
	ActionKeep      Action = "keep"      // pass the value (not honoured at protected paths)
	ActionDrop      Action = "drop"      // leave the member out
	ActionTransform Action = "transform" // apply FieldRule.Transform to every scalar inside
)

// FieldRule applies an action to the values at one path.
type FieldRule struct {
	// Path is "<ResourceType or * or $>.<field>[.<field>…]"; a field may
	// carry one predicate on a member of the array elements it names,
	// e.g. identifier[system=https://fhir.nhs.uk/Id/nhs-number].
	Path string
	// Action is keep, drop or transform.
	Action Action
	// Transform is the pseudonymise spec for ActionTransform (token,
	// pseudonym, nhs_number, digits, generalise, mask, redact, synthetic).
	Transform pseudonymise.Spec
}

// Config configures one sandbox's data proxy.
type Config struct {
	// Sandbox is the sandbox the outputs are for; it scopes every keyed
	// transform. Required.
	Sandbox string
	// LinkGroup, when set, replaces Sandbox in keyed derivations (see
	// pseudonymise.Context).
	LinkGroup string
	// Upstream is the source's base URL, e.g. https://fhir.example.nhs.uk/R4.
	// Required.
	Upstream string
	// Rules name what passes. Fields no rule names are dropped.
	Rules []FieldRule
	// Engine builds the transforms. Required when a rule transforms.
	Engine *pseudonymise.Engine
	// Transport reaches the upstream. Nil means a transport with no proxy
	// from the environment, verified TLS and no compression.
	Transport http.RoundTripper
	// MaxBodyBytes bounds an upstream response body. Zero means 256 MiB.
	MaxBodyBytes int64
	// MaxElementBytes bounds one buffered array element (see the package
	// doc). Zero means 64 KiB.
	MaxElementBytes int
	// MaxDepth bounds JSON nesting. Zero means 64.
	MaxDepth int
	// Logger receives one line per request. Nil means slog.Default().
	Logger *slog.Logger
}

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid data proxy configuration")

// ConfigError is one problem in a Config.
type ConfigError struct {
	Field, Value, Msg string
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("httpdata: %s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("httpdata: %s: %s (got %q)", e.Field, e.Msg, e.Value)
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Validate reports every problem at once. It builds each transform, so a
// bad transform spec is reported with the rule that names it.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, value, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Sandbox == "" {
		add("sandbox", "", "is required: it scopes every pseudonym and token")
	}
	if u, err := url.Parse(c.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		add("upstream", c.Upstream, "must be an http:// or https:// URL without credentials, e.g. https://fhir.example.nhs.uk/R4")
	}
	if len(c.Rules) == 0 {
		add("rules", "", "no rule is given, so every field would be dropped; name the fields the sandbox needs")
	}
	for i, r := range c.Rules {
		validateRule(c, fmt.Sprintf("rules[%d]", i), r, add)
	}
	return errors.Join(errs...)
}

func validateRule(c *Config, f string, r FieldRule, add func(string, string, string, ...any)) {
	p, err := parsePath(r.Path)
	if err != nil {
		add(f+".path", r.Path, "%v", err)
		return
	}
	switch r.Action {
	case ActionKeep:
		if p.protected() {
			add(f+".action", string(r.Action), "%s is protected (an identifier, a person's name, birth date, address, telecom, photo or narrative) and cannot be kept raw; give it a transform or drop it", r.Path)
		}
	case ActionDrop:
	case ActionTransform:
		if r.Transform.Name == pseudonymise.NameDateShift {
			add(f+".transform", r.Transform.Name, "date_shift is not offered for HTTP sources; use generalise (to: year or month)")
		} else if c.Engine == nil {
			add("engine", "", "is required because %s transforms", f)
		} else if _, err := c.Engine.Build(r.Transform); err != nil {
			add(f+".transform", r.Transform.Name, "%v", err)
		}
	default:
		add(f+".action", string(r.Action), "must be one of %v", []Action{ActionKeep, ActionDrop, ActionTransform})
	}
}

var keptResponseHeaders = []string{"Content-Type", "Cache-Control", "Date", "Vary"}

func isKeptHeader(h string) bool { return slices.Contains(keptResponseHeaders, h) }
