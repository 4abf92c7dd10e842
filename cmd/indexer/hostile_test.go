package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vizjob/indexer/internal/store"
)

// TestHugeErrorMessageCapped: a 400 whose error_msg is 30 MiB of text with ESC, CR and LF in it ends in
// the ledger and in the log lines capped, marked as cut, with the control characters escaped.
func TestHugeErrorMessageCapped(t *testing.T) {
	t.Parallel()
	msg := strings.Repeat(`evil \u001b[2J\r\nline `, 30<<20/22)
	body := `{"error_code":"ModelArts.0104","error_msg":"` + msg + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, 1, "aksk")
	h.env["MODELARTS_ENDPOINT"] = srv.URL
	h.mustRun("migrate", "up")
	code, out, errOut := h.run("sync")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailed, tail(errOut, 2000))
	}
	for i, line := range strings.Split(out+errOut, "\n") {
		if len(line) > 16<<10 {
			t.Errorf("log line %d has %d bytes", i+1, len(line))
		}
	}
	if !strings.Contains(errOut, "[cut: ") {
		t.Errorf("no log line says the message was cut:\n%s", tail(errOut, 3000))
	}
	var ledger string
	must(t, h.conn().QueryRow(context.Background(), `SELECT error FROM modelarts.sync_runs ORDER BY id DESC LIMIT 1`).Scan(&ledger))
	if len(ledger) > store.MaxErrorText+64 {
		t.Errorf("sync_runs.error holds %d bytes", len(ledger))
	}
	if strings.ContainsAny(ledger, "\x1b\r\n") {
		t.Errorf("sync_runs.error holds raw control characters: %q", ledger[:200])
	}
	if !strings.Contains(ledger, `\x1b[2J\r\n`) || !strings.Contains(ledger, "ModelArts.0104") {
		t.Errorf("sync_runs.error does not keep the escaped message: %q", ledger[:300])
	}
}
