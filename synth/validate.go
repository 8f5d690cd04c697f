package synth

import (
	"fmt"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// defaultAsOf is the as-of date of a spec that names none.
var defaultAsOf = dateOf(2025, 1, 1)

// maxRootRows bounds a spec's rows (the CLI and Load may ask for more).
const maxRootRows = 1 << 40

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// validator converts the YAML shape into a Spec, collecting every problem.
type validator struct {
	file string
	loc  locator
	errs []error
}

func (v *validator) errorf(line int, format string, args ...any) {
	v.errs = append(v.errs, &SpecError{File: v.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) spec(y *specYAML) *Spec {
	top := v.loc.top()
	s := &Spec{Name: y.Name, AsOf: defaultAsOf}
	if y.Version != 1 {
		v.errorf(line(top, "version"), "version is %d; this sandgate reads 'version: 1'", y.Version)
	}
	if y.Seed != nil {
		s.Seed = *y.Seed
	}
	if y.AsOf != "" {
		t, err := time.Parse(time.DateOnly, y.AsOf)
		if err != nil {
			v.errorf(line(top, "as_of"), "as_of %q is not a date; write it as YYYY-MM-DD", y.AsOf)
		} else {
			s.AsOf = dateOf(t.Year(), int(t.Month()), t.Day())
		}
	}
	if len(y.Tables) == 0 {
		v.errorf(line(top, "tables"), "no tables; add a 'tables:' list with at least one patient table")
	}
	for i := range y.Tables {
		if t := v.table(s, i, &y.Tables[i]); t != nil {
			s.Tables = append(s.Tables, t)
		}
	}
	for i := range y.Tables {
		if t := s.Table(y.Tables[i].Name); t != nil {
			v.references(s, t, i, &y.Tables[i])
		}
	}
	return s
}

func (v *validator) table(s *Spec, i int, y *tableYAML) *Table {
	n := v.loc.table(i)
	if !identRe.MatchString(y.Name) {
		v.errorf(line(n, "name"), "table name %q is not a plain SQL name; use lower-case letters, digits and _", y.Name)
		return nil
	}
	if s.Table(y.Name) != nil {
		v.errorf(line(n, "name"), "table %q is defined twice; rename one of them", y.Name)
		return nil
	}
	t := &Table{Name: y.Name, Entity: y.Entity, key: fnv64(y.Name), ent: entityNamed(y.Entity)}
	if t.ent == nil {
		v.errorf(line(n, "entity"), "table %s: unknown entity %q; use one of: %s", y.Name, y.Entity, entityNames())
		return nil
	}
	v.shape(s, t, n, y)
	v.columns(t, i, y.Columns)
	return t
}

// shape checks parent, rows and per_parent against the entity.
func (v *validator) shape(s *Spec, t *Table, n *yaml.Node, y *tableYAML) {
	if t.ent.parent == "" {
		if y.Parent != "" {
			v.errorf(line(n, "parent"), "table %s: %s rows are roots and take no parent; remove 'parent'", t.Name, t.Entity)
		}
		if y.PerParent != nil {
			v.errorf(line(n, "per_parent"), "table %s: per_parent applies to child tables; use 'rows' for a %s table", t.Name, t.Entity)
		}
		t.Rows = 1000
		if y.Rows != nil {
			t.Rows = *y.Rows
		}
		if t.Rows < 1 || t.Rows > maxRootRows {
			v.errorf(line(n, "rows"), "table %s: rows is %d; give a number from 1 to %d", t.Name, t.Rows, int64(maxRootRows))
		}
		return
	}
	if y.Rows != nil {
		v.errorf(line(n, "rows"), "table %s: a %s table's rows follow its parent; use 'per_parent' instead of 'rows'", t.Name, t.Entity)
	}
	t.Parent = s.Table(y.Parent)
	switch {
	case y.Parent == "":
		v.errorf(n.Line, "table %s: a %s table needs 'parent:' naming an earlier %s table", t.Name, t.Entity, t.ent.parent)
	case t.Parent == nil:
		v.errorf(line(n, "parent"), "table %s: parent %q is not defined above it; define the %s table first", t.Name, y.Parent, t.ent.parent)
	case t.Parent.Entity != t.ent.parent:
		v.errorf(line(n, "parent"), "table %s: parent %s holds %s rows, but a %s belongs to a %s", t.Name, y.Parent, t.Parent.Entity, t.Entity, t.ent.parent)
		t.Parent = nil
	}
	t.PerParent = t.ent.perParent
	if y.PerParent != nil {
		t.PerParent = *y.PerParent
	}
	if t.PerParent < 1 || t.PerParent > t.ent.maxPer {
		v.errorf(line(n, "per_parent"), "table %s: per_parent is %d; a %s table allows 1 to %d", t.Name, t.PerParent, t.Entity, t.ent.maxPer)
	}
}

func (v *validator) columns(t *Table, i int, cols []columnYAML) {
	if len(cols) == 0 {
		v.errorf(line(v.loc.table(i), "columns"), "table %s has no columns; add a 'columns:' list", t.Name)
	}
	seen := map[string]bool{}
	for j, c := range cols {
		n := v.loc.column(i, j)
		if !identRe.MatchString(c.Name) {
			v.errorf(line(n, "name"), "table %s: column name %q is not a plain SQL name; use lower-case letters, digits and _", t.Name, c.Name)
			continue
		}
		if seen[c.Name] {
			v.errorf(line(n, "name"), "table %s: column %s is defined twice", t.Name, c.Name)
			continue
		}
		seen[c.Name] = true
		f := lookupField(t.Entity, c.Gen)
		if f == nil {
			v.errorf(line(n, "gen"), "table %s, column %s: unknown generator %q for a %s; use one of: %s", t.Name, c.Name, c.Gen, t.Entity, fieldNames(t.Entity))
			continue
		}
		if c.PrimaryKey && c.Gen != "id" {
			v.errorf(line(n, "primary_key"), "table %s, column %s: only 'gen: id' values are unique; put primary_key on the id column", t.Name, c.Name)
		}
		t.Columns = append(t.Columns, Column{Name: c.Name, Gen: c.Gen, Type: f.typ, PrimaryKey: c.PrimaryKey, f: f})
	}
}
