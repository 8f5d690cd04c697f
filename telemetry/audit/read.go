package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadFiles calls fn for each record in files, in order, skipping lines
// that are not records (Verify reports those). It stops at fn's first
// error and returns it.
func ReadFiles(files []string, fn func(file string, line int, r Record) error) error {
	for _, name := range files {
		if err := readFile(name, fn); err != nil {
			return err
		}
	}
	return nil
}

func readFile(name string, fn func(string, int, Record) error) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for ln := 1; ; ln++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 1 && line[len(line)-1] == '\n' {
			if r, perr := parseLine(line[:len(line)-1]); perr == nil {
				if ferr := fn(name, ln, r); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read audit log %s: %w", name, err)
		}
	}
}
