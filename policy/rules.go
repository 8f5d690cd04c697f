package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sandgate/sandgate/pseudonymise"
	"github.com/sandgate/sandgate/synth"
	"gopkg.in/yaml.v3"
)

// compileRule turns one column's YAML rule into its compiled form, building
// its transform once.
func compileRule(opts Options, sb *Sandbox, rn relName, col string, ry ruleYAML) (columnRule, error) {
	where := fmt.Sprintf("column %s.%s", rn, col)
	if ry.Word != "" {
		r, ok := parseRule(ry.Word)
		if !ok {
			return columnRule{}, fmt.Errorf("%s: rule %q is not one of allow, hash, deny, or a {transform: …} mapping", where, ry.Word)
		}
		cr := columnRule{rule: r}
		if r == Hash {
			cr.transform = sb.hash
		}
		return cr, nil
	}
	if ry.Transform == "" {
		return columnRule{}, fmt.Errorf("%s: a column rule mapping needs transform:", where)
	}
	if opts.Engine == nil {
		return columnRule{}, fmt.Errorf("%s: transform %s needs the pseudonymisation keys, and none are configured", where, ry.Transform)
	}
	if ry.Transform == pseudonymise.NameSynthetic && !slices.Contains(synth.ReplaceKinds(), ry.Params["kind"]) {
		return columnRule{}, fmt.Errorf("%s: synthetic needs params.kind, one of %s", where, strings.Join(synth.ReplaceKinds(), ", "))
	}
	if ry.Transform == pseudonymise.NameDateShift && ry.Subject == "" {
		return columnRule{}, fmt.Errorf("%s: date_shift needs subject: the column (of the same table) that identifies the patient", where)
	}
	t, err := opts.Engine.Build(pseudonymise.Spec{Name: ry.Transform, Domain: ry.Domain, Params: ry.Params})
	if err != nil {
		return columnRule{}, fmt.Errorf("%s: %w", where, err)
	}
	et := &engineTransform{t: t, subject: strings.ToLower(ry.Subject), domain: ry.Domain, engine: opts.Engine,
		ctx: pseudonymise.Context{Sandbox: sb.Name, LinkGroup: sb.LinkGroup}}
	return columnRule{rule: Transformed, transform: et}, nil
}

func ruleHint(ry ruleYAML) string {
	if ry.Transform == "" {
		return "write allow, hash or deny, or {transform: NAME, domain: DOMAIN, params: {…}}"
	}
	return "see the pseudonymise transforms in README.md"
}

// checkSubjects makes sure every date_shift subject names a column of the
// same table that the policy names too.
func checkSubjects(t *table, tn *yaml.Node, at posErr) []error {
	var errs []error
	for col, cr := range t.columns {
		et, ok := cr.transform.(*engineTransform)
		if !ok || et.subject == "" {
			continue
		}
		if _, named := t.columns[et.subject]; !named {
			errs = append(errs, at(valueNode(tn, col), fmt.Sprintf("column %s.%s: subject %q is not a column named in the policy of %s",
				t.name, col, et.subject, t.name), "name the patient identifier column of the same table"))
		}
	}
	return errs
}

// engineTransform binds a pseudonymise transform to its sandbox.
type engineTransform struct {
	t       pseudonymise.Transform
	ctx     pseudonymise.Context
	subject string
	domain  string
	engine  *pseudonymise.Engine
}

// reveal turns a token of this rule back into the value, for a lookup by
// token; it fails for anything that is not a token of this sandbox and
// domain.
func (e *engineTransform) reveal(tok []byte) ([]byte, error) {
	v, err := e.engine.Reveal(e.ctx, e.domain, tok)
	if err != nil {
		return nil, &Denial{Code: CodeInsufficientPrivilege, Rule: "token-lookup",
			Msg:  "a value compared with a tokenised column is not a token this sandbox was given for it",
			Hint: "compare the column with tokens exactly as sandgate returned them"}
	}
	return v, nil
}

func (e *engineTransform) Name() string    { return e.t.Name() }
func (e *engineTransform) Subject() string { return e.subject }

func (e *engineTransform) Apply(dst, in []byte, inNull bool, subject []byte) ([]byte, bool, error) {
	ctx := &e.ctx
	if subject != nil {
		c := e.ctx
		c.Subject = subject
		ctx = &c
	}
	out, null, err := e.t.Apply(dst, ctx, in, inNull)
	if err != nil {
		return dst, false, &Denial{Code: CodeInsufficientPrivilege, Rule: "transform-" + e.t.Name(),
			Msg:  fmt.Sprintf("a value could not be transformed by %s and was withheld: %v", e.t.Name(), errorClass(err)),
			Hint: "the value does not have the form the rule expects; ask your information governance team to review the rule's on_invalid setting"}
	}
	return out, null, nil
}

// errorClass keeps an error's kind but never a value.
func errorClass(err error) string {
	var se *pseudonymise.SpecError
	if errors.As(err, &se) {
		return "invalid rule"
	}
	return "invalid input"
}
