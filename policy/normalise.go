package policy

import "strings"

// Normalise returns sql with literals replaced by a NUL byte, comments
// removed and runs of white space folded to one space, appended to dst.
//
// Two statements with the same normalised form differ only in the values of
// their literals, so they name the same relations, functions and columns and
// get the same decision: the form keys the analysis cache, which keeps the
// PostgreSQL parser off the hot path when every simple-protocol statement
// carries different literals. NUL cannot occur in SQL text (PostgreSQL
// rejects it), so a placeholder never collides with the statement's own text.
// Identifiers, quoted identifiers, keywords, operators and $n parameters are
// kept exactly; keyword case is kept too (a cache key, not a canonical form).
func Normalise(dst []byte, sql string) []byte {
	return normalise(dst, sql, nil, nil)
}

// literalSpans returns the byte ranges of sql's literals, in order: the
// same literals Normalise replaces.
func literalSpans(sql string) [][2]int {
	var spans [][2]int
	normalise(nil, sql, &spans, nil)
	return spans
}

// normalisedOffsets returns sql's normalised form and, for each of its
// bytes, the offset in sql it stands for (a literal's placeholder stands for
// the literal's first byte, a folded space for the byte after it).
func normalisedOffsets(sql string) ([]byte, []int) {
	at := make([]int, 0, len(sql))
	return normalise(make([]byte, 0, len(sql)), sql, nil, &at), at
}

// rawOffset maps an offset in sql's normalised form back to sql: the
// inverse of normalisedOffsets for bytes that are kept.
func rawOffset(at []int, norm int) (int, bool) {
	if norm < 0 || norm >= len(at) {
		return 0, false
	}
	return at[norm], true
}

func normalise(dst []byte, sql string, spans *[][2]int, rawAt *[]int) []byte {
	space := false
	// open: a string, quoted name, comment or dollar quote runs unclosed to
	// the end. Such a text cannot parse, so it must not share a cache key
	// with a complete one (whose analysis would then be reused for it).
	open := false
	str := func(end int, closed bool) int {
		open = open || !closed
		return end
	}
	emitAt := func(c byte, at int) {
		if space && len(dst) > 0 {
			dst = append(dst, ' ')
			if rawAt != nil {
				*rawAt = append(*rawAt, at)
			}
		}
		space = false
		dst = append(dst, c)
		if rawAt != nil {
			*rawAt = append(*rawAt, at)
		}
	}
	lit := func(start, end int) {
		if spans != nil {
			*spans = append(*spans, [2]int{start, end})
		}
		emitAt(0, start)
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			space = true
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			// As in PostgreSQL's lexer, a carriage return ends the comment
			// too: what follows it is SQL, and must be in the cache key.
			for i < len(sql) && sql[i] != '\n' && sql[i] != '\r' {
				i++
			}
			space = true
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			var closed bool
			i, closed = skipBlockComment(sql, i)
			open = open || !closed
			space = true
		case c == '\'':
			i = str(skipString(sql, i, false))
			lit(start, i)
		case (c == 'e' || c == 'E') && i+1 < len(sql) && sql[i+1] == '\'':
			i = str(skipString(sql, i+1, true))
			lit(start, i)
		case (c == 'b' || c == 'B' || c == 'x' || c == 'X') && i+1 < len(sql) && sql[i+1] == '\'':
			// B'…' and X'…' have no '' escape: the next quote ends them.
			if j := strings.IndexByte(sql[i+2:], '\''); j >= 0 {
				i += 2 + j + 1
			} else {
				i = str(len(sql), false)
			}
			lit(start, i)
		case (c == 'u' || c == 'U') && i+2 < len(sql) && sql[i+1] == '&' && sql[i+2] == '\'':
			i = str(skipString(sql, i+2, false))
			lit(start, i)
		case c == '"':
			j := str(skipQuotedIdent(sql, i))
			for k := i; k < j; k++ {
				emitAt(sql[k], k)
			}
			i = j
		case isIdentStart(c):
			// A whole name (or keyword) at once: its $ and digits are its
			// own, and a quote after it starts a plain string.
			j := i + 1
			for j < len(sql) && isIdentChar(sql[j]) {
				j++
			}
			for k := i; k < j; k++ {
				emitAt(sql[k], k)
			}
			i = j
		case c == '$' && i+1 < len(sql) && isDigit(sql[i+1]):
			// $n, a parameter: its number is part of the key.
			emitAt(c, i)
			for i++; i < len(sql) && isDigit(sql[i]); i++ {
				emitAt(sql[i], i)
			}
		case c == '$':
			if j, ok, closed := dollarQuote(sql, i); ok {
				open = open || !closed
				i = j
				lit(start, i)
				continue
			}
			emitAt(c, i)
			i++
		case c == '.' && i+1 < len(sql) && sql[i+1] == '.':
			// .. is one token to PostgreSQL's scanner (..5 is not .5)
			emitAt('.', i)
			emitAt('.', i+1)
			i += 2
		case isDigit(c), c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			i = skipNumber(sql, i)
			lit(start, i)
			if i < len(sql) && isIdentStart(sql[i]) {
				// 1abc: "trailing junk" to PostgreSQL 16 and later (and to
				// pg_query), 1 AS abc before. Marked, so it never shares a
				// key with 'x'abc, which parses.
				emitAt(2, i)
			}
		default:
			emitAt(c, i)
			i++
		}
	}
	if open {
		emitAt(1, len(sql))
	}
	return dst
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

