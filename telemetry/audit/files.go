package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxLine bounds one record line, for readers.
const maxLine = 1 << 20

// fileWriter owns the current file. Its lock serialises writes.
type fileWriter struct {
	mu     sync.Mutex
	dir    string
	prefix string
	max    int64
	f      *os.File
	size   int64
}

// Files lists the log files in dir with the given prefix ("" means
// DefaultPrefix), in chain order.
func Files(dir, prefix string) ([]string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	m, err := filepath.Glob(filepath.Join(dir, prefix+"-*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(m) // fixed-width sequence number, then fixed-width time
	return m, nil
}

// openFiles finds where the chain ends and opens a new file to continue it.
func openFiles(cfg Config) (*fileWriter, uint64, string, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, 0, "", err
	}
	files, err := Files(cfg.Dir, cfg.Prefix)
	if err != nil {
		return nil, 0, "", err
	}
	seq, prev := uint64(0), genesis
	for i := len(files) - 1; i >= 0; i-- {
		line, err := lastLine(files[i])
		if err != nil {
			return nil, 0, "", err
		}
		if line == nil {
			continue // empty, or a torn first line: look further back
		}
		r, err := parseLine(line)
		if err != nil {
			return nil, 0, "", fmt.Errorf("last record of %s: %w", files[i], err)
		}
		sum := sha256.Sum256(line)
		seq, prev = r.Seq, hex.EncodeToString(sum[:])
		break
	}
	fw := &fileWriter{dir: cfg.Dir, prefix: cfg.Prefix, max: cfg.MaxFileBytes}
	if err := fw.open(seq + 1); err != nil {
		return nil, 0, "", err
	}
	return fw, seq, prev, nil
}

// lastLine returns the last complete line of a file (nil if none). A torn
// final line, from a write interrupted by a crash, is skipped: it was never
// acknowledged, and Verify reports it.
func lastLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-2*maxLine, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		if off > 0 {
			return nil, fmt.Errorf("%s: last record longer than %d bytes", path, maxLine)
		}
		return nil, nil
	}
	start := bytes.LastIndexByte(buf[:end], '\n') + 1
	return buf[start:end], nil
}

// fileName names the file whose first record is seq. The time suffix keeps
// names unique when a process stops before writing a record.
func (w *fileWriter) fileName(seq uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%s-%020d-%019d.jsonl", w.prefix, seq, time.Now().UnixNano()))
}

func (w *fileWriter) open(seq uint64) error {
	f, err := os.OpenFile(w.fileName(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (w *fileWriter) write(buf []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeHeld(buf)
}

// writeHeld writes whole lines, starting a new file where the current one
// would grow past its limit, and fsyncs.
func (w *fileWriter) writeHeld(buf []byte) error {
	if w.f == nil {
		return errors.New("file closed")
	}
	for len(buf) > 0 {
		n := w.fits(buf)
		if n == 0 {
			if err := w.rotate(buf); err != nil {
				return err
			}
			continue
		}
		if _, err := w.f.Write(buf[:n]); err != nil {
			return fmt.Errorf("write %s: %w", w.f.Name(), err)
		}
		w.size += int64(n)
		buf = buf[n:]
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", w.f.Name(), err)
	}
	return nil
}

// fits returns how many bytes of whole lines fit in the current file; an
// empty file takes at least one line.
func (w *fileWriter) fits(buf []byte) int {
	room := w.max - w.size
	if int64(len(buf)) <= room {
		return len(buf)
	}
	n := 0
	for n < len(buf) {
		i := bytes.IndexByte(buf[n:], '\n')
		if int64(n+i+1) > room && (n > 0 || w.size > 0) {
			break
		}
		n += i + 1
	}
	return n
}

// rotate fsyncs and closes the current file and opens the next, named
// after the first record in buf.
func (w *fileWriter) rotate(buf []byte) error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", w.f.Name(), err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.f.Name(), err)
	}
	w.f = nil
	return w.open(lineSeq(buf))
}

// lineSeq reads the sequence number at the start of a canonical line.
func lineSeq(line []byte) uint64 {
	const p = `{"seq":`
	rest := strings.TrimPrefix(string(line[:min(len(line), 40)]), p)
	if i := strings.IndexByte(rest, ','); i > 0 {
		rest = rest[:i]
	}
	n, _ := strconv.ParseUint(rest, 10, 64)
	return n
}

func (w *fileWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
