package synth

import "strings"

// references resolves foreign keys once every table is known, and checks
// that the referencing column's generator really yields the target's ids,
// so that integrity holds by construction.
func (v *validator) references(s *Spec, t *Table, i int, y *tableYAML) {
	k := 0
	for j, c := range y.Columns {
		if k >= len(t.Columns) || t.Columns[k].Name != c.Name {
			continue // rejected above
		}
		col := &t.Columns[k]
		k++
		if c.References == "" {
			continue
		}
		ln := line(v.loc.column(i, j), "references")
		tn, cn, ok := strings.Cut(c.References, ".")
		rt := s.Table(tn)
		if !ok || rt == nil {
			v.errorf(ln, "table %s, column %s: references %q names no table; write it as table.column", t.Name, c.Name, c.References)
			continue
		}
		rc := rt.column(cn)
		if rc == nil || !rc.PrimaryKey {
			v.errorf(ln, "table %s, column %s: references %q, which is not the primary key of %s", t.Name, c.Name, c.References, tn)
			continue
		}
		if want := idGenFor(t, rt); col.Gen != want {
			v.errorf(ln, "table %s, column %s: references %s but generates %q; use 'gen: %s' so every value exists in %s",
				t.Name, c.Name, c.References, col.Gen, want, tn)
			continue
		}
		col.References, col.RefTable = rc, rt
	}
}

// idGenFor returns the generator whose values are ids of table rt in rows
// of t ("" when there is none).
func idGenFor(t, rt *Table) string {
	switch {
	case rt == t:
		return "id"
	case rt == t.Parent:
		return "parent_id"
	case rt == t.Root() && rt.Parent == nil:
		return "patient_id"
	}
	return "(none: " + rt.Name + " is not an ancestor of " + t.Name + ")"
}

func (t *Table) column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}