// isIdentStart: a character that starts a name, as in PostgreSQL's scanner.
func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80 }

func skipBlockComment(sql string, i int) (int, bool) {
	depth := 0
	for i < len(sql) {
		switch {
		case sql[i] == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth++
			i += 2
		case sql[i] == '*' && i+1 < len(sql) && sql[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i, true
			}
		default:
			i++
		}
	}
	return i, false
}

// skipString skips a quoted string starting at the quote at i, with ”
// doubling and, when backslash is set, backslash escapes. (Adjacent strings
// that the SQL standard joins become adjacent placeholders.)
func skipString(sql string, i int, backslash bool) (int, bool) {
	i++
	for i < len(sql) {
		c := sql[i]
		switch {
		case backslash && c == '\\':
			i += 2
		case c == '\'' && i+1 < len(sql) && sql[i+1] == '\'':
			i += 2
		case c == '\'':
			return i + 1, true
		default:
			i++
		}
	}
	return min(i, len(sql)), false
}

func skipQuotedIdent(sql string, i int) (int, bool) {
	i++
	for i < len(sql) {
		if sql[i] == '"' {
			if i+1 < len(sql) && sql[i+1] == '"' {
				i += 2
				continue
			}
			return i + 1, true
		}
		i++
	}
	return i, false
}

// dollarQuote recognises $tag$…$tag$ at i and returns the index after it
// (len(sql), with closed false, when the closing tag is missing).
func dollarQuote(sql string, i int) (end int, ok, closed bool) {
	j := i + 1
	for j < len(sql) && sql[j] != '$' {
		c := sql[j]
		if !(c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80 || (j > i+1 && isDigit(c))) {
			return 0, false, false
		}
		j++
	}
	if j >= len(sql) {
		return 0, false, false
	}
	tag := sql[i : j+1]
	for k := j + 1; k+len(tag) <= len(sql); k++ {
		if sql[k:k+len(tag)] == tag {
			return k + len(tag), true, true
		}
	}
	return len(sql), true, false
}

func skipNumber(sql string, i int) int {
	if sql[i] == '0' && i+1 < len(sql) && (sql[i+1]|0x20 == 'x' || sql[i+1]|0x20 == 'o' || sql[i+1]|0x20 == 'b') {
		// 0x1F, 0o17, 0b101: only the base's own digits belong to the
		// number, as in PostgreSQL's lexer.
		digit := func(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
		switch sql[i+1] | 0x20 {
		case 'o':
			digit = func(c byte) bool { return c >= '0' && c <= '7' }
		case 'b':
			digit = func(c byte) bool { return c == '0' || c == '1' }
		}
		j := i + 2
		for j < len(sql) && (digit(sql[j]) || sql[j] == '_' && j+1 < len(sql) && digit(sql[j+1])) {
			j++
		}
		if j == i+2 {
			return i + 1 // a lone 0 followed by a name
		}
		return j
	}
	// Digits with single underscores between them (1_000), as PostgreSQL
	// reads them.
	digits := func(i int) int {
		for i < len(sql) && (isDigit(sql[i]) || sql[i] == '_' && i > 0 && isDigit(sql[i-1]) && i+1 < len(sql) && isDigit(sql[i+1])) {
			i++
		}
		return i
	}
	i = digits(i)
	if i < len(sql) && sql[i] == '.' && !(i+1 < len(sql) && sql[i+1] == '.') {
		i = digits(i + 1)
	}
	if i < len(sql) && sql[i]|0x20 == 'e' {
		j := i + 1
		if j < len(sql) && (sql[j] == '+' || sql[j] == '-') {
			j++
		}
		if j < len(sql) && isDigit(sql[j]) {
			i = digits(j)
		}
	}
	return i
}
