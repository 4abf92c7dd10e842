package store

import (
	"testing"
	"time"
)

// TestClockSteppingBack: runs whose clock is behind the previous one's (a step back, or replicas with
// skewed clocks) change and delete jobs without failing: no version closes before it opened, and a new
// version never starts before the previous one ended.
func TestClockSteppingBack(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	r := beginRun(t, s, "p", RunOptions{})
	upsert(t, r, t0, job(1, "a", 8, 0), job(2, "b", 8, 0), job(3, "c", 8, 0))
	finish(t, r, RunStats{State: StateSucceeded})

	// An hour earlier: job 1 changes status twice, job 2 is deleted.
	back := t0.Add(-time.Hour)
	r2 := beginRun(t, s, "p", RunOptions{})
	upsert(t, r2, back, job(1, "a", 10, 0), job(3, "c", 8, 0))
	upsert(t, r2, back.Add(-time.Minute), job(1, "a", 11, 0))
	if n, err := r2.MarkDeleted(ctx, back, []int64{2}); err != nil || n != 1 {
		t.Fatalf("MarkDeleted = %d, %v; want 1", n, err)
	}
	finish(t, r2, RunStats{State: StateSucceeded})

	vs := history(t, s, "p", 1)
	if len(vs) != 3 || vs[2].Status != 11 || vs[2].ValidTo != nil {
		t.Fatalf("job 1 history: %+v, want 3 versions ending with status 11 open", vs)
	}
	for _, id := range []int64{1, 2} {
		vs := history(t, s, "p", id)
		for i, v := range vs {
			if v.ValidTo != nil && v.ValidTo.Before(v.ValidFrom) {
				t.Errorf("job %d version %d closes at %s, before it opened at %s", id, i, v.ValidTo, v.ValidFrom)
			}
			if i > 0 && (vs[i-1].ValidTo == nil || v.ValidFrom.Before(*vs[i-1].ValidTo)) {
				t.Errorf("job %d version %d starts at %s, before the previous one ended (%v)", id, i, v.ValidFrom, vs[i-1].ValidTo)
			}
		}
	}
	if got := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_job_history WHERE valid_to < valid_from`); got != 0 {
		t.Errorf("%d versions close before they open", got)
	}
}
