package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// figuresMatch checks that the per-source figures the triggers keep (source_sync_state's live and
// running jobs, source_job_counts, source_created_days) say what count(*) over visualization_jobs says.
func figuresMatch(t *testing.T, s *Store, step string) {
	t.Helper()
	for _, q := range []struct{ kept, truth string }{
		{`SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
		   SELECT format('%s=%s/%s', source, live_jobs, running_jobs) AS x
		   FROM modelarts.source_sync_state WHERE live_jobs <> 0 OR running_jobs <> 0) AS t`,
			`SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
			   SELECT format('%s=%s/%s', source, count(*), count(*) FILTER (WHERE status = 8)) AS x
			   FROM modelarts.visualization_jobs WHERE deleted_at IS NULL GROUP BY source) AS t`},
		{`SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
		   SELECT format('%s/%s/%s/%s=%s', source, status, deleted, duration_bucket, jobs) AS x
		   FROM modelarts.source_job_counts WHERE jobs <> 0) AS t`,
			`SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
			   SELECT format('%s/%s/%s/%s=%s', source, status, deleted_at IS NOT NULL,
			                 modelarts.job_duration_bucket(duration_ms, deleted_at), count(*)) AS x
			   FROM modelarts.visualization_jobs GROUP BY source, status, deleted_at IS NOT NULL,
			            modelarts.job_duration_bucket(duration_ms, deleted_at)) AS t`},
		{`SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
		   SELECT format('%s/%s=%s', source, day, jobs) AS x FROM modelarts.source_created_days WHERE jobs <> 0) AS t`,
			`SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
			   SELECT format('%s/%s=%s', source, (create_time AT TIME ZONE 'UTC')::date, count(*)) AS x
			   FROM modelarts.visualization_jobs WHERE create_time IS NOT NULL
			   GROUP BY source, (create_time AT TIME ZONE 'UTC')::date) AS t`},
	} {
		var kept, truth string
		if err := s.pool.QueryRow(t.Context(), q.kept).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if err := s.pool.QueryRow(t.Context(), q.truth).Scan(&truth); err != nil {
			t.Fatal(err)
		}
		if kept != truth {
			t.Errorf("%s: the kept figures\n  %s\ndiffer from count(*) over the jobs\n  %s", step, kept, truth)
		}
	}
}

