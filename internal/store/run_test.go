package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBeginRunLocksPerSource(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()

	a := beginRun(t, s, "project-a", RunOptions{})
	_, err := s.BeginRun(ctx, "project-a", RunOptions{})
	if !errors.Is(err, ErrSourceBusy) {
		t.Fatalf("second BeginRun of the same source: %v, want ErrSourceBusy", err)
	}
	if !strings.Contains(err.Error(), "project-a") || !strings.Contains(err.Error(), "pid") {
		t.Errorf("busy error does not say who holds the lock: %v", err)
	}
	b := beginRun(t, s, "project-b", RunOptions{})
	if a.ID() == b.ID() {
		t.Fatalf("two runs share id %d", a.ID())
	}
	if n := sourceLeases(t, s); n != 2 {
		t.Errorf("%d source locks held by two runs, want 2", n)
	}

	finish(t, a, RunStats{State: StateSucceeded})
	a2 := beginRun(t, s, "project-a", RunOptions{})
	if a2.ID() <= a.ID() {
		t.Errorf("run ids not increasing: %d then %d", a.ID(), a2.ID())
	}
	finish(t, a2, RunStats{State: StateSucceeded})
	finish(t, b, RunStats{State: StateSucceeded})

	// The runs rejected as busy left no ledger row.
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs`); n != 3 {
		t.Errorf("%d ledger rows, want 3", n)
	}
	// Finished runs left neither lock nor temporary table on the pooled connections.
	if n := sourceLeases(t, s); n != 0 {
		t.Errorf("%d source locks still held after every run finished", n)
	}
}

func TestBeginRunClosesAbandonedRun(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()

	// A process dies mid-run: its session ends without Finish.
	dead := beginRun(t, s, "p", RunOptions{})
	upsert(t, dead, t0, job(1, "one", 8, 10))
	abandon(t, s, dead)

	next := beginRunEventually(t, s, "p")
	defer finish(t, next, RunStats{State: StateSucceeded})

	var (
		state, errText string
		finished       *time.Time
		host           string
		pid            int
	)
	err := s.pool.QueryRow(ctx, `SELECT state, error, finished_at, hostname, pid FROM modelarts.sync_runs WHERE id = $1`,
		dead.ID()).Scan(&state, &errText, &finished, &host, &pid)
	if err != nil {
		t.Fatal(err)
	}
	if state != StateFailed || errText != abandonedError || finished == nil {
		t.Errorf("abandoned run recorded as %s, %q, finished %v", state, errText, finished)
	}
	if wantHost, _ := os.Hostname(); host != wantHost || pid != os.Getpid() {
		t.Errorf("run recorded host %q pid %d, want %q %d", host, pid, wantHost, os.Getpid())
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs WHERE state = 'running'`); n != 1 {
		t.Errorf("%d running rows, want only the new run", n)
	}
	// What the dead run committed stays.
	if got := stored(t, s, "p", 1); got.Name != "one" {
		t.Errorf("job of the dead run: %+v", got)
	}
}

func TestFinishRecordsOutcome(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()

	r := beginRun(t, s, "p", RunOptions{})
	st := RunStats{State: StatePartial, Walks: 2, Pages: 7, Requests: 9, Retries: 2, JobsSeen: 650,
		Inserted: 600, Updated: 40, Deleted: 0, BadItems: 1, APITotalCount: 651, Error: "walk not verified: 651 reported, 650 seen"}
	finish(t, r, st)

	var (
		got      RunStats
		finished *time.Time
		apiTotal *int64
		errText  *string
	)
	err := s.pool.QueryRow(ctx, `
		SELECT state, walks, pages, requests, retries, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted,
		       bad_items, api_total_count, error, finished_at
		FROM modelarts.sync_runs WHERE id = $1`, r.ID()).Scan(&got.State, &got.Walks, &got.Pages, &got.Requests,
		&got.Retries, &got.JobsSeen, &got.Inserted, &got.Updated, &got.Deleted, &got.BadItems, &apiTotal, &errText, &finished)
	if err != nil {
		t.Fatal(err)
	}
	if apiTotal != nil {
		got.APITotalCount = *apiTotal
	}
	if errText != nil {
		got.Error = *errText
	}
	if got != st || finished == nil {
		t.Errorf("recorded %+v (finished %v), want %+v", got, finished, st)
	}

	if err := r.Finish(ctx, st); !errors.Is(err, ErrRunFinished) {
		t.Errorf("second Finish: %v, want ErrRunFinished", err)
	}
	if _, err := r.UpsertPage(ctx, []Job{job(1, "x", 8, 0)}, t0); !errors.Is(err, ErrRunFinished) {
		t.Errorf("UpsertPage after Finish: %v, want ErrRunFinished", err)
	}
	if _, err := r.SeenCount(ctx); !errors.Is(err, ErrRunFinished) {
		t.Errorf("SeenCount after Finish: %v, want ErrRunFinished", err)
	}

	// A run that read no page records no API total and no error text when it has none.
	r2 := beginRun(t, s, "p", RunOptions{})
	finish(t, r2, RunStats{State: StateSucceeded})
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs WHERE id = $1 AND api_total_count IS NULL AND error IS NULL`,
		r2.ID()); n != 1 {
		t.Errorf("run without pages: api_total_count or error not null")
	}

	// A state that is not final is recorded as failed, and said so.
	r3 := beginRun(t, s, "p", RunOptions{})
	if err := r3.Finish(ctx, RunStats{State: StateRunning}); err == nil {
		t.Errorf("Finish with state running: no error")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs WHERE id = $1 AND state = 'failed' AND error <> ''`,
		r3.ID()); n != 1 {
		t.Errorf("run finished with a bad state not recorded as failed with an error")
	}
}

