package testdb

import (
	"strings"
	"testing"
)

// When no local server answers, the failure names every place tried and why.
func TestFirstLocalSaysWhatItTried(t *testing.T) {
	url, tried := firstLocal([]candidate{
		{"host=127.0.0.1 port=1 user=nobody connect_timeout=2", "127.0.0.1:1 as nobody"},
		{"host=127.0.0.1 port=2 user=nobody connect_timeout=2", "127.0.0.1:2 as nobody"},
	})
	if url != "" || len(tried) != 2 || !strings.HasPrefix(tried[0], "127.0.0.1:1 as nobody: ") || !strings.HasPrefix(tried[1], "127.0.0.1:2 as nobody: ") {
		t.Errorf("got %q, tried %q", url, tried)
	}
}
