package synth

import (
	"context"
	"fmt"
	"io"
)

// StreamOptions say what Stream writes.
type StreamOptions struct {
	// Rows is how many rows to write.
	Rows int64
	// Format is csv (with a header line), ndjson, or fhir (one Bundle).
	Format string
	// Bundle is the FHIR Bundle type: collection (default) or searchset.
	Bundle string
	// MaxSlotsPerRow bounds the empty slots scanned per row written, so a
	// table whose rows are rare cannot spin for ever. Zero means no bound.
	MaxSlotsPerRow int64
	// ChunkBytes is how much is buffered between writes; zero means 32 KiB.
	ChunkBytes int
}

// Stream writes rows of g to w in opts.Format, chunk by chunk, checking ctx
// between chunks, and returns how many rows it wrote. Each chunk is one
// w.Write call, so a writer that flushes on Write streams.
func Stream(ctx context.Context, w io.Writer, g *Generator, opts StreamOptions) (int64, error) {
	chunk := opts.ChunkBytes
	if chunk <= 0 {
		chunk = 32 << 10
	}
	bundle := opts.Bundle
	if bundle == "" {
		bundle = "collection"
	}
	buf := make([]byte, 0, chunk+4096)
	switch opts.Format {
	case "csv":
		buf = g.AppendCSVHeader(buf)
	case "fhir":
		buf = append(buf, `{"resourceType":"Bundle","type":"`...)
		buf = append(buf, bundle...)
		buf = append(buf, `","entry":[`...)
	case "ndjson":
	default:
		return 0, fmt.Errorf("format %q: use csv, ndjson or fhir", opts.Format)
	}
	limit := int64(-1)
	if opts.MaxSlotsPerRow > 0 {
		limit = opts.Rows*opts.MaxSlotsPerRow + 1<<20
	}
	var n int64
	for s := int64(0); n < opts.Rows && (limit < 0 || s < limit); s++ {
		if !g.Gen(s) {
			continue
		}
		buf = appendRecord(buf, g, opts.Format, bundle, n)
		n++
		if len(buf) >= chunk {
			if _, err := w.Write(buf); err != nil {
				return n, err
			}
			if err := ctx.Err(); err != nil {
				return n, err
			}
			buf = buf[:0]
		}
	}
	if opts.Format == "fhir" {
		buf = append(buf, "]}\n"...)
	}
	_, err := w.Write(buf)
	return n, err
}

// appendRecord appends record i (counting from 0) in format.
func appendRecord(buf []byte, g *Generator, format, bundle string, i int64) []byte {
	switch format {
	case "csv":
		return g.AppendCSV(buf)
	case "fhir":
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n"+`{"resource":`...)
		buf = g.AppendFHIR(buf)
		if bundle == "searchset" {
			buf = append(buf, `,"search":{"mode":"match"}`...)
		}
		return append(buf, '}')
	}
	return append(g.AppendJSON(buf), '\n')
}
