package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
)

// A sync none of whose walks can be verified exits 3 and records partial.
func TestSyncPartialExitsThree(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 250, "aksk")
	h.mustRun("migrate", "up")
	h.mustRun("sync")
	// After page 1 of every walk, delete its first job: every later job
	// shifts left and one is skipped at the page boundary.
	h.sim.OnList(func(c simulator.ListCall) {
		if c.Page == 1 && !c.Desc {
			jobs := h.sim.Jobs()
			first := slices.MinFunc(jobs, func(a, b fetch.Job) int { return fetch.KeyOf(a).Compare(fetch.KeyOf(b)) })
			h.sim.DeleteJob(first.ID)
		}
	})
	// One page at a time: pages fetched ahead of page 1 would be read before the deletion shifts them.
	code, _, errOut := h.run("sync", "--max-walks", "2", "--page-concurrency", "1")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d\n%s", code, exitPartial, errOut)
	}
	c := h.conn()
	r := lastRun(t, c)
	// Partial, yet the job deleted during the first walk is confirmed gone by the detail call and
	// marked; the one deleted during the last walk waits for the next run.
	if r.State != "partial" || r.Deleted != 1 || !strings.Contains(r.Error, "no walk of 2 could be verified complete") {
		t.Fatalf("run recorded %+v", r)
	}
	h.sim.OnList(nil)
	h.mustRun("sync")
	if r := lastRun(t, c); r.State != "succeeded" || r.Deleted != 1 {
		t.Fatalf("clean run recorded %+v", r)
	}
	assertMirror(t, c, "sim", h.sim.Jobs())
}

func TestSyncMassDeletionGuard(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 100, "token")
	h.mustRun("migrate", "up")
	h.mustRun("sync")
	for _, j := range h.sim.Jobs()[:60] {
		h.sim.DeleteJob(j.ID)
	}
	code, _, errOut := h.run("sync")
	if code != exitFailed || !strings.Contains(errOut, "mass deletion refused") {
		t.Fatalf("exit %d, want %d with the refusal logged\n%s", code, exitFailed, errOut)
	}
	c := h.conn()
	r := lastRun(t, c)
	if r.State != "failed" || r.Deleted != 0 || !strings.Contains(r.Error, "60 of 100 live jobs") || !strings.Contains(r.Error, "--allow-mass-delete") {
		t.Fatalf("refused run recorded %+v", r)
	}
	var live int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_jobs WHERE deleted_at IS NULL`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 100 {
		t.Fatalf("%d live jobs after the refusal, want 100", live)
	}
	h.mustRun("sync", "--allow-mass-delete")
	if r := lastRun(t, c); r.State != "succeeded" || r.Deleted != 60 {
		t.Fatalf("allowed run recorded %+v", r)
	}
	assertMirror(t, c, "sim", h.sim.Jobs())
	// The flag is for one run: the guard is back for the next.
	for _, j := range h.sim.Jobs()[:30] {
		h.sim.DeleteJob(j.ID)
	}
	if code, _, errOut := h.run("sync"); code != exitFailed {
		t.Fatalf("exit %d after deleting 30 of 40, want %d\n%s", code, exitFailed, errOut)
	}
}

func TestSimulateChurnFlag(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"-1", "x", "NaN", "+Inf"} {
		var out, errb lockedBuffer
		code := Main(context.Background(), []string{"simulate", "--churn", bad}, &out, &errb, func(string) string { return "" })
		if code != exitUsage {
			t.Errorf("--churn %s: exit %d, want %d\n%s", bad, code, exitUsage, errb.String())
		}
	}
}
