package store

import (
	"testing"
)

func TestRecordBadItems(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	id := func(n int64) *int64 { return &n }

	// Run 1 mirrors jobs 1, 2 and 3.
	r1 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r1, t0, job(1, "a", 8, 1000), job(2, "b", 8, 1000), job(3, "c", 8, 1000))
	finish(t, r1, RunStats{State: StateSucceeded})

	// Run 2: job 2 comes back malformed (it keeps its row), an item without a job_id, the same
	// payload twice, and a payload that is not valid UTF-8.
	r2 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r2, t0.Add(1), job(1, "a", 8, 1000))
	items := []BadItem{
		{JobID: id(2), Reason: "status: want an integer, got string", Raw: []byte(`{"job_id":2,"status":"8"}`)},
		{Reason: "job_id is missing", Raw: []byte(`{"job_name":"x"}`)},
		{Reason: "job_id is missing", Raw: []byte(`{"job_name":"x"}`)},
		{Reason: "want a JSON object, got string", Raw: []byte("\"bad \xff utf-8\"")},
		{JobID: id(7), Reason: "duration: -5 is negative", Raw: []byte(`{"job_id":7,"duration":-5}`)},
	}
	if err := r2.RecordBadItems(ctx, items, t0.Add(1)); err != nil {
		t.Fatal(err)
	}
	// A second walk meets them again: nothing changes.
	r2.NextWalk()
	if err := r2.RecordBadItems(ctx, items, t0.Add(2)); err != nil {
		t.Fatal(err)
	}
	upsert(t, r2, t0.Add(2), job(1, "a", 8, 1000))
	if n, err := r2.SeenCount(ctx); err != nil || n != 3 { // jobs 1, 2 and 7
		t.Fatalf("SeenCount = %d, %v; want 3 (the bad items with a job_id count)", n, err)
	}
	total, err := r2.RefreshCandidates(ctx, t0.Add(2))
	cands, err2 := r2.CandidatesToCheck(ctx, 10)
	if err != nil || err2 != nil || total != 1 || len(cands) != 1 || cands[0].JobID != 3 {
		t.Fatalf("deletion candidates = %+v, %d, %v, %v; want only job 3", cands, total, err, err2)
	}
	finish(t, r2, RunStats{State: StatePartial, BadItems: 10})

	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.bad_items`); n != 4 {
		t.Errorf("%d rows in bad_items, want 4 distinct payloads", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.bad_items WHERE runs = 1 AND first_sync_run_id = $1 AND last_sync_run_id = $1
		AND first_seen_at = $2 AND last_seen_at = $2`, r2.ID(), t0.Add(1)); n != 4 {
		t.Errorf("%d rows recorded once by run %d at its first sighting, want 4", n, r2.ID())
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.bad_items WHERE job_id = 2 AND raw::jsonb ->> 'status' = '8'
		AND reason LIKE 'status:%'`); n != 1 {
		t.Errorf("job 2's payload not kept as received")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.bad_items WHERE raw = '"bad ' || chr(65533) || ' utf-8"'`); n != 1 {
		t.Errorf("invalid UTF-8 not stored with U+FFFD")
	}
	if j := stored(t, s, "src", 2); j.Status != 8 || j.DeletedAt != nil {
		t.Errorf("job 2 = %+v, want its last good state, not deleted", j)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs WHERE job_id = 7`); n != 0 {
		t.Errorf("a malformed job reached visualization_jobs")
	}

	// Run 3 meets one payload again.
	r3 := beginRun(t, s, "src", RunOptions{})
	if err := r3.RecordBadItems(ctx, items[:1], t0.Add(3)); err != nil {
		t.Fatal(err)
	}
	finish(t, r3, RunStats{State: StatePartial, BadItems: 1})
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.bad_items WHERE job_id = 2 AND runs = 2
		AND first_sync_run_id = $1 AND last_sync_run_id = $2 AND last_seen_at = $3`, r2.ID(), r3.ID(), t0.Add(3)); n != 1 {
		t.Errorf("the payload met again was not updated")
	}

	if err := r3.RecordBadItems(ctx, items, t0); err == nil {
		t.Errorf("RecordBadItems after Finish succeeded")
	}
}
