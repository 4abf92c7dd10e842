package store

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// A full run decides the jobs it knew from its start in memory; these are the cases where memory
// alone must not decide.

// A job marked deleted during a run and listed again later in the same run comes back.
func TestKnownJobDeletedThenListedInTheSameRun(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	r1 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r1, t0, job(1, "a", 8, 1000), job(2, "b", 8, 1000))
	finish(t, r1, RunStats{State: StateSucceeded})

	r2 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r2, t0.Add(time.Minute), job(1, "a", 8, 1000)) // job 2 not listed
	if n, err := r2.RefreshCandidates(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("RefreshCandidates = %d, %v; want 1 (job 2)", n, err)
	}
	if n, err := r2.MarkDeleted(ctx, t0.Add(2*time.Minute), []int64{1, 2}); err != nil || n != 1 {
		t.Fatalf("MarkDeleted = %d, %v; want 1 (job 1 was listed)", n, err)
	}
	r2.NextWalk()
	if res := upsert(t, r2, t0.Add(3*time.Minute), job(2, "b", 8, 1000)); res.Updated != 1 {
		t.Fatalf("job 2 listed again: %+v, want it updated (back from deletion)", res)
	}
	finish(t, r2, RunStats{State: StateSucceeded})
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs WHERE deleted_at IS NULL`); n != 2 {
		t.Errorf("%d live jobs, want 2", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_job_history WHERE job_id = 2 AND valid_to IS NULL`); n != 1 {
		t.Errorf("job 2 has %d open versions, want 1", n)
	}
}

// last_seen_at is refreshed as soon as it is older than SeenRefresh at the time of the page, also when
// that happens during the run, after the run read the source's jobs.
func TestKnownJobRefreshDueDuringTheRun(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	opts := RunOptions{SeenRefresh: 24 * time.Hour}
	r1 := beginRun(t, s, "src", opts)
	upsert(t, r1, t0, job(1, "a", 8, 1000), job(2, "b", 8, 1000), job(3, "c", 8, 1000))
	finish(t, r1, RunStats{State: StateSucceeded})

	r2 := beginRun(t, s, "src", opts)
	// Not yet due: nothing written.
	if res := upsert(t, r2, t0.Add(24*time.Hour-time.Minute), job(1, "a", 8, 1000)); res.Unchanged != 1 {
		t.Fatalf("first page: %+v", res)
	}
	// Due a minute later, and much later (past what the run decided in memory at its start).
	upsert(t, r2, t0.Add(24*time.Hour+time.Minute), job(2, "b", 8, 1000))
	upsert(t, r2, t0.Add(30*24*time.Hour), job(3, "c", 8, 1000))
	if n, err := r2.SeenCount(ctx); err != nil || n != 3 {
		t.Errorf("SeenCount = %d, %v; want 3", n, err)
	}
	finish(t, r2, RunStats{State: StateSucceeded})
	for id, want := range map[int64]time.Time{1: t0, 2: t0.Add(24*time.Hour + time.Minute), 3: t0.Add(30 * 24 * time.Hour)} {
		var got time.Time
		if err := s.pool.QueryRow(ctx, `SELECT last_seen_at FROM modelarts.visualization_jobs WHERE job_id = $1`, id).Scan(&got); err != nil || !got.Equal(want) {
			t.Errorf("job %d: last_seen_at %v, %v; want %v", id, got, err, want)
		}
	}
}

