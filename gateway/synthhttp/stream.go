package synthhttp

import (
	"net/http"

	"github.com/sandgate/sandgate/synth"
)

// flushAt is how many buffered bytes trigger a write and flush.
const flushAt = 32 << 10

// maxSlotsPerRow bounds the empty slots scanned per row served, so a table
// whose rows are rare cannot spin forever.
const maxSlotsPerRow = 1000

var contentTypes = map[string]string{
	"ndjson": "application/x-ndjson",
	"csv":    "text/csv; charset=utf-8",
	"fhir":   "application/fhir+json",
}

// stream writes the rows and returns how many it wrote.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, req request) (int64, error) {
	w.Header().Set("Content-Type", contentTypes[req.format])
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fw := flushWriter{w: w, rc: http.NewResponseController(w)}
	return synth.Stream(r.Context(), fw, req.gen, synth.StreamOptions{Rows: req.rows, Format: req.format,
		Bundle: req.bundle, MaxSlotsPerRow: maxSlotsPerRow, ChunkBytes: flushAt})
}

// flushWriter flushes the response after every write, so each chunk
// reaches the client as it is made.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err != nil {
		return n, err
	}
	if err := f.rc.Flush(); err != nil && err != http.ErrNotSupported {
		return n, err
	}
	return n, nil
}
