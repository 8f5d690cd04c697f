package pseudonymise

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrSpec marks a transform that cannot be built from its spec: an unknown
	// name, a missing or malformed parameter.
	ErrSpec = errors.New("invalid transform spec")
	// ErrInvalidValue marks a value that the transform cannot handle (not a
	// valid NHS number, not a date…) under on_invalid: error.
	ErrInvalidValue = errors.New("invalid value")
	// ErrTooLong marks a value longer than Config.MaxValueBytes.
	ErrTooLong = errors.New("value too long")
	// ErrReveal marks a token that cannot be revealed in the given scope and
	// domain: malformed, from another sandbox or domain, or its key is gone.
	ErrReveal = errors.New("token cannot be revealed")
)

// SpecError describes a spec that cannot be built, in words an IG officer
// can act on. It wraps [ErrSpec].
type SpecError struct {
	Transform string // the spec's name
	Param     string // the offending parameter, "" for the spec as a whole
	Msg       string // what is wrong
}

func (e *SpecError) Error() string {
	name := e.Transform
	if name == "" {
		name = "(unnamed)"
	}
	if e.Param == "" {
		return fmt.Sprintf("transform %s: %s", name, e.Msg)
	}
	return fmt.Sprintf("transform %s: %s %s", name, e.Param, e.Msg)
}

// Unwrap returns [ErrSpec].
func (e *SpecError) Unwrap() error { return ErrSpec }

// valueError reports a bad value without quoting it.
type valueError struct {
	transform string
	what      string
	err       error
}

func (e *valueError) Error() string {
	return fmt.Sprintf("transform %s: %s", e.transform, e.what)
}

func (e *valueError) Unwrap() error { return e.err }

func invalidValue(transform, what string) error {
	return &valueError{transform: transform, what: what, err: ErrInvalidValue}
}

func tooLong(transform string, max int) error {
	return &valueError{transform: transform, what: fmt.Sprintf("value longer than %d bytes", max), err: ErrTooLong}
}
