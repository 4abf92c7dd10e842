package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A malformed project id is refused before any request; a source added by
// mistake can be removed, after confirmation, without touching the others.
func TestForgetSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 120, "aksk")
	h.env["INDEXER_RATE_LIMIT"] = "0"
	h.mustRun("migrate", "up")

	h.env["HUAWEICLOUD_SDK_PROJECT_ID"] = "abc/../x"
	h.sim.ResetStats()
	if code, _, errOut := h.run("sync"); code != exitUsage || !strings.Contains(errOut, `HUAWEICLOUD_SDK_PROJECT_ID="abc/../x" is not a project id`) {
		t.Errorf("sync with project id abc/../x: exit %d, stderr %s; want 2 and the variable named", code, errOut)
	}
	if n := len(h.sim.Stats().Requests); n != 0 {
		t.Errorf("a malformed project id sent %d requests", n)
	}
	h.env["HUAWEICLOUD_SDK_PROJECT_ID"] = "0123456789abcdef0123456789abcdef"

	h.mustRun("sync")
	h.env["INDEXER_SOURCE"] = "typo"
	h.mustRun("sync")
	c := h.conn()
	count := func(source string) (n int64) {
		t.Helper()
		if err := c.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM modelarts.visualization_jobs WHERE source = $1)
			+ (SELECT count(*) FROM modelarts.visualization_job_history WHERE source = $1)
			+ (SELECT count(*) FROM modelarts.sync_runs WHERE source = $1)
			+ (SELECT count(*) FROM modelarts.deletion_candidates WHERE source = $1)`, source).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := c.Exec(context.Background(), `INSERT INTO modelarts.deletion_candidates (source, job_id, first_missed_at, first_missed_run_id)
		SELECT 'typo', job_id, now(), 1 FROM modelarts.visualization_jobs WHERE source = 'typo' LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	keep := count("sim")

	forget := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := env{stdout: &out, stderr: &errb, getenv: func(k string) string { return h.env[k] }, stdin: strings.NewReader(stdin), cmd: "forget-source"}
		return runForgetSource(context.Background(), e, args), out.String(), errb.String()
	}
	if code, _, errOut := forget("", "typo"); code != exitFailed || !strings.Contains(errOut, "add --yes") || count("typo") == 0 {
		t.Errorf("no answer: exit %d, stderr %s; want 1, a hint and nothing deleted", code, errOut)
	}
	if code, _, _ := forget("sim\n", "typo"); code != exitFailed || count("typo") == 0 {
		t.Errorf("wrong name typed: exit %d; want 1 and nothing deleted", code)
	}
	if code, out, errOut := forget("typo\n", "typo"); code != exitOK || !strings.Contains(out, `deleted source "typo": 120 jobs, 120 history versions, 1 runs, 0 bad items, 1 deletion candidates`) {
		t.Errorf("confirmed: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if n := count("typo"); n != 0 {
		t.Errorf("%d rows of the forgotten source left", n)
	}
	if n := count("sim"); n != keep {
		t.Errorf("the other source went from %d rows to %d", keep, n)
	}
	if code, _, errOut := forget("", "typo", "--yes"); code != exitFailed || !strings.Contains(errOut, "the sources are: sim") {
		t.Errorf("unknown source: exit %d, stderr %s", code, errOut)
	}
	if code, out, _ := forget("", "--yes", "sim"); code != exitOK || !strings.Contains(out, `deleted source "sim"`) || count("sim") != 0 {
		t.Errorf("--yes: exit %d, stdout %s", code, out)
	}
}
