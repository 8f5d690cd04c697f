// Package policy holds the rules that decide what a sandbox may see.
//
// A policy file (YAML, version 1) names each sandbox, the credentials its
// prototype authenticates with, the database it reads, and per table the rule
// of every column it may receive: allow (raw), hash (a keyed one-way
// pseudonym) or deny. Anything the file does not name is denied. Files
// compile into an immutable *Set; a gateway asks the Set's sandboxes to check
// each statement (CheckStatement) and to plan each result's columns
// (PlanColumns).
//
// This is the interim policy of the wire gateway: statement analysis is
// coarse (statement kinds, relations and functions, through PostgreSQL's own
// parser), and column rules are applied to what the server says each result
// column is. It deliberately leaves out predicate analysis, row filters and
// the Tink transforms, which the full policy engine adds.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/synth"
	"gopkg.in/yaml.v3"
)

// Rule is what happens to one column.
type Rule int

const (
	// Deny refuses any statement that would return the column.
	Deny Rule = iota
	// Allow passes the value unchanged.
	Allow
	// Hash replaces the value by a keyed one-way pseudonym.
	Hash
	// Transformed applies a pseudonymise transform (token, nhs_number,
	// date_shift, generalise…).
	Transformed
)

func (r Rule) String() string {
	switch r {
	case Allow:
		return "allow"
	case Hash:
		return "hash"
	case Transformed:
		return "transform"
	default:
		return "deny"
	}
}

func parseRule(s string) (Rule, bool) {
	switch s {
	case "allow":
		return Allow, true
	case "hash":
		return Hash, true
	case "deny":
		return Deny, true
	}
	return Deny, false
}

// Set is a compiled, immutable policy.
type Set struct {
	sandboxes map[string]*Sandbox
	names     []string
}

// Sandbox is one sandbox's compiled rules.
type Sandbox struct {
	Name           string
	Owner          string
	Purpose        string
	DPIA           string    // the data protection impact assessment's reference
	Expires        time.Time // zero: no expiry; access stops at the start of this day (UTC)
	Database       string
	Verifier       string      // SCRAM-SHA-256 verifier, PostgreSQL's format
	MaxConnections int         // 0 means the gateway's default
	LinkGroup      string      // sandboxes in one link group share pseudonyms
	Egress         *Egress     // nil: the sandbox may reach nothing over HTTP
	Source         *DataSource // nil: the real database
	HTTPSources    []HTTPSource
	// Fingerprint identifies the sandbox's rules as written: two compiles of
	// the same text have the same one. A reload compares them to find the
	// sandboxes whose rules changed.
	Fingerprint string
	tables      map[relName]*table
	hash        *hasher
	checked     *checkCache // CheckStatement's answers; nil: none kept
}

type relName struct{ schema, name string }

func (r relName) String() string { return r.schema + "." + r.name }

type table struct {
	name      relName
	columns   map[string]columnRule
	protected bool     // some column is not Allow
	filter    string   // the row filter's subquery, or empty
	writes    []string // insert, update, delete: what the sandbox may write
}

// columnRule is one column's compiled rule.
type columnRule struct {
	rule      Rule
	transform Transform // Hash and Transformed
}

// Sandbox returns the named sandbox, or nil.
func (s *Set) Sandbox(name string) *Sandbox {
	if s == nil {
		return nil
	}
	return s.sandboxes[name]
}

// Names lists the sandboxes in name order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Options carry what a policy needs besides its files.
type Options struct {
	// HashKey keys the hash rule (at least 32 bytes). Each sandbox derives its
	// own subkey from it, so hashes differ across sandboxes.
	HashKey []byte
	// Engine builds the pseudonymise transforms a column rule names. Nil
	// means only allow, hash and deny are available.
	Engine *pseudonymise.Engine
}

// file is the YAML form. Domain types above carry no tags.
type file struct {
	Version   int           `yaml:"version"`
	Sandboxes []sandboxYAML `yaml:"sandboxes"`
}

