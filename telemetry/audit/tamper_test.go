package audit

import (
	"os"
	"strings"
	"testing"
)

// tamperLog writes a signed, sealed log of n records in one file and
// returns its path and the verifier.
func tamperLog(t *testing.T, n int) (string, VerifyOptions) {
	t.Helper()
	dir := t.TempDir()
	s, v := testKeys(t)
	writeLog(t, Config{Dir: dir, Signer: s, CheckpointEvery: 1000}, n)
	files := mustFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("got %d files, want 1", len(files))
	}
	return files[0], VerifyOptions{Verifier: v, RequireSealed: true}
}

func verify(t *testing.T, opts VerifyOptions, files ...string) *Result {
	t.Helper()
	res, err := VerifyWith(opts, files...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTamperEditCanonical(t *testing.T) {
	f, opts := tamperLog(t, 10)
	lines := readLines(t, f)
	// A careful forger keeps the canonical form: rows 3 becomes 4.
	if !strings.Contains(lines[3], `"rows":3,`) {
		t.Fatalf("fixture changed: %s", lines[3])
	}
	lines[3] = strings.Replace(lines[3], `"rows":3,`, `"rows":4,`, 1)
	writeLines(t, f, lines)
	p := only(t, verify(t, opts, f), Edited)
	if p.Line != 4 || p.Seq != 4 || !strings.Contains(p.Detail, "seq 5") {
		t.Fatalf("got %v, want the edit located at line 4, seq 4, found by seq 5", p)
	}
}

func TestTamperEditNonCanonical(t *testing.T) {
	f, opts := tamperLog(t, 10)
	lines := readLines(t, f)
	lines[5] = strings.Replace(lines[5], `"user":"dr_example"`, `"user": "someone_else"`, 1)
	writeLines(t, f, lines)
	res := verify(t, opts, f)
	if len(res.Problems) != 2 {
		t.Fatalf("got %v, want two problems (not canonical, hash mismatch)", res.Problems)
	}
	for _, p := range res.Problems {
		if p.Kind != Edited || p.Line != 6 || p.Seq != 6 {
			t.Errorf("got %v, want edited at line 6, seq 6", p)
		}
	}
}

func TestTamperEditLastRecordCaughtByCheckpoint(t *testing.T) {
	f, opts := tamperLog(t, 5)
	lines := readLines(t, f)
	// Line 5 is the last record; line 6 the closing checkpoint.
	lines[4] = strings.Replace(lines[4], `"decision":"transform"`, `"decision":"allow"`, 1)
	writeLines(t, f, lines)
	p := only(t, verify(t, opts, f), Edited)
	if p.Seq != 5 {
		t.Fatalf("got %v, want seq 5", p)
	}
}

func TestTamperForgedCheckpoint(t *testing.T) {
	f, opts := tamperLog(t, 5)
	lines := readLines(t, f)
	// Rewrite the last record and recompute the checkpoint's prev: the
	// chain then holds, but the signature does not.
	lines[4] = strings.Replace(lines[4], `"decision":"transform"`, `"decision":"allow"`, 1)
	r, err := parseLine([]byte(strings.TrimSuffix(lines[5], "\n")))
	if err != nil {
		t.Fatal(err)
	}
	r.Prev = hashHex(strings.TrimSuffix(lines[4], "\n"))
	lines[5] = string(r.canonical()) + "\n"
	writeLines(t, f, lines)
	p := only(t, verify(t, opts, f), BadSignature)
	if p.Seq != 6 || p.Line != 6 {
		t.Fatalf("got %v, want the checkpoint at line 6", p)
	}
}

func TestTamperDelete(t *testing.T) {
	f, opts := tamperLog(t, 10)
	lines := readLines(t, f)
	lines = append(lines[:3], lines[5:]...) // seq 4 and 5
	writeLines(t, f, lines)
	p := only(t, verify(t, opts, f), Deleted)
	if p.Seq != 4 || !strings.Contains(p.Detail, "seq 4 to 5") || p.Line != 4 {
		t.Fatalf("got %v, want seq 4 to 5 missing, found at line 4", p)
	}
}

func TestTamperReorder(t *testing.T) {
	f, opts := tamperLog(t, 10)
	lines := readLines(t, f)
	lines[2], lines[3] = lines[3], lines[2] // seq 3 and 4
	writeLines(t, f, lines)
	p := only(t, verify(t, opts, f), Reordered)
	if p.Seq != 3 || p.Line != 4 || !strings.Contains(p.Detail, "follows seq 4") {
		t.Fatalf("got %v, want seq 3 at line 4 following seq 4", p)
	}
}

func TestTamperTruncateTornLine(t *testing.T) {
	f, opts := tamperLog(t, 10)
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, b[:len(b)-40], 0o600); err != nil {
		t.Fatal(err)
	}
	opts.RequireSealed = false
	p := only(t, verify(t, opts, f), Truncated)
	if p.Line != 11 {
		t.Fatalf("got %v, want the torn line 11", p)
	}
}

func TestTamperTruncateWholeRecords(t *testing.T) {
	f, opts := tamperLog(t, 10)
	lines := readLines(t, f)
	writeLines(t, f, lines[:8])
	res := verify(t, opts, f)
	p := only(t, res, Truncated)
	if p.Seq != 8 || res.Sealed {
		t.Fatalf("got %v (sealed %v), want an unsealed end at seq 8", p, res.Sealed)
	}
	opts.RequireSealed = false
	if res := verify(t, opts, f); res.Err() != nil || res.Sealed || res.LastSigned != 0 {
		t.Fatalf("without RequireSealed: got %s, want no problem, unsealed, nothing signed", describe(res))
	}
}

func TestTamperCrossFile(t *testing.T) {
	dir := t.TempDir()
	s, v := testKeys(t)
	writeLog(t, Config{Dir: dir, Signer: s, MaxFileBytes: 1500}, 20)
	files := mustFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("got %d files, want at least 3", len(files))
	}
	opts := VerifyOptions{Verifier: v, RequireSealed: true}
	t.Run("missing middle file", func(t *testing.T) {
		rest := append([]string{files[0]}, files[2:]...)
		p := only(t, verify(t, opts, rest...), Deleted)
		if !strings.Contains(p.Detail, "a file may be missing") || p.File != files[2] || p.Line != 1 {
			t.Fatalf("got %v, want a missing file before %s", p, files[2])
		}
	})
	t.Run("files swapped", func(t *testing.T) {
		swapped := append([]string{files[1], files[0]}, files[2:]...)
		p := only(t, verify(t, opts, swapped...), Reordered)
		if p.File != files[0] || p.Line != 1 {
			t.Fatalf("got %v, want reordering found at %s:1", p, files[0])
		}
	})
	t.Run("last record of a file edited", func(t *testing.T) {
		lines := readLines(t, files[0])
		n := len(lines) - 2 // the last line; SplitAfter leaves "" at the end
		lines[n] = strings.Replace(lines[n], `"bytes":120`, `"bytes":121`, 1)
		writeLines(t, files[0], lines)
		p := only(t, verify(t, opts, files...), Edited)
		if p.File != files[0] || p.Line != n+1 || !strings.Contains(p.Detail, files[1]+":1") {
			t.Fatalf("got %v, want %s:%d, found by %s:1", p, files[0], n+1, files[1])
		}
	})
}