// TestJobFiguresFollowEveryWrite: inserts, changes of status and duration, deletions, a job that comes
// back and a source forgotten keep source_job_counts and source_created_days equal to what count(*)
// over the jobs says, through the run's own write paths (first sync, upsert, MarkDeleted, ForgetSource).
func TestJobFiguresFollowEveryWrite(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	figuresMatch(t, s, "empty")

	r := beginRun(t, s, "a", RunOptions{})
	upsert(t, r, t0, job(1, "x", 8, 1000), job(2, "y", 8, 0), job(3, "z", 10, 4_000_000), job(4, "w", 99, 0))
	finish(t, r, RunStats{State: StateSucceeded})
	figuresMatch(t, s, "first sync")

	r = beginRun(t, s, "a", RunOptions{})
	upsert(t, r, t0.Add(time.Hour), job(1, "x", 10, 700_000), job(2, "y", 8, 0), job(3, "z", 10, 4_000_000), job(5, "v", 1, 0))
	if n, err := r.MarkDeleted(ctx, t0.Add(time.Hour), []int64{4}); err != nil || n != 1 {
		t.Fatalf("MarkDeleted: %d, %v", n, err)
	}
	finish(t, r, RunStats{State: StateSucceeded})
	figuresMatch(t, s, "changes and a deletion")

	r = beginRun(t, s, "b", RunOptions{})
	upsert(t, r, t0, job(1, "x", 8, 0))
	finish(t, r, RunStats{State: StateSucceeded})
	r = beginRun(t, s, "a", RunOptions{Kind: KindHead})
	upsert(t, r, t0.Add(2*time.Hour), job(4, "w", 99, 0), job(2, "y", 12, 50)) // 4 comes back
	finish(t, r, RunStats{State: StateSucceeded})
	figuresMatch(t, s, "a job back, a head walk, a second source")

	if _, err := s.ForgetSource(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	figuresMatch(t, s, "source a forgotten")
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.source_job_counts WHERE source = 'a'`) +
		queryInt(t, s, `SELECT count(*) FROM modelarts.source_sync_state WHERE source = 'a'`) +
		queryInt(t, s, `SELECT count(*) FROM modelarts.sync_run_counts WHERE source = 'a'`); n != 0 {
		t.Errorf("ForgetSource left %d rows of figures of source a", n)
	}
}

// TestDurationBucketsMatch: the SQL function that buckets durations for source_job_counts uses the
// bounds of DurationBounds, which the status page labels.
func TestDurationBucketsMatch(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	for i, b := range DurationBounds {
		for _, c := range []struct {
			ms   int64
			want int64
		}{{b.Milliseconds() - 1, int64(i)}, {b.Milliseconds(), int64(i + 1)}} {
			if got := queryInt(t, s, `SELECT modelarts.job_duration_bucket($1::bigint, NULL)`, c.ms); got != c.want {
				t.Errorf("job_duration_bucket(%d ms) = %d, want %d (DurationBounds[%d] = %s)", c.ms, got, c.want, i, b)
			}
		}
	}
}

// ledgerRow inserts one finished run with the given age, kind, state and changes; it returns its id.
func ledgerRow(t *testing.T, s *Store, source, kind, state string, age time.Duration, inserted int) int64 {
	t.Helper()
	var errText *string
	if state != StateSucceeded {
		e := state + " for the test"
		errText = &e
	}
	return queryInt(t, s, `
		INSERT INTO modelarts.sync_runs (source, kind, state, started_at, finished_at, jobs_inserted, error, listed_every_page)
		VALUES ($1, $2, $3, now() - $4::interval, now() - $4::interval + interval '10 seconds', $5, $6, $2 = 'full')
		RETURNING id`, source, kind, state, fmt.Sprintf("%d seconds", int64(age/time.Second)), inserted, errText)
}

func runIDs(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT id FROM modelarts.sync_runs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestPruneLedger: runs that wrote nothing go after KeepNoop, the others after Keep, in batches; the
// latest runs of each source stay whatever their age, running rows stay, counts of runs outlive the
// runs, and history versions keep their rows with sync_run_id null.
func TestPruneLedger(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	day := 24 * time.Hour

	var keep []int64
	// Source a: a year of runs, then recent ones.
	ledgerRow(t, s, "a", KindFull, StateFailed, 200*day, 0)    // old failure: pruned after Keep
	ledgerRow(t, s, "a", KindFull, StateSucceeded, 100*day, 3) // old change: pruned after Keep
	for i := range 5 {
		ledgerRow(t, s, "a", KindHead, StateSucceeded, 10*day+time.Duration(i)*time.Hour, 0) // old no-ops
	}
	keep = append(keep, ledgerRow(t, s, "a", KindFull, StateFailed, 20*day, 0))       // failure within Keep
	keep = append(keep, ledgerRow(t, s, "a", KindFull, StatePartial, 9*day, 0))       // old no-op, but the last error
	keep = append(keep, ledgerRow(t, s, "a", KindHead, StateSucceeded, 8*day, 2))     // change within Keep
	keep = append(keep, ledgerRow(t, s, "a", KindHead, StateSucceeded, time.Hour, 0)) // recent no-op, latest head
	keep = append(keep, ledgerRow(t, s, "a", KindFull, StateSucceeded, time.Hour, 0)) // recent no-op, latest full
	// Source b stopped a year ago: its latest runs stay.
	ledgerRow(t, s, "b", KindFull, StateSucceeded, 400*day, 0)                                // an older success: pruned
	keep = append(keep, ledgerRow(t, s, "b", KindFull, StatePartial, 399*day, 0))             // latest full, last listing
	keep = append(keep, ledgerRow(t, s, "b", KindFull, StateSucceeded, 399*day+time.Hour, 0)) // last success
	keep = append(keep, ledgerRow(t, s, "b", KindHead, StateSucceeded, 398*day, 1))           // latest head, last change
	// A run still running, started long ago (its process died; the next run closes it).
	keep = append(keep, queryInt(t, s, `INSERT INTO modelarts.sync_runs (source, kind, state, started_at)
		VALUES ('c', 'full', 'running', now() - interval '300 days') RETURNING id`))

	// A history version opened by the old change of source a.
	oldChange := queryInt(t, s, `SELECT id FROM modelarts.sync_runs WHERE source = 'a' AND jobs_inserted = 3`)
	r := beginRun(t, s, "a", RunOptions{})
	upsert(t, r, t0, job(1, "x", 8, 0))
	finish(t, r, RunStats{State: StateSucceeded, JobsSeen: 1, Inserted: 1, ListedAll: true})
	keep = append(keep, r.ID())
	if _, err := s.pool.Exec(ctx, `UPDATE modelarts.visualization_job_history SET sync_run_id = $1`, oldChange); err != nil {
		t.Fatal(err)
	}

	countsBefore := queryInt(t, s, runsCountedSQL)
	res, err := s.PruneLedger(ctx, LedgerRetention{KeepNoop: 7 * day, Keep: 90 * day, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Noop != 6 || res.Other != 2 || res.Batches < 5 {
		t.Errorf("PruneLedger = %+v, want 6 no-op runs and 2 others deleted, in batches of 2", res)
	}
	got := runIDs(t, s)
	if !reflect.DeepEqual(got, sortedIDs(keep)) {
		t.Errorf("runs left %v, want %v", got, sortedIDs(keep))
	}
	if n := queryInt(t, s, runsCountedSQL); n != countsBefore {
		t.Errorf("sync_run_counts and sync_run_daily_counts hold %d runs after pruning, want %d as before", n, countsBefore)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_job_history WHERE sync_run_id IS NULL`); n != 1 {
		t.Errorf("history versions of the pruned run: %d with sync_run_id null, want 1", n)
	}
	// sync_health still has both sources, whose runs it names are still there.
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.sync_health WHERE source IN ('a', 'b')`); n != 2 {
		t.Errorf("sync_health has %d of sources a and b after pruning, want 2", n)
	}

	again, err := s.PruneLedger(ctx, LedgerRetention{KeepNoop: 7 * day, Keep: 90 * day})
	if err != nil || again.Noop+again.Other != 0 {
		t.Errorf("second PruneLedger = %+v, %v; want nothing left to delete", again, err)
	}
	// Another replica pruning (it holds the lock in its transaction): this one leaves the work to it.
	ledgerRow(t, s, "a", KindHead, StateSucceeded, 30*day, 0)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, pruneLockSQL, pruneLockClass); err != nil {
		t.Fatal(err)
	}
	if busy, err := s.PruneLedger(ctx, LedgerRetention{KeepNoop: 7 * day, Keep: 90 * day}); err != nil || !busy.Busy || busy.Noop != 0 {
		t.Errorf("PruneLedger while another holds the pruning lock = %+v, %v; want Busy and nothing deleted", busy, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if after, err := s.PruneLedger(ctx, LedgerRetention{KeepNoop: 7 * day, Keep: 90 * day}); err != nil || after.Busy || after.Noop != 1 {
		t.Errorf("PruneLedger once the lock is free = %+v, %v; want the one old no-op run deleted", after, err)
	}
	if off, err := s.PruneLedger(ctx, LedgerRetention{}); err != nil || off.Batches != 0 {
		t.Errorf("PruneLedger with retention off = %+v, %v; want no statement at all", off, err)
	}
}

// runsCountedSQL counts the runs the hourly and the daily counts hold.
const runsCountedSQL = `SELECT (SELECT coalesce(sum(runs), 0) FROM modelarts.sync_run_counts) +
	(SELECT coalesce(sum(runs), 0) FROM modelarts.sync_run_daily_counts)`

func sortedIDs(ids []int64) []int64 {
	out := append([]int64(nil), ids...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestSyncHealthFreshnessOfABusySource: a source whose full runs all end partial, having listed every
// page, has no proven-complete run, but sync_health says when its mirror was last listed whole, when
// its last head walk and change were; before, freshness stayed null for good.
func TestSyncHealthFreshnessOfABusySource(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	for i := range 3 {
		r := beginRun(t, s, "busy", RunOptions{})
		upsert(t, r, t0.Add(time.Duration(i)*time.Hour), job(int64(i+1), "x", 8, 0))
		finish(t, r, RunStats{State: StatePartial, Inserted: 1, JobsSeen: 1, ListedAll: true,
			Error: "sync partial: no walk of 3 could be verified complete"})
		h := beginRun(t, s, "busy", RunOptions{Kind: KindHead})
		finish(t, h, RunStats{State: StateSucceeded})
	}
	// A run cut short lists nothing whole: the last listing stays the previous run's.
	r := beginRun(t, s, "busy", RunOptions{})
	finish(t, r, RunStats{State: StateFailed, Error: "page 3: 503"})

	rep, err := s.StatusReport(ctx, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sources) != 1 {
		t.Fatalf("status report sources: %+v", rep.Sources)
	}
	h := rep.Sources[0]
	listed := queryInt(t, s, `SELECT max(id) FROM modelarts.sync_runs WHERE state = 'partial'`)
	var listedAt time.Time
	if err := s.pool.QueryRow(ctx, `SELECT finished_at FROM modelarts.sync_runs WHERE id = $1`, listed).Scan(&listedAt); err != nil {
		t.Fatal(err)
	}
	if !h.LastSuccessAt.IsZero() || !h.LastListedAt.Equal(listedAt.UTC()) || h.LastHeadWalkAt.IsZero() ||
		h.LastChangeAt.IsZero() || h.LastRunState != StateFailed || h.Runs24h != 4 || h.FailedRuns24h != 1 || h.LiveJobs != 3 {
		t.Errorf("sync_health of a busy source: %+v\nwant no success, last listing at %s (run %d), a head walk, a change, 4 full runs of which 1 failed, 3 live jobs",
			h, listedAt.UTC(), listed)
	}
	if n := queryInt(t, s, `SELECT listed_freshness_seconds FROM modelarts.sync_health`); n < 0 || n > 600 {
		t.Errorf("listed_freshness_seconds = %d, want a few seconds", n)
	}
}
