package simulator

import (
	"math/rand/v2"
	"testing"
)

// appendString writes what encoding/json writes with SetEscapeHTML(false), for every kind of
// character: the escapes with a short form, other control characters, quotes and backslashes, HTML
// characters (left alone), U+2028 and U+2029, invalid UTF-8 and multi-byte runes, and random bytes.
func TestAppendStringAsEncodingJSON(t *testing.T) {
	cases := []string{
		"", "plain", `q"uote`, `back\slash`, "\b\f\n\r\t", "\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>",
		"\u2028\u2029", "\xff\xfe", "caf\u00e9 \u4e2d\u6587 \U0001F600", "\xe2\x80", "end\\",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s, got[1:], want)
		}
	}
}
