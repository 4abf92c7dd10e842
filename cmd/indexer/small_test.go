package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Small things a first hour runs into: --version works, a command without
// flags shows no empty Flags section, help texts say what their flag does,
// and JSON logs show durations people can read.
func TestSmallThings(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, &out, &errb, func(string) string { return "" })
		return code, out.String(), errb.String()
	}
	if code, out, _ := run("--version"); code != exitOK || !strings.HasPrefix(out, "indexer ") {
		t.Errorf("indexer --version: exit %d, %q", code, out)
	}
	if _, out, _ := run("version", "--help"); strings.Contains(out, "Flags:") {
		t.Errorf("version --help shows an empty Flags section:\n%s", out)
	}
	if _, out, _ := run("simulate", "--help"); strings.Contains(between(out, "-latency", "-log-format"), "mutate") {
		t.Errorf("simulate --latency help speaks of /_sim/mutate:\n%s", between(out, "-latency", "-log-format"))
	}
	if _, out, _ := run("demo", "--help"); strings.Count(between(out, "-sim-addr", "-source"), "default") != 1 {
		t.Errorf("demo --sim-addr help says its default twice:\n%s", between(out, "-sim-addr", "-source"))
	}
	var logs bytes.Buffer
	newLogger(&logs, "info", "json").Info("x", "shutdown_grace", 30*time.Second, "d", slog.DurationValue(1500*time.Millisecond))
	if !strings.Contains(logs.String(), `"shutdown_grace":"30s"`) || !strings.Contains(logs.String(), `"d":"1.5s"`) {
		t.Errorf("JSON log of durations: %s", logs.String())
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s[1:], to); j >= 0 {
		return s[:j+1]
	}
	return s
}
