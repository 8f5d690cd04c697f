package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// ProblemKind classifies what Verify found wrong.
type ProblemKind string

// The kinds of problem. All but Interrupted fail verification.
const (
	Edited       ProblemKind = "edited"    // a record's bytes changed
	Deleted      ProblemKind = "deleted"   // sequence numbers missing
	Reordered    ProblemKind = "reordered" // a record out of sequence, or repeated
	Truncated    ProblemKind = "truncated" // a torn final line, or the end cut off
	Malformed    ProblemKind = "malformed" // a line that is not a record
	BadSignature ProblemKind = "bad-signature"
	// Interrupted is a torn final line in a file whose successor continues
	// the chain from the last complete record: a crash, not tampering.
	Interrupted ProblemKind = "interrupted"
)

// Problem is one break in the chain, located by file, line (1-based) and
// record sequence number (0 when unknown).
type Problem struct {
	File   string
	Line   int
	Seq    uint64
	Kind   ProblemKind
	Detail string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: seq %d: %s: %s", p.File, p.Line, p.Seq, p.Kind, p.Detail)
}

// VerifyOptions configures VerifyWith.
type VerifyOptions struct {
	// Verifier checks checkpoint signatures (see ReadPublicKey). Nil means
	// checkpoints are checked for their place in the chain only.
	Verifier tink.Verifier
	// RequireSealed makes a log that does not end with a checkpoint a
	// Truncated problem: records may have been cut from its end.
	RequireSealed bool
}

// Result is what Verify found.
type Result struct {
	Files, Records, Checkpoints int
	FirstSeq, LastSeq           uint64
	// LastSigned is the last checkpoint whose signature verified (0 if
	// none, or no Verifier). Records after it are covered by the chain
	// only.
	LastSigned uint64
	// Sealed says the last record is a checkpoint (signed, with a Verifier).
	Sealed   bool
	Problems []Problem
}

// Err returns nil if no problem fails verification, else one error
// listing them.
func (r *Result) Err() error {
	var errs []error
	for _, p := range r.Problems {
		if p.Kind != Interrupted {
			errs = append(errs, errors.New(p.String()))
		}
	}
	return errors.Join(errs...)
}

// Verify checks the chain across files, given in chain order, without
// checking signatures.
func Verify(files ...string) (*Result, error) {
	return VerifyWith(VerifyOptions{}, files...)
}

type entry struct {
	hash       [32]byte
	file, line int
	unreadable bool
}

type verifier struct {
	opts     VerifyOptions
	res      Result
	files    []string
	seen     map[uint64]entry
	claims   map[uint64]string // prev claimed by a record whose predecessor is not yet seen
	last     uint64
	lastOK   bool // last record was a verified checkpoint
	lastCkpt bool // last record was a checkpoint, verified or not
	minSeq   uint64
	torn     int // index in Problems of a torn line awaiting the next file, or -1
	tornSeq  uint64
}

// VerifyWith checks the chain across files, given in chain order. The
// error is for files that cannot be read; breaks are in Result.Problems.
func VerifyWith(opts VerifyOptions, files ...string) (*Result, error) {
	v := &verifier{opts: opts, files: files, seen: map[uint64]entry{}, claims: map[uint64]string{}, torn: -1}
	for i, name := range files {
		if err := v.file(i, name); err != nil {
			return nil, err
		}
	}
	v.finish()
	return &v.res, nil
}

func (v *verifier) file(fi int, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	v.res.Files++
	br := bufio.NewReaderSize(f, 64<<10)
	for ln := 1; ; ln++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			v.line(fi, ln, line[:len(line)-1])
		} else if len(line) > 0 {
			v.problem(fi, ln, 0, Truncated, fmt.Sprintf("final line is incomplete (%d bytes, no newline): an interrupted write; the records before it are not affected", len(line)))
			v.torn, v.tornSeq = len(v.res.Problems)-1, v.last
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("verify %s: %w", name, err)
		}
	}
}

func (v *verifier) problem(fi, ln int, seq uint64, k ProblemKind, detail string) {
	v.res.Problems = append(v.res.Problems, Problem{File: v.files[fi], Line: ln, Seq: seq, Kind: k, Detail: detail})
}

func (v *verifier) where(e entry) string {
	return fmt.Sprintf("%s:%d", v.files[e.file], e.line)
}

