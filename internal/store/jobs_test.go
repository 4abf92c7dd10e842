package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestUpsertThenIdenticalResyncWritesNothing(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	const n = 250
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = job(int64(1000+i), "job", i%23, int64(i)*1000)
	}

	r := beginRun(t, s, "p", RunOptions{})
	if res := upsert(t, r, t0, jobs...); res != (PageResult{Inserted: n}) {
		t.Fatalf("first upsert: %+v, want %d inserted", res, n)
	}
	if seen, err := r.SeenCount(t.Context()); err != nil || seen != n {
		t.Fatalf("SeenCount = %d, %v; want %d", seen, err, n)
	}
	finish(t, r, RunStats{State: StateSucceeded})
	if got := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_job_history WHERE valid_to IS NULL`); got != n {
		t.Fatalf("%d open versions, want %d", got, n)
	}

	r2 := beginRun(t, s, "p", RunOptions{})
	before := tupleWrites(t, s)
	if before < 2*n {
		t.Fatalf("statistics count %d tuple writes, want at least the %d rows inserted: counters not flushed", before, 2*n)
	}
	rowsBefore := rowVersions(t, s)

	res := upsert(t, r2, t0.Add(5*time.Minute), jobs...)
	if res != (PageResult{Unchanged: n}) {
		t.Errorf("identical resync: %+v, want %d unchanged", res, n)
	}
	after := tupleWrites(t, s)
	if after != before {
		t.Errorf("identical resync wrote %d tuples in the job and history tables, want 0", after-before)
	}
	if rowsAfter := rowVersions(t, s); !slices.Equal(rowsBefore, rowsAfter) {
		t.Errorf("identical resync rewrote or locked rows")
	}
	if seen, err := r2.SeenCount(t.Context()); err != nil || seen != n {
		t.Errorf("SeenCount after resync = %d, %v; want %d", seen, err, n)
	}
	j := stored(t, s, "p", 1000)
	if !j.LastSeenAt.Equal(t0) || !j.LastChangedAt.Equal(t0) || !j.FirstSeenAt.Equal(t0) {
		t.Errorf("unchanged job's times moved: %+v", j)
	}

	// Past SeenRefresh, an unchanged job gets its last_seen_at refreshed and nothing else.
	later := t0.Add(DefaultSeenRefresh + time.Minute)
	res = upsert(t, r2, later, jobs[:1]...)
	if res != (PageResult{Unchanged: 1}) {
		t.Errorf("refresh: %+v, want 1 unchanged", res)
	}
	j = stored(t, s, "p", 1000)
	if !j.LastSeenAt.Equal(later) || !j.LastChangedAt.Equal(t0) {
		t.Errorf("after refresh: last_seen_at %v last_changed_at %v, want %v and %v", j.LastSeenAt, j.LastChangedAt, later, t0)
	}
	if vs := history(t, s, "p", 1000); len(vs) != 1 {
		t.Errorf("refresh opened a version: %+v", vs)
	}
}

func TestStatusChangeClosesOneVersionOpensOne(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	t1, t2 := t0, t0.Add(5*time.Minute)

	r := beginRun(t, s, "p", RunOptions{})
	upsert(t, r, t1, job(1, "a", 7, 0), job(2, "b", 8, 100))
	finish(t, r, RunStats{State: StateSucceeded})

	r2 := beginRun(t, s, "p", RunOptions{})
	res := upsert(t, r2, t2, job(1, "a", 8, 1000), job(2, "b", 8, 100))
	if res != (PageResult{Updated: 1, Unchanged: 1}) {
		t.Errorf("status change: %+v, want 1 updated 1 unchanged", res)
	}
	vs := history(t, s, "p", 1)
	if len(vs) != 2 {
		t.Fatalf("job 1 has %d versions, want 2: %+v", len(vs), vs)
	}
	old, cur := vs[0], vs[1]
	if old.Status != 7 || old.ValidTo == nil || !old.ValidTo.Equal(t2) || !old.ValidFrom.Equal(t1) {
		t.Errorf("old version %+v: want status 7 valid [%v, %v)", old, t1, t2)
	}
	if cur.Status != 8 || !cur.ValidFrom.Equal(*old.ValidTo) || cur.ValidTo != nil || cur.DurationMS != 1000 {
		t.Errorf("new version %+v: want status 8 from %v, open, duration 1000", cur, t2)
	}
	if cur.SyncRunID == nil || *cur.SyncRunID != r2.ID() || old.SyncRunID == nil || *old.SyncRunID != r.ID() {
		t.Errorf("versions not tied to the runs that opened them: %+v %+v", old, cur)
	}
	j := stored(t, s, "p", 1)
	if j.Status != 8 || !j.FirstSeenAt.Equal(t1) || !j.LastChangedAt.Equal(t2) || !j.LastSeenAt.Equal(t2) {
		t.Errorf("job row after change: %+v", j)
	}
	if vs := history(t, s, "p", 2); len(vs) != 1 {
		t.Errorf("unchanged job 2 has %d versions", len(vs))
	}
}

func TestDurationOnlyChangeOpensNoVersion(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})
	upsert(t, r, t0, job(1, "a", 8, 1000))
	t2 := t0.Add(time.Minute)
	if res := upsert(t, r, t2, job(1, "a", 8, 61000)); res != (PageResult{Updated: 1}) {
		t.Errorf("duration change: %+v, want 1 updated", res)
	}
	j := stored(t, s, "p", 1)
	if j.DurationMS != 61000 || !j.LastChangedAt.Equal(t2) {
		t.Errorf("job row after duration change: %+v", j)
	}
	vs := history(t, s, "p", 1)
	if len(vs) != 1 || vs[0].ValidTo != nil || vs[0].DurationMS != 1000 {
		t.Errorf("history after duration change: %+v, want the one open version with duration as first seen", vs)
	}
}

func TestDeletionAndReappearance(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	t1, t2, t3 := t0, t0.Add(time.Hour), t0.Add(2*time.Hour)

	r := beginRun(t, s, "p", RunOptions{})
	upsert(t, r, t1, job(1, "a", 8, 0), job(2, "b", 8, 0), job(3, "c", 10, 0), job(4, "d", 10, 0))
	finish(t, r, RunStats{State: StateSucceeded})
	other := beginRun(t, s, "other", RunOptions{})
	upsert(t, other, t1, job(3, "c elsewhere", 8, 0))
	finish(t, other, RunStats{State: StateSucceeded})

	r2 := beginRun(t, s, "p", RunOptions{})
	upsert(t, r2, t2, job(1, "a", 8, 0), job(2, "b", 8, 0))
	total, err := r2.RefreshCandidates(ctx, t2)
	if err != nil || total != 2 {
		t.Fatalf("RefreshCandidates = %d, %v; want jobs 3 and 4", total, err)
	}
	cands, err := r2.CandidatesToCheck(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Candidate{{JobID: 3, Name: "c", WalksMissed: 1, Since: t2}}; !candidatesEqual(cands, want) {
		t.Errorf("CandidatesToCheck(1) = %+v; want %+v", cands, want)
	}
	// Checked without a conclusive answer: job 3 goes behind job 4, never checked yet.
	if err := r2.RecordChecks(ctx, t2, []CandidateCheck{{JobID: 3, Outcome: CheckUnknown, Answer: "detail call answered 404 APIG.0101"}}); err != nil {
		t.Fatal(err)
	}
	if cands, err := r2.CandidatesToCheck(ctx, 5); err != nil || len(cands) != 2 || cands[0].JobID != 4 || cands[1].JobID != 3 {
		t.Errorf("CandidatesToCheck(5) after a check = %+v, %v; want 4 then 3", cands, err)
	}
	if p, err := s.PendingCandidates(ctx, []string{"p", "other"}); err != nil || len(p) != 1 || p[0].Count != 2 || !p[0].Oldest.Equal(t2) {
		t.Errorf("PendingCandidates = %+v, %v", p, err)
	}
	// Only live, unseen jobs of the source are marked, whatever ids are passed.
	n, err := r2.MarkDeleted(ctx, t2, []int64{3, 1, 999})
	if err != nil || n != 1 {
		t.Fatalf("MarkDeleted = %d, %v; want 1", n, err)
	}
	if live, err := r2.LiveCount(ctx); err != nil || live != 3 {
		t.Errorf("LiveCount = %d, %v; want 3", live, err)
	}
	finish(t, r2, RunStats{State: StateSucceeded, Deleted: n})
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.deletion_candidates WHERE source = 'p' AND job_id = 3`); n != 0 {
		t.Errorf("job 3 still queued after MarkDeleted")
	}

	if j := stored(t, s, "p", 3); j.DeletedAt == nil || !j.DeletedAt.Equal(t2) || !j.LastChangedAt.Equal(t2) {
		t.Errorf("deleted job: %+v", j)
	}
	if vs := history(t, s, "p", 3); len(vs) != 1 || vs[0].ValidTo == nil || !vs[0].ValidTo.Equal(t2) {
		t.Errorf("history of the deleted job: %+v, want its version closed at %v", vs, t2)
	}
	for _, id := range []int64{1, 4} {
		if j := stored(t, s, "p", id); j.DeletedAt != nil {
			t.Errorf("job %d marked deleted", id)
		}
	}
	if j := stored(t, s, "other", 3); j.DeletedAt != nil {
		t.Errorf("job 3 of another source marked deleted")
	}

	// Job 3 comes back unchanged: deleted_at cleared, a new version opens.
	r3 := beginRun(t, s, "p", RunOptions{})
	if res := upsert(t, r3, t3, job(3, "c", 10, 0)); res != (PageResult{Updated: 1}) {
		t.Errorf("reappearance: %+v, want 1 updated", res)
	}
	finish(t, r3, RunStats{State: StateSucceeded})
	if j := stored(t, s, "p", 3); j.DeletedAt != nil || !j.LastChangedAt.Equal(t3) || !j.FirstSeenAt.Equal(t1) {
		t.Errorf("job back from deletion: %+v", j)
	}
	vs := history(t, s, "p", 3)
	if len(vs) != 2 || vs[1].ValidTo != nil || !vs[1].ValidFrom.Equal(t3) || !vs[0].ValidTo.Equal(t2) {
		t.Errorf("history of the job back from deletion: %+v", vs)
	}
}