// The deletion candidates of a run that knew the source's jobs: those the last walk missed, counted
// by the walks that missed them, whether the run knew them or inserted them, and none of those listed.
func TestKnownJobsDeletionCandidates(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	r1 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r1, t0, job(1, "a", 8, 1000), job(2, "b", 8, 1000), job(3, "c", 8, 1000), job(4, "d", 8, 1000))
	finish(t, r1, RunStats{State: StateSucceeded})
	if _, err := s.pool.Exec(ctx, `UPDATE modelarts.visualization_jobs SET deleted_at = $1 WHERE job_id = 4`, t0); err != nil {
		t.Fatal(err)
	}

	r2 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r2, t0.Add(time.Minute), job(1, "a", 8, 1000), job(2, "b", 8, 1000), job(5, "e", 8, 1000)) // walk 1: 5 is new
	r2.NextWalk()
	upsert(t, r2, t0.Add(2*time.Minute), job(1, "a", 8, 1000)) // walk 2 misses 2 and 5 (seen by walk 1) and 3 (never)
	if n, err := r2.SeenCount(ctx); err != nil || n != 1 {
		t.Errorf("SeenCount = %d, %v; want 1", n, err)
	}
	if n, err := r2.SeenTotal(ctx); err != nil || n != 3 {
		t.Errorf("SeenTotal = %d, %v; want 3 (jobs 1, 2 and 5)", n, err)
	}
	if n, err := r2.RefreshCandidates(ctx, t0.Add(2*time.Minute)); err != nil || n != 3 {
		t.Fatalf("RefreshCandidates = %d, %v; want 3", n, err)
	}
	cands, err := r2.CandidatesToCheck(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int{}
	for _, c := range cands {
		got[c.JobID] = c.WalksMissed
	}
	want := map[int64]int{2: 1, 3: 2, 5: 1}
	if len(got) != len(want) || got[2] != want[2] || got[3] != want[3] || got[5] != want[5] {
		t.Errorf("candidates (job: walks missed) %v, want %v", got, want)
	}
	finish(t, r2, RunStats{State: StateSucceeded})
}

// What the run's memory says about the jobs it knew, walk by walk.
func TestKnownJobsSeenAndMissed(t *testing.T) {
	k := &knownJobs{n: 5, table: make([]byte, 5*16), due: newBitset(5), deleted: newBitset(5), near: newBitset(5)}
	for i, id := range []int64{10, 20, 30, 40, 50} {
		binary.LittleEndian.PutUint64(k.table[16*i:], uint64(id))
	}
	k.deleted.put(3, true) // job 40 was marked deleted when read
	k.due.put(3, true)
	k.see(1, 0)
	k.see(1, 1)
	k.see(1, 1) // twice in one walk counts once
	k.see(2, 0)
	k.see(2, 3) // job 40 listed again by walk 2
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"seen by walk 1", k.seenBy(1), 2},
		{"seen by walk 2", k.seenBy(2), 2},
		{"seen by walk 3", k.seenBy(3), 0},
		{"seen by any walk", k.seenAny(), 3},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	ids, walks := k.missed(2)
	// 20: last listed by walk 1; 30 and 50: never; 40: deleted but listed by walk 2, so not missed.
	if want := []int64{20, 30, 50}; !slices.Equal(ids, want) || !slices.Equal(walks, []int32{1, 0, 0}) {
		t.Errorf("missed by walk 2: %v (last walks %v), want %v (1, 0, 0)", ids, walks, want)
	}
	if i := k.index(30); i != 2 || k.index(35) != -1 {
		t.Errorf("index(30) = %d, index(35) = %d; want 2 and -1", i, k.index(35))
	}
}

// The counts that read the jobs the run knew from its start do so under the run's mutex: a caller
// racing Finish (which gives their memory back) gets ErrRunFinished or a count, never a read of
// memory given back (a fault, or a data race under -race).
func TestKnownJobsReadUnderTheRunsMutex(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	r1 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r1, t0, job(1, "a", 8, 1000), job(2, "b", 8, 1000))
	finish(t, r1, RunStats{State: StateSucceeded})

	r2 := beginRun(t, s, "src", RunOptions{})
	upsert(t, r2, t0.Add(time.Minute), job(1, "a", 8, 1000))
	if r2.known == nil {
		t.Fatal("the second run read no known jobs: the test would prove nothing")
	}
	var wg, started sync.WaitGroup
	for _, count := range []func(context.Context) (int64, error){
		r2.SeenCount, r2.SeenTotal,
		func(ctx context.Context) (int64, error) { return r2.RefreshCandidates(ctx, t0.Add(time.Minute)) },
	} {
		started.Add(1)
		wg.Go(func() {
			for i := 0; ; i++ {
				if i == 1 {
					started.Done() // one count made: Finish may start
				}
				if _, err := count(ctx); errors.Is(err, ErrRunFinished) {
					return
				} else if err != nil {
					t.Errorf("count while finishing: %v", err)
					if i == 0 {
						started.Done()
					}
					return
				}
			}
		})
	}
	started.Wait()
	finish(t, r2, RunStats{State: StateSucceeded})
	wg.Wait()
}