// line checks one complete line.
func (v *verifier) line(fi, ln int, line []byte) {
	v.resolveTorn(fi, line)
	r, err := parseLine(line)
	if err != nil || len(line) > maxLine || r.Seq == 0 {
		seq := v.last + 1
		v.problem(fi, ln, seq, Malformed, "not a record (edited or corrupted)")
		v.add(seq, entry{file: fi, line: ln, unreadable: true})
		v.lastOK, v.lastCkpt = false, false
		return
	}
	if !bytes.Equal(r.canonical(), line) {
		v.problem(fi, ln, r.Seq, Edited, "record is not in its canonical form: it was changed after it was written")
	}
	if prev, ok := v.seen[r.Seq]; ok {
		v.problem(fi, ln, r.Seq, Reordered, "sequence number repeated (first at "+v.where(prev)+")")
		v.lastOK, v.lastCkpt = false, false
		return
	}
	if v.res.Records > 0 && r.Seq < v.last {
		v.problem(fi, ln, r.Seq, Reordered, fmt.Sprintf("seq %d follows seq %d", r.Seq, v.last))
	}
	v.link(fi, ln, r)
	v.lastCkpt = r.Kind == KindCheckpoint
	v.lastOK = v.lastCkpt && v.checkpoint(fi, ln, r)
	v.add(r.Seq, entry{hash: sha256.Sum256(line), file: fi, line: ln})
}

// resolveTorn downgrades a torn line to Interrupted when the first record
// of the next file continues the chain from the last complete record.
func (v *verifier) resolveTorn(fi int, line []byte) {
	if v.torn < 0 {
		return
	}
	p := &v.res.Problems[v.torn]
	v.torn = -1
	r, err := parseLine(line)
	if e, ok := v.seen[v.tornSeq]; ok && err == nil && p.File != v.files[fi] &&
		r.Seq == v.tornSeq+1 && r.Prev == hex.EncodeToString(e.hash[:]) {
		p.Kind = Interrupted
		p.Detail += "; the next file continues the chain"
	}
}

// link checks the record's prev against its predecessor, now or when the
// predecessor turns up.
func (v *verifier) link(fi, ln int, r Record) {
	if r.Seq == 1 {
		if r.Prev != genesis {
			v.problem(fi, ln, r.Seq, Edited, "first record of the log does not carry the genesis hash")
		}
		return
	}
	e, ok := v.seen[r.Seq-1]
	if !ok {
		v.claims[r.Seq] = r.Prev
		return
	}
	v.compare(e, r.Seq, r.Prev, fi, ln)
}

func (v *verifier) compare(e entry, seq uint64, prev string, fi, ln int) {
	if e.unreadable || prev == hex.EncodeToString(e.hash[:]) {
		return
	}
	v.problem(e.file, e.line, seq-1, Edited,
		fmt.Sprintf("record's hash does not match the prev carried by seq %d at %s:%d", seq, v.files[fi], ln))
}

func (v *verifier) add(seq uint64, e entry) {
	v.seen[seq] = e
	if prev, ok := v.claims[seq+1]; ok {
		delete(v.claims, seq+1)
		next := v.seen[seq+1]
		v.compare(e, seq+1, prev, next.file, next.line)
	}
	if v.res.Records == 0 || seq < v.minSeq {
		v.minSeq = seq
	}
	v.res.Records++
	v.res.LastSeq = max(v.res.LastSeq, seq)
	v.last = seq
}

// checkpoint checks a checkpoint's signature; it reports whether it holds.
func (v *verifier) checkpoint(fi, ln int, r Record) bool {
	v.res.Checkpoints++
	if v.opts.Verifier == nil {
		return true
	}
	sig, err := base64.StdEncoding.DecodeString(r.Sig)
	if err == nil {
		err = v.opts.Verifier.Verify(sig, checkpointData(r.Seq, r.Time, r.Prev))
	}
	if err != nil {
		v.problem(fi, ln, r.Seq, BadSignature, "checkpoint signature does not verify")
		return false
	}
	v.res.LastSigned = r.Seq
	return true
}

// finish reports missing sequence numbers and an unsealed end.
func (v *verifier) finish() {
	v.res.FirstSeq = v.minSeq
	for s := v.minSeq; s < v.res.LastSeq; s++ {
		if _, ok := v.seen[s]; ok {
			continue
		}
		end := s
		for ; end < v.res.LastSeq; end++ {
			if _, ok := v.seen[end+1]; ok {
				break
			}
		}
		before, after := v.seen[s-1], v.seen[end+1]
		detail := fmt.Sprintf("records seq %d to %d are missing, between %s and %s", s, end, v.where(before), v.where(after))
		if before.file != after.file {
			detail += " (a file may be missing)"
		}
		v.problem(after.file, after.line, s, Deleted, detail)
		s = end
	}
	v.res.Sealed = v.res.Records > 0 && v.lastOK
	if v.opts.RequireSealed && !v.lastCkpt && len(v.files) > 0 {
		v.problem(len(v.files)-1, 0, v.res.LastSeq, Truncated,
			"the log does not end with a checkpoint: records may have been cut from its end")
	}
}
