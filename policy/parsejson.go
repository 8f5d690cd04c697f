package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// parse parses sql with PostgreSQL's parser. pg_query hands the tree over
// as JSON or as protobuf; its C protobuf encoder costs four times what its
// parser does (about 100 µs against 25 µs for a 20-line query), so the tree
// is read from the JSON by a decoder generated from pg_query's message types
// (json_gen.go). Should that decoder meet anything it does not know, the
// statement is parsed again through protobuf: the tree is the same either
// way (TestJSONMatchesProtobuf, FuzzJSONMatchesProtobuf).
func parse(sql string) (*pg_query.ParseResult, error) {
	js, err := pg_query.ParseToJSON(sql)
	if err != nil {
		return nil, err
	}
	tree, err := decodeParseJSON(js)
	if err != nil {
		return pg_query.Parse(sql)
	}
	return tree, nil
}

func decodeParseJSON(js string) (*pg_query.ParseResult, error) {
	d := jsonDec{s: js}
	tree := &pg_query.ParseResult{}
	d.m_ParseResult(tree)
	d.ws()
	if d.err == nil && d.i != len(d.s) {
		d.fail("trailing data")
	}
	if d.err != nil {
		return nil, d.err
	}
	return tree, nil
}

// jsonDec reads pg_query's JSON. The first problem stops it: every read
// after that returns a zero value, and err says what and where.
type jsonDec struct {
	s   string
	i   int
	err error
}

func (d *jsonDec) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("pg_query JSON at byte %d: %s", d.i, msg)
	}
	d.i = len(d.s)
}

func (d *jsonDec) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\n', '\t', '\r':
			d.i++
		default:
			return
		}
	}
}

// null consumes a JSON null, which stands for a field's zero value.
func (d *jsonDec) null() bool {
	d.ws()
	if len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "null" {
		d.i += 4
		return true
	}
	return false
}

func (d *jsonDec) open(c byte) bool {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	d.fail("want " + string(c))
	return false
}

// more reports whether another member or element follows before end,
// consuming the comma before it, or the end itself.
func (d *jsonDec) more(end byte, first *bool) bool {
	d.ws()
	if d.i >= len(d.s) {
		d.fail("unexpected end")
		return false
	}
	if d.s[d.i] == end {
		d.i++
		return false
	}
	if !*first {
		if d.s[d.i] != ',' {
			d.fail("want ,")
			return false
		}
		d.i++
	}
	*first = false
	return true
}

func (d *jsonDec) key() string {
	k := d.rawStr()
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == ':' {
		d.i++
	} else {
		d.fail("want :")
	}
	return k
}

// str reads a string value into its own memory: analyses are cached, and a
// substring would keep the whole JSON text alive with them.
func (d *jsonDec) str() string {
	d.ws()
	start := d.i
	v := d.rawStr()
	if d.i-start-2 == len(v) {
		return strings.Clone(v) // not unescaped, so a substring of d.s
	}
	return v
}

// rawStr reads a string, as a substring of d.s where it has no escapes.
func (d *jsonDec) rawStr() string {
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		d.fail("want a string")
		return ""
	}
	start := d.i
	d.i++
	escaped := false
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case '"':
			d.i++
			if !escaped {
				return d.s[start+1 : d.i-1]
			}
			var v string
			if err := json.Unmarshal([]byte(d.s[start:d.i]), &v); err != nil {
				d.fail("bad string: " + err.Error())
			}
			return v
		case '\\':
			escaped = true
			d.i += 2
		default:
			d.i++
		}
	}
	d.fail("unterminated string")
	return ""
}

// number returns the text of a number, bare or (as protobuf's JSON writes
// 64-bit integers) quoted.
func (d *jsonDec) number() string {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '"' {
		return d.str()
	}
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			break
		}
		d.i++
	}
	if d.i == start {
		d.fail("want a number")
	}
	return d.s[start:d.i]
}

func (d *jsonDec) int64() int64 {
	if d.null() {
		return 0
	}
	v, err := strconv.ParseInt(d.number(), 10, 64)
	if err != nil {
		d.fail("bad integer")
	}
	return v
}

func (d *jsonDec) uint64() uint64 {
	if d.null() {
		return 0
	}
	v, err := strconv.ParseUint(d.number(), 10, 64)
	if err != nil {
		d.fail("bad unsigned integer")
	}
	return v
}

func (d *jsonDec) int32() int32 {
	v := d.int64()
	if v != int64(int32(v)) {
		d.fail("integer out of range")
	}
	return int32(v)
}

func (d *jsonDec) uint32() uint32 {
	v := d.uint64()
	if v != uint64(uint32(v)) {
		d.fail("integer out of range")
	}
	return uint32(v)
}

func (d *jsonDec) float64() float64 {
	if d.null() {
		return 0
	}
	v, err := strconv.ParseFloat(d.number(), 64)
	if err != nil {
		d.fail("bad number")
	}
	return v
}

func (d *jsonDec) bool() bool {
	d.ws()
	switch {
	case len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true":
		d.i += 4
		return true
	case len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false":
		d.i += 5
	case d.null():
	default:
		d.fail("want true or false")
	}
	return false
}

func (d *jsonDec) string() string {
	if d.null() {
		return ""
	}
	return d.str()
}

// enum reads an enum value by name (or number).
func (d *jsonDec) enum(values map[string]int32) int32 {
	if d.null() {
		return 0
	}
	d.ws()
	if d.i < len(d.s) && d.s[d.i] != '"' {
		return d.int32()
	}
	name := d.rawStr()
	v, ok := values[name]
	if !ok {
		d.fail("unknown enum value " + strconv.Quote(name))
	}
	return v
}