type sandboxYAML struct {
	Name             string                         `yaml:"name"`
	Owner            string                         `yaml:"owner"`
	Purpose          string                         `yaml:"purpose"`
	DPIA             string                         `yaml:"dpia"`
	Expires          string                         `yaml:"expires"`
	Database         string                         `yaml:"database"`
	PasswordVerifier string                         `yaml:"password_verifier"`
	LinkGroup        string                         `yaml:"link_group"`
	MaxConnections   int                            `yaml:"max_connections"`
	Tables           map[string]map[string]ruleYAML `yaml:"tables"`
	RowFilters       map[string]string              `yaml:"row_filters"`
	Writes           map[string][]string            `yaml:"writes"`
	Egress           *Egress                        `yaml:"egress"`
	Source           *DataSource                    `yaml:"source"`
	HTTPSources      []HTTPSource                   `yaml:"http_sources"`
}

// DataSource says where a sandbox's data comes from: the real database
// (default), or a synthetic one that sandgate provisions from a dataset spec
// on first use, with the same schema, so a prototype moves to real data
// without a code change.
type DataSource struct {
	Kind string `yaml:"kind"` // real (default) or synthetic
	Spec string `yaml:"spec"` // a built-in dataset: ehr
	Rows int64  `yaml:"rows"` // patients; zero means the spec's count
	Seed uint64 `yaml:"seed"`
}

// Synthetic reports whether the sandbox is served synthetic data.
func (s *DataSource) Synthetic() bool { return s != nil && s.Kind == "synthetic" }

// Egress is a sandbox's HTTP egress allowlist, as the policy file states it.
// The egress proxy validates it in depth (host globs, CIDR widths, ports).
type Egress struct {
	Mode          string       `yaml:"mode"` // enforce (default) or report
	Rules         []EgressRule `yaml:"rules"`
	AllowCIDRs    []string     `yaml:"allow_cidrs"`
	RatePerSecond float64      `yaml:"rate_per_second"`
	Burst         int          `yaml:"burst"`
	MaxConcurrent int          `yaml:"max_concurrent"`
	MaxTunnels    int          `yaml:"max_tunnels"`
}

// HTTPSource is an HTTP JSON (e.g. FHIR) data source a sandbox reads
// through sandgate's data proxy, with the rules for its fields. Fields no
// rule names are dropped.
type HTTPSource struct {
	Name     string      `yaml:"name"`     // the path segment: /{sandbox}/{name}/…
	Upstream string      `yaml:"upstream"` // base URL
	Fields   []HTTPField `yaml:"fields"`
}

// HTTPField is one field rule: keep or drop, or a pseudonymise transform.
type HTTPField struct {
	Path      string            `yaml:"path"`   // e.g. Patient.identifier[system=https://fhir.nhs.uk/Id/nhs-number].value
	Action    string            `yaml:"action"` // keep or drop; empty with transform
	Transform string            `yaml:"transform"`
	Domain    string            `yaml:"domain"`
	Params    map[string]string `yaml:"params"`
}

// EgressRule allows some destinations.
type EgressRule struct {
	ID           string   `yaml:"id"`
	Hosts        []string `yaml:"hosts"`
	Ports        []int    `yaml:"ports"`
	Methods      []string `yaml:"methods"`
	PathPrefixes []string `yaml:"path_prefixes"`
}

// ruleYAML is a column rule: a word (allow, hash, deny) or a transform
// {transform: nhs_number, domain: nhs_number, params: {…}, subject: col}.
type ruleYAML struct {
	Word      string
	Transform string            `yaml:"transform"`
	Domain    string            `yaml:"domain"`
	Params    map[string]string `yaml:"params"`
	Subject   string            `yaml:"subject"`
	node      *yaml.Node
}

func (r *ruleYAML) UnmarshalYAML(n *yaml.Node) error {
	r.node = n
	if n.Kind == yaml.ScalarNode {
		r.Word = n.Value
		return nil
	}
	type plain ruleYAML
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "transform", "domain", "params", "subject":
		default:
			return fmt.Errorf("line %d: field %s not found in column rule (want transform, domain, params, subject)", n.Content[i].Line, n.Content[i].Value)
		}
	}
	p.node = n
	*r = ruleYAML(p)
	return nil
}

// Error is one problem in a policy file, with its position.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
	Hint   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// ErrInvalid is wrapped by every error about a policy's content.
var ErrInvalid = errors.New("invalid policy")

