package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/testdb"
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

// TestPasswordInDatabaseURLFlagWarns: a password given with --database-url (visible in the process
// list) is warned about, pointing to the _FILE form, and printed nowhere.
func TestPasswordInDatabaseURLFlagWarns(t *testing.T) {
	t.Parallel()
	const pw = "Flag-Pa%ss-5ecret"
	db := withPassword(t, testdb.New(t), strings.ReplaceAll(pw, "%", "%25"))
	var out, errb lockedBuffer
	code := Main(context.Background(), []string{"migrate", "--database-url", db, "up"}, &out, &errb, func(string) string { return "" })
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	text := out.String() + errb.String()
	if !strings.Contains(text, "--database-url carries a password") || !strings.Contains(text, "INDEXER_DATABASE_URL_FILE") {
		t.Errorf("no warning pointing to INDEXER_DATABASE_URL_FILE:\n%s", text)
	}
	if strings.Contains(text, pw) || strings.Contains(text, "ss-5ecret") {
		t.Errorf("the password is printed:\n%s", text)
	}
	// The variable is not in the process list: no warning.
	out, errb = lockedBuffer{}, lockedBuffer{}
	Main(context.Background(), []string{"migrate", "up"}, &out, &errb, func(k string) string {
		return map[string]string{"INDEXER_DATABASE_URL": db}[k]
	})
	if strings.Contains(errb.String(), "carries a password") {
		t.Errorf("warned about a password from the environment:\n%s", errb.String())
	}
}

// TestPasswordWithAtSignNeverPrinted: postgres://user:pa@ss@host is refused with a message that
// prints no part of the password (pgx would read "ss@host" as the host name and print it).
func TestPasswordWithAtSignNeverPrinted(t *testing.T) {
	t.Parallel()
	db := withPassword(t, testdb.New(t), "Pa@ss-5ecret")
	var out, errb lockedBuffer
	code := Main(context.Background(), []string{"migrate", "up"}, &out, &errb, func(k string) string {
		return map[string]string{"INDEXER_DATABASE_URL": db}[k]
	})
	text := out.String() + errb.String()
	if code == exitOK || !strings.Contains(text, "%40") {
		t.Errorf("exit %d, want a failure that says to write @ as %%40:\n%s", code, text)
	}
	if strings.Contains(text, "ss-5ecret") {
		t.Errorf("a part of the password is printed:\n%s", text)
	}
}
