package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the dependency direction DESIGN.md draws:
// cmd → gateway/* → policy → pseudonymise, synth; gateway/* → telemetry;
// telemetry, pseudonymise and synth import nothing of ours but the small
// leaf helpers under internal/ (which import nothing of ours at all).
func TestImportDirection(t *testing.T) {
	const mod = "github.com/sandgate/sandgate/"
	leaf := []string{"internal/jsonstr", "internal/httpcount"}
	allowed := map[string][]string{
		"pseudonymise":       leaf,
		"synth":              leaf,
		"telemetry":          append([]string{"telemetry/audit"}, leaf...),
		"telemetry/audit":    leaf,
		"policy":             append([]string{"pseudonymise", "synth"}, leaf...),
		"internal/jsonstr":   nil,
		"internal/httpcount": nil,
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(dep, mod)
			if !ours || rel == pkg {
				continue
			}
			if !containsPath(ok, rel) {
				t.Errorf("%s imports %s, against the dependency direction in DESIGN.md", pkg, rel)
			}
		}
	}
	// Nothing below cmd imports a gateway or cmd.
	for _, pkg := range []string{"policy", "pseudonymise", "synth", "telemetry", "telemetry/audit"} {
		out, _ := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+pkg).Output()
		if strings.Contains(string(out), mod+"gateway") || strings.Contains(string(out), mod+"cmd") {
			t.Errorf("%s depends on a gateway or cmd package", pkg)
		}
	}
}

func containsPath(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