func TestDuplicateIDsInOnePage(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})
	res := upsert(t, r, t0, job(1, "first", 7, 0), job(2, "b", 8, 0), job(1, "last", 8, 0))
	if res != (PageResult{Inserted: 2}) {
		t.Errorf("page with a duplicate: %+v, want 2 inserted", res)
	}
	if j := stored(t, s, "p", 1); j.Name != "last" || j.Status != 8 {
		t.Errorf("duplicate resolved to %+v, want the last occurrence", j)
	}
	if vs := history(t, s, "p", 1); len(vs) != 1 || vs[0].Name != "last" {
		t.Errorf("history of the duplicate: %+v", vs)
	}
	if seen, err := r.SeenCount(t.Context()); err != nil || seen != 2 {
		t.Errorf("SeenCount = %d, %v; want 2", seen, err)
	}
	if res, err := r.UpsertPage(t.Context(), nil, t0); err != nil || res != (PageResult{}) {
		t.Errorf("empty page: %+v, %v", res, err)
	}
}

func TestRawPreserved(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})

	j := job(1, `名前 "quoted" \ back`, 8, 0)
	j.Raw = []byte(`{"job_id": 1, "job_name": "名前 \"quoted\" \\ back", "emoji": "🚀", "escaped": "\u00e9\ud83d\ude80",
		"big": 12345678901234567890123, "float": 1.5e-7, "nested": {"schedule": {"type": "stop", "time_unit": "HOURS", "duration": 1},
		"list": [1, "two", null, true, {"deep": []}]}, "remaining_duration": null}`)
	nul := job(2, "nul\x00name", 8, 0)
	nul.Raw = []byte(`{"job_id": 2, "job_name": "nul\u0000name", "bad": "` + "\xff" + `", "keep": "\u00e9"}`)
	upsert(t, r, t0, j, nul)

	var got []byte
	if err := s.pool.QueryRow(t.Context(), `SELECT raw::text FROM modelarts.visualization_jobs WHERE job_id = 1`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, got, j.Raw) {
		t.Errorf("raw changed:\n got %s\nwant %s", got, j.Raw)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs
		WHERE job_id = 1 AND job_name = $1 AND raw->'nested'->'schedule'->>'time_unit' = 'HOURS'
		  AND raw->>'big' = '12345678901234567890123' AND raw->>'escaped' = 'é🚀'`, j.Name); n != 1 {
		t.Errorf("raw or name not queryable as sent")
	}
	// NUL and invalid UTF-8, which PostgreSQL cannot store, are cleaned instead of failing the page.
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs
		WHERE job_id = 2 AND job_name = 'nulname' AND raw->>'job_name' = 'nulname' AND raw->>'bad' = '�' AND raw->>'keep' = 'é'`); n != 1 {
		t.Errorf("job with NUL and invalid UTF-8 not stored cleaned")
	}

	// An identical resync of these rows is recognised as unchanged (jsonb compares by value).
	if res := upsert(t, r, t0.Add(time.Minute), j, nul); res != (PageResult{Unchanged: 2}) {
		t.Errorf("resync of raw: %+v, want 2 unchanged", res)
	}

	bad := job(3, "bad", 8, 0)
	bad.Raw = []byte(`{"job_id": 3,`)
	if _, err := r.UpsertPage(t.Context(), []Job{bad}, t0); err == nil {
		t.Errorf("page with invalid raw JSON accepted")
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	for _, p := range []struct {
		raw []byte
		v   *any
	}{{raw: a, v: &va}, {raw: b, v: &vb}} {
		if err := json.Unmarshal(p.raw, p.v); err != nil {
			t.Fatalf("%s: %v", p.raw, err)
		}
	}
	return reflect.DeepEqual(va, vb)
}