// LoadFiles reads and compiles policy files. Every problem in every file is
// reported, joined.
func LoadFiles(opts Options, paths ...string) (*Set, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no policy file given", ErrInvalid)
	}
	var srcs []Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read policy: %w", err)
		}
		srcs = append(srcs, Source{Name: p, Data: b})
	}
	return Compile(opts, srcs...)
}

// Source is one policy file's name and content.
type Source struct {
	Name string
	Data []byte
}

// Compile parses and validates sources into a Set.
func Compile(opts Options, srcs ...Source) (*Set, error) {
	if len(opts.HashKey) < 32 {
		return nil, errors.New("policy: hash key must be at least 32 bytes")
	}
	set := &Set{sandboxes: map[string]*Sandbox{}}
	var errs []error
	for _, src := range srcs {
		errs = append(errs, set.add(opts, src)...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	for n := range set.sandboxes {
		set.names = append(set.names, n)
	}
	sort.Strings(set.names)
	return set, nil
}

func (s *Set) add(opts Options, src Source) []error {
	var root yaml.Node
	if err := yaml.Unmarshal(src.Data, &root); err != nil {
		return []error{yamlError(src.Name, err)}
	}
	if len(root.Content) == 0 {
		return []error{&Error{File: src.Name, Line: 1, Column: 1, Msg: "empty policy file",
			Hint: "start with 'version: 1' and a 'sandboxes:' list"}}
	}
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(src.Data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return []error{yamlError(src.Name, err)}
	}
	at := func(n *yaml.Node, msg, hint string) error {
		return &Error{File: src.Name, Line: n.Line, Column: n.Column, Msg: msg, Hint: hint}
	}
	doc := root.Content[0]
	if f.Version != 1 {
		return []error{at(doc, fmt.Sprintf("version must be 1, got %d", f.Version), "add 'version: 1' at the top")}
	}
	sbNodes := lookup(doc, "sandboxes")
	var errs []error
	for i, sy := range f.Sandboxes {
		node := doc
		if sbNodes != nil && i < len(sbNodes.Content) {
			node = sbNodes.Content[i]
		}
		sb, es := compileSandbox(opts, sy, node, at)
		errs = append(errs, es...)
		if sb == nil {
			continue
		}
		if _, dup := s.sandboxes[sb.Name]; dup {
			errs = append(errs, at(node, fmt.Sprintf("sandbox %q is defined twice", sb.Name), "give each sandbox a unique name"))
			continue
		}
		s.sandboxes[sb.Name] = sb
	}
	return errs
}

type posErr func(n *yaml.Node, msg, hint string) error

func compileSandbox(opts Options, sy sandboxYAML, node *yaml.Node, at posErr) (*Sandbox, []error) {
	var errs []error
	if sy.Name == "" || !validIdent(sy.Name) {
		errs = append(errs, at(node, fmt.Sprintf("sandbox name %q is not a valid role name", sy.Name),
			"use lower-case letters, digits and underscores; the prototype connects with this user name"))
	}
	if sy.Database == "" {
		errs = append(errs, at(node, fmt.Sprintf("sandbox %q has no database", sy.Name), "name the upstream database it reads"))
	}
	if _, err := ParseVerifier(sy.PasswordVerifier); err != nil {
		errs = append(errs, at(valueNode(node, "password_verifier"), fmt.Sprintf("sandbox %q: %v", sy.Name, err),
			"generate one with 'sandgate passwd'; never write a plaintext password here"))
	}
	var expires time.Time
	if sy.Expires != "" {
		var err error
		if expires, err = time.Parse("2006-01-02", sy.Expires); err != nil {
			errs = append(errs, at(valueNode(node, "expires"), fmt.Sprintf("sandbox %q: expires %q is not a date", sy.Name, sy.Expires),
				"write it as YYYY-MM-DD"))
		}
	}
	if e := sy.Egress; e != nil && e.Mode != "" && e.Mode != "enforce" && e.Mode != "report" {
		errs = append(errs, at(valueNode(valueNode(node, "egress"), "mode"), fmt.Sprintf("sandbox %q: egress mode %q is not enforce or report", sy.Name, e.Mode), ""))
	}
	if src := sy.Source; src != nil {
		switch {
		case src.Kind != "real" && src.Kind != "synthetic":
			errs = append(errs, at(valueNode(node, "source"), fmt.Sprintf("sandbox %q: source kind %q is not real or synthetic", sy.Name, src.Kind), ""))
		case src.Kind == "synthetic" && !slices.Contains(synth.Builtins(), src.Spec):
			errs = append(errs, at(valueNode(node, "source"), fmt.Sprintf("sandbox %q: synthetic spec %q is not one of %s", sy.Name, src.Spec, strings.Join(synth.Builtins(), ", ")), ""))
		case src.Rows < 0 || src.Rows > 10_000_000:
			errs = append(errs, at(valueNode(node, "source"), fmt.Sprintf("sandbox %q: source rows must be between 0 and 10000000", sy.Name), ""))
		}
	}
	if sy.MaxConnections < 0 {
		errs = append(errs, at(valueNode(node, "max_connections"), "max_connections must not be negative", ""))
	}
	sb := &Sandbox{Name: sy.Name, Owner: sy.Owner, Purpose: sy.Purpose, DPIA: sy.DPIA, Expires: expires, Database: sy.Database,
		Verifier: sy.PasswordVerifier, MaxConnections: sy.MaxConnections, tables: map[relName]*table{},
		LinkGroup: sy.LinkGroup, Egress: sy.Egress, Source: sy.Source, HTTPSources: sy.HTTPSources,
		hash: newHasher(opts.HashKey, sy.Name), checked: newCheckCache()}
	tablesNode := valueNode(node, "tables")
	for tname, cols := range sy.Tables {
		tn := valueNode(tablesNode, tname)
		rn, ok := parseRelName(tname)
		if !ok {
			errs = append(errs, at(tn, fmt.Sprintf("table %q is not schema.table or table", tname), ""))
			continue
		}
		t := &table{name: rn, columns: map[string]columnRule{}}
		for cname, ry := range cols {
			cr, err := compileRule(opts, sb, rn, cname, ry)
			if err != nil {
				errs = append(errs, at(ry.node, err.Error(), ruleHint(ry)))
				continue
			}
			t.columns[strings.ToLower(cname)] = cr
			if cr.rule != Allow {
				t.protected = true
			}
		}
		errs = append(errs, checkSubjects(t, tn, at)...)
		sb.tables[rn] = t
	}
	errs = append(errs, compileRowsAndWrites(sb, sy, node, at)...)
	if text, err := yaml.Marshal(node); err == nil {
		sum := sha256.Sum256(text)
		sb.Fingerprint = hex.EncodeToString(sum[:])
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return sb, nil
}

func parseRelName(s string) (relName, bool) {
	parts := strings.Split(strings.ToLower(s), ".")
	switch {
	case len(parts) == 1 && validIdent(parts[0]):
		return relName{"public", parts[0]}, true
	case len(parts) == 2 && validIdent(parts[0]) && validIdent(parts[1]):
		return relName{parts[0], parts[1]}, true
	}
	return relName{}, false
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		if c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// lookup finds the value node of key in a mapping node.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// valueNode is lookup that falls back to the mapping itself, so an error
// always has a position.
func valueNode(m *yaml.Node, key string) *yaml.Node {
	if n := lookup(m, key); n != nil {
		return n
	}
	if m == nil {
		return &yaml.Node{Line: 1, Column: 1}
	}
	return m
}

func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, e := range te.Errors {
			line := 0
			fmt.Sscanf(e, "line %d:", &line)
			msg := strings.TrimPrefix(e, fmt.Sprintf("line %d: ", line))
			var key string
			if _, err := fmt.Sscanf(msg, "field %s not found", &key); err == nil {
				msg = fmt.Sprintf("unknown key %q", key)
			}
			errs = append(errs, &Error{File: name, Line: line, Column: 1, Msg: msg,
				Hint: "check the key's spelling against the policy format in README.md"})
		}
		return errors.Join(errs...)
	}
	line := 0
	msg := err.Error()
	if _, e := fmt.Sscanf(msg, "yaml: line %d:", &line); e == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return &Error{File: name, Line: line, Column: 1, Msg: "not valid YAML: " + msg}
}

// Expired reports whether the sandbox's access has ended at now.
func (sb *Sandbox) Expired(now time.Time) bool {
	return !sb.Expires.IsZero() && !now.Before(sb.Expires)
}
