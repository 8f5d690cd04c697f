package audit

import (
	"encoding/json"
	"fmt"
	"github.com/sandgate/sandgate/internal/jsonstr"
	"strconv"
	"strings"
	"time"
)

// Kind says what a record is about.
type Kind string

// The kinds of record.
const (
	KindSession      Kind = "session"
	KindStatement    Kind = "statement"
	KindEgress       Kind = "egress"
	KindHTTPData     Kind = "http_data"
	KindSynthLoad    Kind = "synth_load"
	KindKeysReveal   Kind = "keys_reveal"
	KindPolicyReload Kind = "policy_reload"
	// KindCheckpoint is written by the log itself: a signature over the
	// chain so far. Append refuses it.
	KindCheckpoint Kind = "checkpoint"
)

// Decision is what policy decided about an access.
type Decision string

// The decisions.
const (
	Allow     Decision = "allow"
	Deny      Decision = "deny"
	Transform Decision = "transform"
)

// Column is one column an access touched and the transform applied to it
// ("allow" when passed through, "deny" when refused).
type Column struct {
	Relation  string `json:"relation"`
	Name      string `json:"name"`
	Transform string `json:"transform"`
}

// Record is one audit record. The zero value of every field but Kind means
// "not recorded" and is left out of the line.
type Record struct {
	// Seq is assigned by the log; Append ignores what the caller set.
	Seq uint64 `json:"seq"`
	// Time is when the access happened; zero means when Append was called.
	Time        time.Time `json:"time"`
	Kind        Kind      `json:"kind"`
	Sandbox     string    `json:"sandbox,omitempty"`
	User        string    `json:"user,omitempty"`
	Decision    Decision  `json:"decision,omitempty"`
	Rules       []string  `json:"rules,omitempty"`
	Relations   []string  `json:"relations,omitempty"`
	Columns     []Column  `json:"columns,omitempty"`
	Rows        int64     `json:"rows,omitempty"`
	Bytes       int64     `json:"bytes,omitempty"`
	Destination string    `json:"destination,omitempty"` // egress host[:port], never a path or query
	TraceID     string    `json:"trace_id,omitempty"`
	ErrorClass  string    `json:"error_class,omitempty"` // e.g. "policy_denied", never a message

	// Checkpoint fields, set by the log only.
	KeyID uint32 `json:"key_id,omitempty"`
	Sig   string `json:"sig,omitempty"`

	// Prev is the hex SHA-256 of the previous record's line, set by the log.
	Prev string `json:"prev"`
}

// genesis is the Prev of the very first record.
var genesis = strings.Repeat("0", 64)

// appendBody appends the fields between seq and prev, each preceded by a
// comma. Its output with appendLine's framing is the canonical form.
func (r *Record) appendBody(b []byte) []byte {
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, "kind", string(r.Kind))
	b = appendField(b, "sandbox", r.Sandbox)
	b = appendField(b, "user", r.User)
	b = appendField(b, "decision", string(r.Decision))
	b = appendList(b, "rules", r.Rules)
	b = appendList(b, "relations", r.Relations)
	if len(r.Columns) > 0 {
		b = append(b, `,"columns":[`...)
		for i, c := range r.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"relation":`...)
			b = appendString(b, c.Relation)
			b = append(b, `,"name":`...)
			b = appendString(b, c.Name)
			b = append(b, `,"transform":`...)
			b = appendString(b, c.Transform)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendInt(b, "rows", r.Rows)
	b = appendInt(b, "bytes", r.Bytes)
	b = appendField(b, "destination", r.Destination)
	b = appendField(b, "trace_id", r.TraceID)
	b = appendField(b, "error_class", r.ErrorClass)
	if r.KeyID != 0 {
		b = append(b, `,"key_id":`...)
		b = strconv.AppendUint(b, uint64(r.KeyID), 10)
	}
	return appendField(b, "sig", r.Sig)
}

// appendLine frames a body: {"seq":N<body>,"prev":"…"}.
func appendLine(b []byte, seq uint64, body, prev []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, body...)
	b = append(b, `,"prev":"`...)
	b = append(b, prev...)
	return append(b, `"}`...)
}

// canonical returns the canonical line of r (without newline).
func (r *Record) canonical() []byte {
	body := r.appendBody(make([]byte, 0, 256))
	return appendLine(make([]byte, 0, len(body)+100), r.Seq, body, []byte(r.Prev))
}

func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendInt(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendList(b []byte, name string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":[`...)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string in the log's canonical form.
func appendString(b []byte, s string) []byte { return jsonstr.Append(b, s, false) }

// parseLine decodes one line strictly.
func parseLine(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("not a record: %w", err)
	}
	return r, nil
}
