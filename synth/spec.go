package synth

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Spec is a parsed, validated dataset description. It is immutable once
// returned by ParseSpec or Builtin and safe for concurrent use.
type Spec struct {
	Name   string
	Seed   uint64 // default seed when the caller gives none
	AsOf   Date   // the "today" of the dataset: ages and dates count back from it
	Tables []*Table
}

// Table is one table of a Spec. Rows of a child table are numbered in slots:
// slot s belongs to parent row s/PerParent, and a slot may be empty (a
// patient without that condition), so a table's row count is at most
// parent slots × PerParent.
type Table struct {
	Name      string
	Entity    string // patient, encounter, condition, observation, medication
	Parent    *Table // nil for a root (patient) table
	Rows      int64  // root tables: default row count
	PerParent int64  // child tables: slots per parent row
	Columns   []Column
	key       uint64
	ent       *entity
}

// Column is one column of a Table.
type Column struct {
	Name       string
	Gen        string // the generator: a field of the table's entity
	Type       string // SQL type, decided by the generator
	PrimaryKey bool
	References *Column // foreign key target, or nil
	RefTable   *Table
	f          *field
}

// Table returns the named table, or nil.
func (s *Spec) Table(name string) *Table {
	for _, t := range s.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Root returns the patients table that t's rows descend from.
func (t *Table) Root() *Table {
	for t.Parent != nil {
		t = t.Parent
	}
	return t
}

// Slots returns how many row slots t has when its root table has rootRows
// rows.
func (t *Table) Slots(rootRows int64) int64 {
	if t.Parent == nil {
		return rootRows
	}
	return t.Parent.Slots(rootRows) * t.PerParent
}

// SpecError is a problem in a spec file, located at a line.
type SpecError struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *SpecError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ErrUnknownSpec means Builtin was asked for a spec it does not have.
var ErrUnknownSpec = errors.New("unknown built-in spec")

//go:embed specs/*.yaml
var builtinFS embed.FS

// Builtins lists the names of the embedded specs.
func Builtins() []string { return []string{"ehr"} }

// Builtin returns an embedded spec by name ("ehr").
func Builtin(name string) (*Spec, error) {
	b, err := builtinFS.ReadFile("specs/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("%w %q; built-in specs are: %s", ErrUnknownSpec, name, strings.Join(Builtins(), ", "))
	}
	return ParseSpec(bytes.NewReader(b), name+".yaml")
}

// yaml shapes: strict decoding into these, then conversion to the domain
// types above.
type specYAML struct {
	Version int         `yaml:"version"`
	Name    string      `yaml:"name"`
	Seed    *uint64     `yaml:"seed"`
	AsOf    string      `yaml:"as_of"`
	Tables  []tableYAML `yaml:"tables"`
}

type tableYAML struct {
	Name      string       `yaml:"name"`
	Entity    string       `yaml:"entity"`
	Parent    string       `yaml:"parent"`
	Rows      *int64       `yaml:"rows"`
	PerParent *int64       `yaml:"per_parent"`
	Columns   []columnYAML `yaml:"columns"`
}

type columnYAML struct {
	Name       string `yaml:"name"`
	Gen        string `yaml:"gen"`
	PrimaryKey bool   `yaml:"primary_key"`
	References string `yaml:"references"`
}

// maxSpecBytes bounds what ParseSpec reads.
const maxSpecBytes = 1 << 20

// ParseSpec reads and validates a YAML spec. filename is used in error
// messages only. Every problem found is reported, each as a *SpecError with
// the line it is on, joined with errors.Join.
func ParseSpec(r io.Reader, filename string) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", filename, err)
	}
	if len(data) > maxSpecBytes {
		return nil, &SpecError{File: filename, Msg: fmt.Sprintf("spec is larger than %d bytes; split it or trim it", maxSpecBytes)}
	}
	var y specYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&y); err != nil {
		return nil, yamlError(filename, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(filename, err)
	}
	v := &validator{file: filename, loc: locator{&root}}
	s := v.spec(&y)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return s, nil
}

var (
	yamlLineRe  = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	notFoundRe  = regexp.MustCompile(`^field (\S+) not found in type synth\.(\w+)$`)
	unmarshalRe = regexp.MustCompile(`^cannot unmarshal !!(\w+) ` + "`" + `?(.*?)` + "`" + `? into (\S+)$`)
)

// allowedKeys names the keys of each YAML shape, for error hints.
var allowedKeys = map[string]string{
	"specYAML":   "version, name, seed, as_of, tables",
	"tableYAML":  "name, entity, parent, rows, per_parent, columns",
	"columnYAML": "name, gen, primary_key, references",
}

var shapeNames = map[string]string{"specYAML": "the top level", "tableYAML": "a table", "columnYAML": "a column"}

// yamlError turns a yaml.v3 error into SpecErrors with file:line and a hint.
func yamlError(file string, err error) error {
	if errors.Is(err, io.EOF) {
		return &SpecError{File: file, Msg: "empty spec; start it with 'version: 1' and a 'tables:' list"}
	}
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		errs = append(errs, yamlMessage(file, m))
	}
	return errors.Join(errs...)
}

func yamlMessage(file, m string) *SpecError {
	e := &SpecError{File: file, Msg: m}
	if g := yamlLineRe.FindStringSubmatch(m); g != nil {
		e.Line, _ = strconv.Atoi(g[1])
		e.Msg = g[2]
	}
	if g := notFoundRe.FindStringSubmatch(e.Msg); g != nil {
		e.Msg = fmt.Sprintf("unknown key %q in %s; the keys allowed there are: %s", g[1], shapeNames[g[2]], allowedKeys[g[2]])
	} else if g := unmarshalRe.FindStringSubmatch(e.Msg); g != nil {
		e.Msg = fmt.Sprintf("%s %q is the wrong kind of value here (want %s)", yamlTagWord[g[1]], g[2], goTypeWord(g[3]))
	} else {
		e.Msg += " (check the indentation and that lists start with '- ')"
	}
	return e
}

var yamlTagWord = map[string]string{"str": "string", "int": "number", "float": "number",
	"bool": "boolean", "seq": "list", "map": "mapping", "null": "empty value", "timestamp": "date"}

func goTypeWord(t string) string {
	switch {
	case strings.Contains(t, "int"):
		return "a whole number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	default:
		return "a mapping"
	}
}

// locator finds the lines of spec elements in the YAML node tree.
type locator struct{ root *yaml.Node }

func (l locator) top() *yaml.Node {
	if l.root.Kind == yaml.DocumentNode && len(l.root.Content) > 0 {
		return l.root.Content[0]
	}
	return l.root
}

// value returns the value node of key in mapping n, or nil.
func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func item(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func (l locator) table(i int) *yaml.Node { return item(value(l.top(), "tables"), i) }

func (l locator) column(i, j int) *yaml.Node { return item(value(l.table(i), "columns"), j) }

// line returns the line of key's value in n, else of n itself, else 0.
func line(n *yaml.Node, key string) int {
	if v := value(n, key); v != nil {
		return v.Line
	}
	if n != nil {
		return n.Line
	}
	return 0
}
