// Package dsn finds the password in a PostgreSQL connection string, URL or keyword/value form, by
// parsing it as libpq and pgx do, so that the string can be shown with the password masked. Where
// the string is ambiguous it masks more rather than less.
package dsn

import (
	"net/url"
	"strings"
)

// Mask replaces a password in messages.
const Mask = "xxxxx"

// Redact returns s with its password masked: the password of a URL's user information
// (postgres://user:secret@host, with or without escaping, several hosts, '@' or '/' in the
// password), a password= query parameter, and the password keyword of the keyword/value form
// (quoted or not, with backslash escapes). A keyword/value string that does not parse is not
// shown at all.
func Redact(s string) string {
	out, _ := parse(s)
	return out
}

// Password returns the password s carries, as written in s (possibly escaped), and every other
// spelling of it worth masking in a message (unescaped); nil if s carries none.
func Password(s string) []string {
	_, pw := parse(s)
	var all []string
	for _, p := range pw {
		if p == "" {
			continue
		}
		all = append(all, p)
		if u, err := url.PathUnescape(p); err == nil && u != p && u != "" {
			all = append(all, u)
		}
	}
	return all
}

func parse(s string) (string, []string) {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return parseURL(s[:len(scheme)], s[len(scheme):])
		}
	}
	return parseKeywords(s)
}

// parseURL masks the user information's password: everything from the first ':' to the last '@'
// (pgx reads the user information up to the last '@' of the authority; a password holding '/'
// does not parse at all, and is masked all the same), then the password query parameters.
func parseURL(scheme, rest string) (string, []string) {
	var pw []string
	query := ""
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		if colon := strings.IndexByte(userinfo, ':'); colon >= 0 {
			pw = append(pw, userinfo[colon+1:])
			rest = userinfo[:colon] + ":" + Mask + rest[at:]
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest, query = rest[:q], rest[q+1:]
		params := strings.Split(query, "&")
		for i, p := range params {
			k, v, _ := strings.Cut(p, "=")
			if key, err := url.QueryUnescape(k); err == nil && key == "password" || k == "password" {
				pw = append(pw, v)
				if uv, err := url.QueryUnescape(v); err == nil {
					pw = append(pw, uv)
				}
				params[i] = k + "=" + Mask
			}
		}
		return scheme + rest + "?" + strings.Join(params, "&"), pw
	}
	return scheme + rest, pw
}

// parseKeywords reads key = value pairs as libpq does: values are single-quoted (with \' and \\)
// or run to the next space (with backslash escapes).
func parseKeywords(s string) (string, []string) {
	var (
		b  strings.Builder
		pw []string
	)
	i := 0
	for {
		start := i
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		b.WriteString(s[start:i])
		if i == len(s) {
			return b.String(), pw
		}
		keyStart := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[keyStart:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' || key == "" {
			return "(a connection string that does not parse; not shown)", pw
		}
		i++ // =
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		b.WriteString(s[keyStart:i])
		valStart := i
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				if key == "password" {
					pw = append(pw, s[valStart+1:])
				}
				return "(a connection string that does not parse; not shown)", pw
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				val.WriteByte(s[i])
				i++
			}
		}
		if key == "password" {
			pw = append(pw, val.String(), s[valStart:i])
			b.WriteString(Mask)
		} else {
			b.WriteString(s[valStart:i])
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// AmbiguousUserinfo says whether s is a URL whose authority holds more than one '@'
// (postgres://user:pa@ss@host): drivers disagree on where such a password ends (libpq and pgx at the
// first '@', making the rest of the password the host name, which then appears in messages).
func AmbiguousUserinfo(s string) bool {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			rest := s[len(scheme):]
			if end := strings.IndexAny(rest, "/?"); end >= 0 {
				rest = rest[:end]
			}
			return strings.Count(rest, "@") > 1
		}
	}
	return false
}

// RedactError returns err with every spelling of each password (raw, URL-escaped, as URL user
// information) masked in its text; errors.Is and errors.As still see err. An error with nothing to
// mask is returned as it is.
func RedactError(err error, passwords ...string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	masked := text
	for _, p := range passwords {
		if p == "" {
			continue
		}
		userinfo := strings.TrimPrefix(url.UserPassword("", p).String(), ":")
		for _, s := range []string{p, userinfo, url.QueryEscape(p), url.PathEscape(p)} {
			masked = strings.ReplaceAll(masked, s, Mask)
		}
	}
	if masked == text {
		return err
	}
	return &redactedError{text: masked, err: err}
}

// redactedError carries err for errors.Is/As but prints a text with the password masked.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// ParseErrorText says why connString did not parse, with the string itself and its password masked:
// a driver's own masking is best effort for a string that does not parse, so the password is found
// by parsing the string as libpq does and every spelling of it is masked.
func ParseErrorText(err error, connString string) string {
	text := err.Error()
	if connString != "" {
		text = strings.ReplaceAll(text, connString, "<url>")
	}
	for _, p := range Password(connString) {
		text = strings.ReplaceAll(text, p, Mask)
	}
	return text
}