func TestUnknownStatusAndEmptyFields(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})
	j := Job{JobID: 9, Status: 99, Raw: []byte(`{"job_id":9,"status":99}`)}
	if res := upsert(t, r, t0, j); res.Inserted != 1 {
		t.Fatalf("job with an undocumented status: %+v", res)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs
		WHERE job_id = 9 AND status = 99 AND create_time IS NULL AND resource_id IS NULL AND job_name = ''`); n != 1 {
		t.Errorf("zero create time and empty resource id not stored as null")
	}
}

// An unchanged job is recognised by its stored fingerprint; without one (a row written before migration
// 00006), or with one that differs while the content does not, it is compared in full: never rewritten
// for that alone.
func TestFingerprintOfUnchangedJobs(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "src", RunOptions{})
	jobs := []Job{job(1, "a", 8, 100), job(2, "b", 8, 200), job(3, "c", 8, 300)}
	upsert(t, r, t0, jobs...)
	fingerprinted := func() int64 {
		return queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs WHERE length(content_sha256) = 32`)
	}
	if n := fingerprinted(); n != 3 {
		t.Fatalf("%d jobs stored with a fingerprint, want 3", n)
	}
	if _, err := s.pool.Exec(t.Context(), `UPDATE modelarts.visualization_jobs SET content_sha256 = NULL WHERE job_id <> 3`); err != nil {
		t.Fatal(err)
	}
	again := slices.Clone(jobs)
	again[2].Raw = append([]byte("  "), again[2].Raw...) // the same JSON, spelled otherwise: another fingerprint
	before := rowVersions(t, s)
	if res := upsert(t, r, t0.Add(time.Minute), again...); res != (PageResult{Unchanged: 3}) {
		t.Errorf("identical resync: %+v, want 3 unchanged", res)
	}
	if after := rowVersions(t, s); !slices.Equal(before, after) {
		t.Errorf("identical resync rewrote rows:\nbefore %v\nafter  %v", before, after)
	}
	if n := fingerprinted(); n != 1 {
		t.Errorf("%d jobs with a fingerprint after an identical resync, want 1 (nothing written)", n)
	}
	// A change writes the fingerprint along; the next identical page is then recognised by it.
	jobs[0] = job(1, "a", 10, 150)
	if res := upsert(t, r, t0.Add(2*time.Minute), jobs...); res != (PageResult{Updated: 1, Unchanged: 2}) {
		t.Errorf("one change: %+v", res)
	}
	if n := fingerprinted(); n != 2 {
		t.Errorf("%d jobs with a fingerprint after a change, want 2", n)
	}
	if seen, err := r.SeenCount(t.Context()); err != nil || seen != 3 {
		t.Errorf("SeenCount = %d, %v; want 3", seen, err)
	}
}

