// Package synthhttp serves synthetic datasets over HTTP:
//
//	GET /synth/{dataset}/{table}?rows=N&seed=S&format=ndjson|csv|fhir
//
// Rows are generated as the response is written and flushed as they go,
// so memory stays flat whatever the size. The fhir format returns a FHIR R4
// Bundle of Patient, Condition or Observation resources.
//
// It deliberately leaves out authentication, rate limiting and policy:
// whoever mounts the handler decides who may call it. It serves generated
// data only and never touches a database.
package synthhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/sandgate/sandgate/synth"
)

// Config configures the handler. The zero value is usable.
type Config struct {
	// MaxRows bounds the rows parameter. Zero means 10 000.
	MaxRows int64
	// DefaultRows is used when rows is absent. Zero means 100.
	DefaultRows int64
	// Spec resolves a dataset name. Nil means synth.Builtin.
	Spec func(name string) (*synth.Spec, error)
	// Logger receives one line per request. Nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves GET /synth/{dataset}/{table}.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 10000
	}
	if cfg.DefaultRows <= 0 {
		cfg.DefaultRows = min(100, cfg.MaxRows)
	}
	if cfg.Spec == nil {
		cfg.Spec = synth.Builtin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /synth/{dataset}/{table}", h.serveTable)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// request is a validated query.
type request struct {
	gen    *synth.Generator
	rows   int64
	format string
	bundle string
}

// fail writes a plain-text error for a person, with a stable code header.
func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Sandgate-Error", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, format+"\n", args...)
}

func (h *Handler) serveTable(w http.ResponseWriter, r *http.Request) {
	req, status, code, msg := h.parse(r)
	log := h.cfg.Logger.With("component", "synthhttp", "dataset", r.PathValue("dataset"), "table", r.PathValue("table"))
	if status != http.StatusOK {
		log.Info("synth request rejected", "status", status, "reason", code)
		fail(w, status, code, "%s", msg)
		return
	}
	n, err := h.stream(w, r, req)
	log.Info("synth request served", "format", req.format, "rows", n, "err", err)
}

func (h *Handler) parse(r *http.Request) (req request, status int, code, msg string) {
	name, table := r.PathValue("dataset"), r.PathValue("table")
	spec, err := h.cfg.Spec(name)
	if err != nil {
		if errors.Is(err, synth.ErrUnknownSpec) {
			return req, http.StatusNotFound, "unknown-dataset", fmt.Sprintf("There is no dataset called %q. Try one of: %s.", name, strings.Join(synth.Builtins(), ", "))
		}
		return req, http.StatusInternalServerError, "internal", "The dataset could not be loaded."
	}
	t := spec.Table(table)
	if t == nil {
		return req, http.StatusNotFound, "unknown-table", fmt.Sprintf("Dataset %s has no table called %q. Try one of: %s.", name, table, tableNames(spec))
	}
	q := r.URL.Query()
	req.rows = h.cfg.DefaultRows
	if v := q.Get("rows"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > h.cfg.MaxRows {
			return req, http.StatusBadRequest, "bad-rows", fmt.Sprintf("rows must be a whole number from 1 to %d; got %q.", h.cfg.MaxRows, v)
		}
		req.rows = n
	}
	seed := spec.Seed
	if v := q.Get("seed"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return req, http.StatusBadRequest, "bad-seed", fmt.Sprintf("seed must be a whole number from 0 to %d; got %q.", uint64(1<<64-1), v)
		}
		seed = s
	}
	req.gen = spec.NewGenerator(t, seed)
	return h.parseFormat(q.Get("format"), q.Get("bundle"), req)
}

func (h *Handler) parseFormat(format, bundle string, req request) (request, int, string, string) {
	req.format = format
	if format == "" {
		req.format = "ndjson"
	}
	switch req.format {
	case "ndjson", "csv":
	case "fhir":
		if req.gen.FHIRType() == "" {
			return req, http.StatusBadRequest, "bad-format", fmt.Sprintf("Table %s has no FHIR form; fhir serves patient, condition and observation tables. Use format=ndjson or csv.", req.gen.Table().Name)
		}
		req.bundle = bundle
		if bundle == "" {
			req.bundle = "collection"
		}
		if req.bundle != "collection" && req.bundle != "searchset" {
			return req, http.StatusBadRequest, "bad-bundle", fmt.Sprintf("bundle must be collection or searchset; got %q.", bundle)
		}
	default:
		return req, http.StatusBadRequest, "bad-format", fmt.Sprintf("format must be ndjson, csv or fhir; got %q.", format)
	}
	return req, http.StatusOK, "", ""
}

func tableNames(s *synth.Spec) string {
	var names []string
	for _, t := range s.Tables {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}
