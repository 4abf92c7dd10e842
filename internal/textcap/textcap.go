// Package textcap makes text from outside (an API's error message, a Location header) safe to log
// and store: control and Unicode format characters escaped, invalid UTF-8 replaced, and the length
// capped with a mark saying how much was cut.
package textcap

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean returns s with every control character, Unicode format character (category Cf: U+202E
// RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE) and line or paragraph separator (U+2028, U+2029)
// escaped as Go writes it in a string literal (\n, \r, \t, \x1b, \u0085, \u202e), invalid UTF-8
// replaced by U+FFFD, and, when the result would be longer than max bytes, cut at a character
// boundary and marked "... [cut: N bytes in all]". It reads at most about max bytes of s, whatever
// its length. max <= 0 means no cap.
func Clean(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = "\uFFFD"
		case unicode.IsControl(r), unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			piece = escape(r)
		default:
			piece = s[i : i+size]
		}
		if max > 0 && b.Len()+len(piece) > max {
			fmt.Fprintf(&b, "... [cut: %d bytes in all]", len(s))
			return b.String()
		}
		b.WriteString(piece)
		i += size
	}
	return b.String()
}

func escape(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x100 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