func TestFingerprintDistinguishesFields(t *testing.T) {
	base := job(1, "a", 8, 100)
	variants := map[string]func(*Job){
		"name": func(j *Job) { j.Name = "b" }, "desc": func(j *Job) { j.Desc += "x" },
		"status": func(j *Job) { j.Status++ }, "create time": func(j *Job) { j.CreateTime = j.CreateTime.Add(time.Microsecond) },
		"no create time": func(j *Job) { j.CreateTime = time.Time{} }, "duration": func(j *Job) { j.DurationMS++ },
		"service url": func(j *Job) { j.ServiceURL = "" }, "train url": func(j *Job) { j.TrainURL += "/" },
		"resource id": func(j *Job) { j.ResourceID = "" }, "raw": func(j *Job) { j.Raw = append(j.Raw, ' ') },
		// The same bytes split otherwise between two fields.
		"name and desc": func(j *Job) { j.Name, j.Desc = j.Name+j.Desc[:1], j.Desc[1:] },
	}
	seen := map[string]string{string(base.fingerprint()): "base"}
	for name, change := range variants {
		j := base
		j.Raw = slices.Clone(base.Raw)
		change(&j)
		fp := string(j.fingerprint())
		if other, dup := seen[fp]; dup {
			t.Errorf("%s: same fingerprint as %s", name, other)
		}
		seen[fp] = name
	}
}

