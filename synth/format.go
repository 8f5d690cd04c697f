package synth

// AppendCSVHeader appends the table's column names as a CSV record.
func (g *Generator) AppendCSVHeader(dst []byte) []byte {
	for i := range g.t.Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, g.t.Columns[i].Name...)
	}
	return append(dst, '\n')
}

// AppendCSV appends the current row as an RFC 4180 record.
func (g *Generator) AppendCSV(dst []byte) []byte {
	for i := range g.t.Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		f := g.t.Columns[i].f
		start := len(dst)
		dst = f.text(dst, &g.row)
		if !f.safe && needsQuote(dst[start:]) {
			dst = quoteCSV(dst, start)
		}
	}
	return append(dst, '\n')
}

func needsQuote(b []byte) bool {
	for _, c := range b {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// quoteCSV rewrites dst[start:] as a quoted CSV field.
func quoteCSV(dst []byte, start int) []byte {
	field := append([]byte(nil), dst[start:]...)
	dst = append(dst[:start], '"')
	for _, c := range field {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// AppendJSON appends the current row as one JSON object (no newline).
func (g *Generator) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i := range g.t.Columns {
		c := &g.t.Columns[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, c.Name...)
		dst = append(dst, '"', ':')
		if !c.f.quote {
			dst = c.f.text(dst, &g.row)
			continue
		}
		dst = append(dst, '"')
		start := len(dst)
		dst = c.f.text(dst, &g.row)
		dst = escapeJSON(dst, start)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// escapeJSON escapes dst[start:] in place for a JSON string. Generated text
// is plain ASCII, so the common case only scans.
func escapeJSON(dst []byte, start int) []byte {
	clean := true
	for _, c := range dst[start:] {
		if c < 0x20 || c == '"' || c == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return dst
	}
	s := append([]byte(nil), dst[start:]...)
	dst = dst[:start]
	return AppendJSONString(dst, s)
}

// AppendJSONString appends s escaped for use inside a JSON string (without
// the surrounding quotes).
func AppendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
