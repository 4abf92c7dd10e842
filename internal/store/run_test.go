package store

import (
	"context"
	"errors"
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
	if n := sourceLocks(t, s); n != 2 {
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
	if n := sourceLocks(t, s); n != 0 {
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
	if err := dead.conn.Conn().Close(ctx); err != nil {
		t.Fatal(err)
	}
	dead.conn.Release()
	dead.conn = nil

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

// Finish after the run's connection was cut: the outcome is still recorded through another
// connection, the error is returned, and the source is free again.
func TestFinishAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()

	r := beginRun(t, s, "p", RunOptions{})
	var pid int
	if err := r.conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err := r.UpsertPage(ctx, []Job{job(1, "x", 8, 0)}, t0)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("UpsertPage on a terminated connection: %v, want ErrUnavailable", err)
	}
	if err := r.Finish(ctx, RunStats{State: StateFailed, Error: "connection lost"}); err == nil {
		t.Errorf("Finish on a terminated connection: no error")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_runs WHERE id = $1 AND state = 'failed' AND error = 'connection lost'`,
		r.ID()); n != 1 {
		t.Errorf("outcome not recorded through another connection")
	}
	finish(t, beginRunEventually(t, s, "p"), RunStats{State: StateSucceeded})
}

// A run whose session was ended (the lease) and whose row another replica then closed as abandoned
// does not overwrite that record when it finishes: Finish says so, and the row keeps the other's word.
func TestFinishKeepsARowClosedElsewhere(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()

	r := beginRun(t, s, "p", RunOptions{})
	var pid int
	if err := r.conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
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
				if r.conn != nil {
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

// sourceLocks counts the source locks held in the test's database (advisory locks are per database).
func sourceLocks(t *testing.T, s *Store) int64 {
	t.Helper()
	return queryInt(t, s, `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1::oid AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, sourceLockClass)
}