func candidatesEqual(a, b []Candidate) bool {
	return slices.EqualFunc(a, b, func(x, y Candidate) bool {
		return x.JobID == y.JobID && x.Name == y.Name && x.WalksMissed == y.WalksMissed && x.Since.Equal(y.Since)
	})
}

// A first sync inserts without comparing; a job listed again later in the same run (listings shift
// while they are walked), changed or not, is still handled as any resync handles it.
func TestFirstSyncThenTheSameJobAgainInTheRun(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})
	a, b := job(1, "a", 8, 1000), job(2, "b", 8, 1000)
	if res := upsert(t, r, t0, a, b); res != (PageResult{Inserted: 2}) {
		t.Fatalf("first page: %+v, want 2 inserted", res)
	}
	a2 := job(1, "a", 10, 5000) // finished meanwhile: a new version
	c := job(3, "c", 7, 0)
	if res := upsert(t, r, t0.Add(time.Minute), a2, b, c); res != (PageResult{Inserted: 1, Updated: 1, Unchanged: 1}) {
		t.Fatalf("second page: %+v, want 1 inserted, 1 updated, 1 unchanged", res)
	}
	finish(t, r, RunStats{State: StateSucceeded})
	if v := history(t, s, "p", 1); len(v) != 2 || v[0].ValidTo == nil || !v[0].ValidTo.Equal(t0.Add(time.Minute)) || v[1].ValidTo != nil || v[1].Status != 10 {
		t.Errorf("job 1's history = %+v, want a version closed at the second page and an open one with status 10", v)
	}
	for _, id := range []int64{2, 3} {
		if v := history(t, s, "p", id); len(v) != 1 || v[0].ValidTo != nil {
			t.Errorf("job %d's history = %+v, want one open version", id, v)
		}
	}
	if got := stored(t, s, "p", 1); got.Status != 10 || got.DurationMS != 5000 {
		t.Errorf("job 1 stored as %+v, want status 10, duration 5000", got)
	}
}

// A first sync's large batches: jobs that an earlier batch of the run inserted are handled as any
// resync handles them, beside the batch's new jobs.
func TestFirstSyncLargeBatchesWithRepeats(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})
	page := func(from, to int64, status int) []Job {
		var jobs []Job
		for id := from; id <= to; id++ {
			jobs = append(jobs, job(id, fmt.Sprint("j", id), status, 1000))
		}
		return jobs
	}
	if res := upsert(t, r, t0, page(1, 300, 8)...); res != (PageResult{Inserted: 300}) {
		t.Fatalf("first batch: %+v, want 300 inserted", res)
	}
	// Jobs 1-10 (first half) and 291-300 (second half) again, 291-300 changed, and 300 new jobs.
	again := append(append(page(1, 10, 8), page(301, 600, 8)...), page(291, 300, 10)...)
	if res := upsert(t, r, t0.Add(time.Minute), again...); res != (PageResult{Inserted: 300, Updated: 10, Unchanged: 10}) {
		t.Fatalf("second batch: %+v, want 300 inserted, 10 updated, 10 unchanged", res)
	}
	if n, err := r.SeenCount(t.Context()); err != nil || n != 600 {
		t.Errorf("SeenCount = %d, %v; want 600", n, err)
	}
	finish(t, r, RunStats{State: StateSucceeded})
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs`); n != 600 {
		t.Errorf("%d jobs, want 600", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_job_history WHERE valid_to IS NULL`); n != 600 {
		t.Errorf("%d open versions, want 600", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_job_history`); n != 610 {
		t.Errorf("%d versions, want 610 (10 changed)", n)
	}
}
