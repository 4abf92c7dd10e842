package fetch

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Splitting JSON that is already known to be valid.
//
// A page is validated once (json.Valid), then cut into its members, its items and their fields as
// slices of the body: no byte is copied and none is validated again. encoding/json cannot do that:
// decoding into map[string]json.RawMessage validates the whole input first, then copies every
// member, so a page went through its validator once per level (page, item, string field), about
// seven passes in all. The scanner below is only correct on valid JSON: every caller passes part of a
// body that json.Valid accepted. Keys and strings with escapes, or with bytes outside ASCII that may
// be invalid UTF-8, go to encoding/json, so that they decode exactly as it decodes them.

// objectFields returns the members of the JSON object v (valid JSON) as slices of v, the last of
// duplicate names winning as with encoding/json; ok is false when v is not an object.
func objectFields(v []byte) (f map[string]json.RawMessage, ok bool) {
	i := skipSpace(v, 0)
	if i == len(v) || v[i] != '{' {
		return nil, false
	}
	f = make(map[string]json.RawMessage, 12)
	for i = skipSpace(v, i+1); v[i] != '}'; {
		end := skipString(v, i)
		name := jsonString(v[i:end])
		i = skipSpace(v, end)
		i = skipSpace(v, i+1) // ':'
		end = skipValue(v, i)
		f[name] = json.RawMessage(v[i:end:end])
		i = skipSpace(v, end)
		if v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return f, true
}

// arrayItems returns the elements of the JSON array v (valid JSON) as slices of v; ok is false when
// v is not an array.
func arrayItems(v []byte) (items []json.RawMessage, ok bool) {
	i := skipSpace(v, 0)
	if i == len(v) || v[i] != '[' {
		return nil, false
	}
	for i = skipSpace(v, i+1); v[i] != ']'; {
		end := skipValue(v, i)
		items = append(items, json.RawMessage(v[i:end:end]))
		i = skipSpace(v, end)
		if v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return items, true
}

// jsonString decodes the JSON string token s (valid JSON, quotes included).
func jsonString(s []byte) string {
	inner := s[1 : len(s)-1]
	if bytes.IndexByte(inner, '\\') < 0 && (isASCII(inner) || utf8.Valid(inner)) {
		return string(inner)
	}
	var out string
	_ = json.Unmarshal(s, &out) // valid: cannot fail; escapes and invalid UTF-8 as encoding/json reads them
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func skipSpace(v []byte, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string token that starts at v[i] (a quote).
func skipString(v []byte, i int) int {
	for i++; ; i++ {
		switch v[i] {
		case '\\':
			i++ // the escaped byte (the rest of a \uXXXX escape is plain hex)
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the index just past the value that starts at v[i].
func skipValue(v []byte, i int) int {
	switch v[i] {
	case '"':
		return skipString(v, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch v[i] {
			case '"':
				i = skipString(v, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	default: // a number, true, false or null: up to the next delimiter
		for i < len(v) {
			switch v[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
			i++
		}
		return i
	}
}
