package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A mistake names what the user typed (the flag, or the variable when the
// value came from the environment), in one line and a hint, never the usage;
// and the same bounds hold whichever way a value came.
func TestErrorsNameTheFlagInOneLine(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"HUAWEICLOUD_SDK_PROJECT_ID": "0123456789abcdef0123456789abcdef", "MODELARTS_ENDPOINT": "http://127.0.0.1:1",
		"HUAWEICLOUD_SDK_AK": "a", "HUAWEICLOUD_SDK_SK": "b",
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // the first line of stderr
	}{
		{args: []string{"sync", "--per-page", "500"}, want: "indexer sync: source 0123456789abcdef0123456789abcdef: --per-page must be between 1 and 100 (INDEXER_MAX_PER_PAGE), got 500"},
		{args: []string{"sync", "--per-page", "0"}, want: "--per-page must be between 1 and 100 (INDEXER_MAX_PER_PAGE), got 0"},
		{args: []string{"sync", "--per-page", "-5"}, want: "--per-page must be between 1 and 100 (INDEXER_MAX_PER_PAGE), got -5"},
		{args: []string{"sync"}, env: map[string]string{"INDEXER_PER_PAGE": "0"}, want: "INDEXER_PER_PAGE must be between 1 and 100 (INDEXER_MAX_PER_PAGE), got 0"},
		{args: []string{"sync", "--per-page", "50", "--max-per-page", "20"}, want: "--per-page must be between 1 and 20 (--max-per-page), got 50"},
		{args: []string{"run", "--timezone", "Mars/Olympus"}, want: `indexer run: --timezone "Mars/Olympus" is not a time zone`},
		{args: []string{"run"}, env: map[string]string{"INDEXER_TIMEZONE": "Mars/Olympus"}, want: `indexer run: INDEXER_TIMEZONE="Mars/Olympus" is not a time zone`},
		{args: []string{"sync", "--request-timeout", "5"}, want: `indexer sync: --request-timeout "5": not a duration (examples: 30s, 5m, 1h30m; a unit is required)`},
		{args: []string{"sync", "--request-timeout", "0s"}, want: "indexer sync: --request-timeout must be positive, got 0s"},
		{args: []string{"sync", "--max-walks", "0"}, want: "indexer sync: --max-walks must be at least 1, got 0"},
		{args: []string{"sync", "--rate-limit", "fast"}, want: `indexer sync: --rate-limit "fast": not a number`},
		{args: []string{"run", "--schedule", "every day"}, want: `indexer run: source 0123456789abcdef0123456789abcdef: --schedule "every day": `},
		{args: []string{"sync", "--nope"}, want: "indexer sync: unknown flag --nope"},
		{args: []string{"migrate", "--log-level", "loud", "status"}, want: `indexer migrate: --log-level "loud": use debug, info, warn or error`},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tc.env {
			env[k] = v
		}
		var out, errb bytes.Buffer
		code := Main(context.Background(), tc.args, &out, &errb, func(k string) string { return env[k] })
		lines := strings.Split(strings.TrimRight(errb.String(), "\n"), "\n")
		if code != exitUsage || len(lines) != 2 || !strings.Contains(lines[0], tc.want) || !strings.HasPrefix(lines[1], "hint: ") {
			t.Errorf("indexer %s (env %v): exit %d, stderr:\n%s\nwant exit 2, one line containing %q and a hint",
				strings.Join(tc.args, " "), tc.env, code, errb.String(), tc.want)
		}
	}
}
