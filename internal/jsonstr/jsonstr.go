// Package jsonstr appends JSON string literals without reflection, for the
// hot paths that write JSON by hand (the audit log, the HTTP data proxy).
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append appends s as a quoted JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json decodes it. With html set it also escapes <, >, &, U+2028
// and U+2029 (safe inside HTML and JavaScript) and writes U+FFFD escaped;
// without it U+FFFD is written as the character, so that decoding and
// re-encoding gives the same bytes (the audit log's canonical form).
func Append(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || (html && (c == '<' || c == '>' || c == '&')):
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1 && html:
			b = append(b, `\ufffd`...)
		case r == utf8.RuneError && n == 1:
			b = append(b, "\uFFFD"...)
		case html && (r == '\u2028' || r == '\u2029'):
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
