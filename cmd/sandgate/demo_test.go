package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestDemo runs `sandgate demo -exit`, what `make demo` shows, and checks
// each step of the scripted psql session did what its title says.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := demoCmd(context.Background(), []string{"-config", "../../configs/demo.yaml", "-exit"}, &out, io.Discard); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"Type 2 diabetes",            // allowed columns
		"h_",                         // the hashed nhs_number
		"LS1",                        // the generalised postcode
		"rule: protected-column-use", // a condition on a protected column
		"rule: column-deny",          // family_name
		"rule: write",                // DELETE
		"Connect yourself",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "9990000018") || strings.Contains(got, "Hartley") {
		t.Errorf("a protected value appears in the demo output:\n%s", got)
	}
}
