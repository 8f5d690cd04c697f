package telemetry

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Unparsable stands in for a statement that the PostgreSQL scanner
// rejects: such a statement is recorded as this and nothing else.
const Unparsable = "/* unparsable statement */"

// NormaliseSQL returns sql with every literal replaced by a $n (by
// pg_query's Normalize) or ? placeholder (literals that Normalize leaves,
// as in PREPARE or DDL) and every comment removed. A statement the scanner
// rejects becomes [Unparsable]. It costs tens of microseconds: fine for a
// span, not for a per-row path.
func NormaliseSQL(sql string) string {
	n, err := pg_query.Normalize(sql)
	if err != nil {
		return Unparsable
	}
	out, err := scrub(n)
	if err != nil {
		return Unparsable
	}
	return out
}

// scrub rebuilds s from its tokens, dropping comments and replacing any
// literal left with ?. Text between tokens is whitespace.
func scrub(s string) (string, error) {
	res, err := pg_query.Scan(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(s))
	pos := 0
	for _, t := range res.Tokens {
		start, end := int(t.Start), int(t.End)
		if start < pos || end > len(s) || start > end {
			return "", errBadToken
		}
		b.WriteString(s[pos:start])
		switch t.Token {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			b.WriteByte(' ')
		case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_BCONST,
			pg_query.Token_XCONST, pg_query.Token_ICONST, pg_query.Token_FCONST:
			b.WriteByte('?')
		default:
			b.WriteString(s[start:end])
		}
		pos = end
	}
	b.WriteString(s[pos:])
	return strings.Join(strings.Fields(b.String()), " "), nil
}

type scanError string

func (e scanError) Error() string { return string(e) }

const errBadToken = scanError("scanner returned a token outside the statement")
