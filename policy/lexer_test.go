package policy

import (
	"strings"
	"testing"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// The analysis cache is keyed on Normalise: two texts with one key must be
// one statement to PostgreSQL, literals aside. So Normalise must split a
// text into tokens exactly as PostgreSQL's own scanner does: where a string,
// comment or number ends decides what the server runs. This rebuilds the
// key from pg_query's scanner tokens and compares.
func scannerKey(sql string) (string, bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	prevEnd := 0
	for _, tok := range res.Tokens {
		start, end := int(tok.Start), int(tok.End)
		switch tok.Token {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			continue
		}
		if start > prevEnd && b.Len() > 0 {
			b.WriteByte(' ') // white space or a comment between tokens
		}
		switch tok.Token {
		case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_ICONST, pg_query.Token_FCONST,
			pg_query.Token_BCONST, pg_query.Token_XCONST:
			b.WriteByte(0)
		default:
			b.WriteString(sql[start:end])
		}
		prevEnd = end
	}
	return b.String(), true
}

func checkKeyMatchesScanner(t *testing.T, sql string) {
	if strings.IndexByte(sql, 0) >= 0 || !utf8.ValidString(sql) {
		return
	}
	// The scanner joins 'a' 'b' across a newline into one string (SQL's
	// continuation), which Normalise keeps as two placeholders; and a
	// string or comment left open is an error to one and marked by the
	// other.
	want, ok := scannerKey(sql)
	if !ok {
		return
	}
	got := string(Normalise(nil, sql))
	if got != want && !strings.Contains(got, "\x00 \x00") {
		t.Fatalf("%q: cache key %q, PostgreSQL's scanner gives %q", sql, got, want)
	}
}

func TestCacheKeyMatchesScanner(t *testing.T) {
	for _, sql := range append(jsonCorpus,
		"select 1 --x\rfrom t", "select 1 /* a /* b */ c */ from t", "select $a$ x $a$, $1, e'\\'', u&'x' uescape '!'",
		"select .5, 1.e3, 0x1f, 0o17, 0b101, 1_000, t.x, a::int, x'ff', b'01', n'x'",
		"select \"a\"\"b\", ab$c from t where x <> -1 and y~*'z'") {
		checkKeyMatchesScanner(t, sql)
	}
}

func FuzzCacheKeyMatchesScanner(f *testing.F) {
	for _, sql := range jsonCorpus {
		f.Add(sql)
	}
	f.Add("select 1 --x\rfrom t")
	f.Add("select.0B00000")
	f.Fuzz(checkKeyMatchesScanner)
}
