package textcap

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{in: "plain", want: "plain"},
		{in: "a\x1b[31mred\r\nnext", want: `a\x1b[31mred\r\nnext`},
		{in: "tab\there\x7f", want: `tab\there\x7f`},
		{in: "bad \xff utf8", want: "bad \uFFFD utf8"},
		{in: "ünïcode ok", want: "ünïcode ok"},
		// Format characters and separators that reorder or break a line on a page or in a log.
		{in: "job\u202egnp.exe", want: `job\u202egnp.exe`},
		{in: "a\u2028b\u2029c\u200bd\ufeff", want: `a\u2028b\u2029c\u200bd\ufeff`},
	} {
		if got := Clean(tc.in, 0); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanCaps(t *testing.T) {
	huge := strings.Repeat("é", 15<<20) // 30 MiB
	got := Clean(huge, 4096)
	if len(got) > 4096+64 {
		t.Fatalf("len %d: not capped", len(got))
	}
	if !strings.HasSuffix(got, "... [cut: 31457280 bytes in all]") {
		t.Fatalf("no cut mark: %q", got[len(got)-60:])
	}
	if !strings.HasPrefix(got, "éé") || strings.Contains(got, "\uFFFD") {
		t.Fatal("cut inside a character")
	}
	if got := Clean("short", 4096); got != "short" {
		t.Fatalf("short text changed: %q", got)
	}
}
