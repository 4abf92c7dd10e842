package store

import (
	"reflect"
	"testing"
	"time"
)

func TestCountJobsAndLastSuccesses(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	sources := []string{"a", "b", "never"}

	got, err := s.LastSuccesses(ctx, sources)
	if err != nil || len(got) != 0 {
		t.Fatalf("LastSuccesses on an empty ledger: %v, %v", got, err)
	}

	r := beginRun(t, s, "a", RunOptions{})
	upsert(t, r, t0, job(1, "x", 8, 0), job(2, "y", 8, 0), job(3, "z", 10, 0), job(4, "w", 99, 0))
	finish(t, r, RunStats{State: StateSucceeded})
	// Job 4 is then deleted: deleted jobs are not counted.
	r = beginRun(t, s, "a", RunOptions{})
	upsert(t, r, t0.Add(time.Hour), job(1, "x", 8, 0), job(2, "y", 8, 0), job(3, "z", 10, 0))
	if n, err := r.MarkDeleted(ctx, t0.Add(time.Hour), []int64{4}); err != nil || n != 1 {
		t.Fatalf("MarkDeleted: %d, %v", n, err)
	}
	finish(t, r, RunStats{State: StateSucceeded})
	r = beginRun(t, s, "b", RunOptions{})
	upsert(t, r, t0, job(1, "x", 99, 0))
	finish(t, r, RunStats{State: StateFailed, Error: "boom"})
	r = beginRun(t, s, "other", RunOptions{})
	upsert(t, r, t0, job(1, "x", 8, 0))
	finish(t, r, RunStats{State: StateSucceeded})

	counts, err := s.CountJobs(ctx, sources)
	if err != nil {
		t.Fatal(err)
	}
	want := []JobCount{
		{Source: "a", Status: 8, StatusName: "JOBSTAT_RUNNING", Jobs: 2},
		{Source: "a", Status: 10, StatusName: "JOBSTAT_COMPLETED", Jobs: 1},
		{Source: "b", Status: 99, StatusName: "UNDOCUMENTED_99", Jobs: 1}, // as the views name it
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("CountJobs:\n got %+v\nwant %+v", counts, want)
	}

	last, err := s.LastSuccesses(ctx, sources)
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 1 || last[0].Source != "a" || time.Since(last[0].FinishedAt) > time.Minute {
		t.Errorf("LastSuccesses: %+v (b only failed, never never ran)", last)
	}
}
