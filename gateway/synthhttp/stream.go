package synthhttp

import (
	"net/http"
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
	rc := http.NewResponseController(w)
	g := req.gen
	buf := make([]byte, 0, flushAt+4096)
	buf = h.prologue(buf, req)
	var n int64
	limit := req.rows*maxSlotsPerRow + 1<<20
	for s := int64(0); n < req.rows && s < limit; s++ {
		if !g.Gen(s) {
			continue
		}
		buf = appendRow(buf, req, n)
		n++
		if len(buf) >= flushAt {
			if err := write(w, rc, buf); err != nil {
				return n, err
			}
			if err := r.Context().Err(); err != nil {
				return n, err
			}
			buf = buf[:0]
		}
	}
	if req.format == "fhir" {
		buf = append(buf, "]}\n"...)
	}
	return n, write(w, rc, buf)
}

func write(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && err != http.ErrNotSupported {
		return err
	}
	return nil
}

func (h *Handler) prologue(buf []byte, req request) []byte {
	switch req.format {
	case "csv":
		return req.gen.AppendCSVHeader(buf)
	case "fhir":
		buf = append(buf, `{"resourceType":"Bundle","type":"`...)
		buf = append(buf, req.bundle...)
		return append(buf, `","entry":[`...)
	}
	return buf
}

func appendRow(buf []byte, req request, i int64) []byte {
	g := req.gen
	switch req.format {
	case "csv":
		return g.AppendCSV(buf)
	case "fhir":
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n"+`{"resource":`...)
		buf = g.AppendFHIR(buf)
		if req.bundle == "searchset" {
			buf = append(buf, `,"search":{"mode":"match"}`...)
		}
		return append(buf, '}')
	}
	return append(g.AppendJSON(buf), '\n')
}