// A run holds no connection of the pool between its methods (while its caller waits on the API),
// only its lease: connections in use are bounded by the runs writing at the same moment.
func TestRunHoldsNoConnectionBetweenMethods(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	runs := make([]*Run, 3)
	for i := range runs {
		runs[i] = beginRun(t, s, fmt.Sprintf("p%d", i), RunOptions{})
		upsert(t, runs[i], t0, job(int64(i+1), "x", 8, 0))
	}
	if n := s.pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections of the pool held by 3 runs between their writes, want 0", n)
	}
	if n := sourceLeases(t, s); n != 3 {
		t.Errorf("%d leases held by 3 runs, want 3", n)
	}
	for _, r := range runs {
		finish(t, r, RunStats{State: StateSucceeded})
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.run_seen`); n != 0 {
		t.Errorf("%d seen ids left after every run finished, want 0", n)
	}
}

// A run whose lease expired (its process stopped renewing it) is taken over: the next run of the
// source closes its row; the dead run's Finish then says the lease is no longer its own.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	dead := beginRun(t, s, "p", RunOptions{})
	close(dead.stopBeat)
	<-dead.beatDone
	dead.stopBeat = make(chan struct{}) // Finish closes it again
	dead.beatDone = make(chan struct{})
	close(dead.beatDone)
	if _, err := s.pool.Exec(t.Context(), `UPDATE modelarts.source_leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	next := beginRun(t, s, "p", RunOptions{})
	if err := dead.Finish(t.Context(), RunStats{State: StateSucceeded}); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Errorf("Finish of a run whose lease was taken over: %v, want an error about the lease", err)
	}
	finish(t, next, RunStats{State: StateSucceeded})
	if n := sourceLeases(t, s); n != 0 {
		t.Errorf("%d leases left, want 0", n)
	}
}

// A run whose session was ended (the lease) and whose row another replica then closed as abandoned
// does not overwrite that record when it finishes: Finish says so, and the row keeps the other's word.
func TestFinishKeepsARowClosedElsewhere(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()

	r := beginRun(t, s, "p", RunOptions{})
	// r's process stops renewing its lease (cut off from the database) until it has expired.
	close(r.stopBeat)
	<-r.beatDone
	r.stopBeat, r.beatDone = make(chan struct{}), make(chan struct{}) // Finish stops a heartbeat again
	close(r.beatDone)
	if _, err := s.pool.Exec(ctx, `UPDATE modelarts.source_leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	other := beginRunEventually(t, s, "p") // closes r's row as abandoned
	err := r.Finish(ctx, RunStats{State: StateSucceeded, JobsSeen: 99})
	if err == nil || !strings.Contains(err.Error(), "already closed by another process") {
		t.Errorf("Finish of a row closed elsewhere: %v, want an error saying so", err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs WHERE id = $1 AND state = 'failed' AND error = $2 AND jobs_seen = 0`,
		r.ID(), abandonedError); n != 1 {
		t.Errorf("the row closed as abandoned was overwritten")
	}
	finish(t, other, RunStats{State: StateSucceeded})
}

// Finish with a cancelled context still records the outcome.
func TestFinishAfterCancel(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	r := beginRun(t, s, "p", RunOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Finish(ctx, RunStats{State: StateFailed, Error: "interrupted"}); err != nil {
		t.Fatalf("Finish with a cancelled context: %v", err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs WHERE id = $1 AND state = 'failed'`, r.ID()); n != 1 {
		t.Errorf("outcome not recorded")
	}
}

// beginRunEventually begins a run of source once the server has released the lock of a session that
// ended: a backend whose connection was cut holds its locks until it has exited.
func beginRunEventually(t *testing.T, s *Store, source string) *Run {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		r, err := s.BeginRun(t.Context(), source, RunOptions{})
		if err == nil {
			t.Cleanup(func() {
				if !r.finished {
					_ = r.Finish(context.Background(), RunStats{State: StateFailed, Error: "test ended"})
				}
			})
			return r
		}
		if !errors.Is(err, ErrSourceBusy) || time.Now().After(deadline) {
			t.Fatalf("BeginRun(%q) after the lock holder's session ended: %v", source, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sourceLeases counts the leases held in the test's database.
func sourceLeases(t *testing.T, s *Store) int64 {
	t.Helper()
	return queryInt(t, s, `SELECT count(*) FROM modelarts.source_leases WHERE expires_at > now()`)
}

// abandon stops r as a process that dies would: its lease is no longer renewed and has expired, and
// it never finishes.
func abandon(t *testing.T, s *Store, r *Run) {
	t.Helper()
	close(r.stopBeat)
	<-r.beatDone
	r.finished = true
	if _, err := s.pool.Exec(t.Context(), `UPDATE modelarts.source_leases SET expires_at = now() - interval '1 second' WHERE run_id = $1`, r.ID()); err != nil {
		t.Fatal(err)
	}
}
