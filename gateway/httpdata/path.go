package httpdata

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sandgate/sandgate/pseudonymise"
)

// seg is one path segment: a member name and, for rules, an optional
// predicate on the array elements it names. In a walked path pred holds
// the element's value of predKey, when a rule asked for it.
type seg struct {
	name    string
	predKey string
	pred    string
	hasPred bool
}

// path is a parsed rule path: segs[0] is the resource type, "*" or "$".
type path []seg

func parsePath(s string) (path, error) {
	if s == "" {
		return nil, errors.New("is empty; write e.g. Patient.birthDate")
	}
	var p path
	for rest := s; rest != ""; {
		name, tail := rest, ""
		if i := strings.IndexAny(rest, ".["); i >= 0 {
			name, tail = rest[:i], rest[i:]
		}
		sg := seg{name: name}
		if strings.HasPrefix(tail, "[") {
			end := strings.IndexByte(tail, ']')
			k, v, ok := strings.Cut(tail[1:max(end, 1)], "=")
			if end < 0 || !ok || k == "" || v == "" {
				return nil, fmt.Errorf("segment %q has a malformed predicate; write name[key=value]", name)
			}
			sg.predKey, sg.pred, sg.hasPred, tail = k, v, true, tail[end+1:]
		}
		if name == "" || strings.ContainsAny(name, "]=") || (name == "*" || name == "$") && len(p) > 0 {
			return nil, fmt.Errorf("segment %d is empty or malformed; separate field names with dots", len(p))
		}
		p = append(p, sg)
		if tail != "" && !strings.HasPrefix(tail, ".") {
			return nil, fmt.Errorf("unexpected %q after segment %q", tail, name)
		}
		rest = strings.TrimPrefix(tail, ".")
		if tail == "." {
			return nil, errors.New("ends with a dot")
		}
	}
	if len(p) < 2 && p[0].name != "$" {
		return nil, errors.New("names a resource type only; name a field, e.g. Patient.gender")
	}
	if p[0].hasPred {
		return nil, errors.New("the resource type cannot have a predicate")
	}
	return p, nil
}

// persons are resource types whose name is a person's name.
var persons = map[string]bool{"Patient": true, "RelatedPerson": true, "Person": true, "Practitioner": true}

// protected reports whether a value at p (or below it) could be a direct
// identifier: such values are never kept raw.
func (p path) protected() bool {
	for i, s := range p {
		if i > 0 && hasTypedSuffix(s.name) {
			return true
		}
		switch s.name {
		case "address", "telecom", "photo", "birthDate":
			if i > 0 {
				return true
			}
		case "div":
			if i > 0 && p[i-1].name == "text" {
				return true
			}
		case "value":
			if i > 0 && p[i-1].name == "identifier" {
				return true
			}
		case "name":
			if i == 1 && (persons[p[0].name] || p[0].name == "*") || i == 2 && p[1].name == "contact" {
				return true
			}
		}
	}
	return false
}

// rule is a compiled FieldRule.
type rule struct {
	path   path
	action Action
	tr     pseudonymise.Transform
}

// specificity orders rules matching the same path: a named type beats "*",
// a predicate beats none.
func (r *rule) specificity() int {
	n := 0
	if r.path[0].name != "*" {
		n += 100
	}
	for _, s := range r.path {
		if s.hasPred {
			n++
		}
	}
	return n
}

type matchKind int

const (
	noMatch   matchKind = iota
	matches             // r's first len(p) segments match p
	needsPred           // they would, once the last segment's predicate is read
)

// matchAt compares r's first len(p) segments with the walked path p.
func (r *rule) matchAt(p path) matchKind {
	if len(r.path) < len(p) {
		return noMatch
	}
	if rs := r.path[0]; rs.name != p[0].name && (rs.name != "*" || p[0].name == "$") {
		return noMatch
	}
	for i := 1; i < len(p); i++ {
		rs, s := r.path[i], p[i]
		if rs.name != s.name {
			return noMatch
		}
		if !rs.hasPred {
			continue
		}
		if !s.hasPred {
			if i == len(p)-1 {
				return needsPred
			}
			return noMatch
		}
		if rs.predKey != s.predKey || rs.pred != s.pred {
			return noMatch
		}
	}
	return matches
}

// effect is what to do at one walked path.
type effect struct {
	action   Action
	tr       pseudonymise.Transform
	descend  bool     // deeper rules exist: walk into containers
	predKeys []string // array elements here must be buffered to read these members
}

// resolve finds the effect at p given the inherited one (the nearest
// ancestor rule's action, drop at a resource root).
func resolve(rules []rule, p path, inherited effect) effect {
	e := effect{action: inherited.action, tr: inherited.tr}
	best := -1
	for i := range rules {
		r := &rules[i]
		switch r.matchAt(p) {
		case noMatch:
			continue
		case needsPred:
			e.descend = true
			e.predKeys = appendUnique(e.predKeys, r.path[len(p)-1].predKey)
			continue
		}
		if len(r.path) > len(p) {
			e.descend = true
			continue
		}
		if sp := r.specificity(); sp > best {
			best, e.action, e.tr = sp, r.action, r.tr
		}
	}
	if e.action == ActionKeep && p.protected() {
		e.action = ActionDrop
	}
	return e
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// hasTypedSuffix catches FHIR choice and extension elements of identifying
// data types: valueAddress, valueHumanName, valueContactPoint,
// valueIdentifier and the like.
func hasTypedSuffix(name string) bool {
	for _, t := range []string{"Address", "HumanName", "ContactPoint", "Identifier", "Attachment"} {
		if strings.HasSuffix(name, t) {
			return true
		}
	}
	return false
}
