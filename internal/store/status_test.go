package store

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestStatusReport(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	today := time.Now().UTC().Truncate(24 * time.Hour)

	// Jobs: two created today, one yesterday, one 40 days ago, and a deleted one created today.
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	insertJob := func(id int64, status int, created time.Time, duration time.Duration, deleted bool) {
		t.Helper()
		var deletedAt *time.Time
		if deleted {
			deletedAt = &created
		}
		exec(`INSERT INTO modelarts.visualization_jobs
			(source, job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url, raw,
			 first_seen_at, last_seen_at, last_changed_at, deleted_at)
			VALUES ('a', $1, 'job', '', $2, $3, $4, '', '', '{}', $3, $3, $3, $5)`,
			id, status, created, duration.Milliseconds(), deletedAt)
	}
	insertJob(1, 8, today, 30*time.Second, false)                     // bucket <1m
	insertJob(2, 8, today, 5*time.Minute, false)                      // 1m-10m
	insertJob(3, 10, today.Add(-23*time.Hour), 2*time.Hour, false)    // 1h-6h
	insertJob(4, 99, today.AddDate(0, 0, -40), 8*24*time.Hour, false) // >=7d
	insertJob(5, 11, today, 10*time.Minute, true)                     // deleted: in the creations, not in the durations
	insertJob(6, 1, today, 0, false)                                  // has not run: not in the durations

	exec(`INSERT INTO modelarts.sync_runs (source, state, started_at, finished_at, jobs_seen, jobs_inserted, error) VALUES
		('a', 'succeeded', now() - interval '11 minutes', now() - interval '10 minutes', 5, 5, NULL),
		('b', 'failed', now() - interval '6 minutes', now() - interval '5 minutes', 0, 0, 'boom <b>'),
		('a', 'running', now() - interval '1 minute', NULL, 0, 0, NULL)`)

	// Versions: job 1 went from waiting to running 2 hours ago; job 3 was renamed 4 hours ago (no
	// status change) and completed an hour ago.
	exec(`INSERT INTO modelarts.visualization_job_history (source, job_id, status, job_name, job_desc, service_url, train_url, valid_from, valid_to) VALUES
		('a', 1, 7, 'job', '', '', '', now() - interval '3 hours', now() - interval '2 hours'),
		('a', 1, 8, 'job', '', '', '', now() - interval '2 hours', NULL),
		('a', 3, 8, 'old', '', '', '', now() - interval '5 hours', now() - interval '4 hours'),
		('a', 3, 8, 'job <i>', '', '', '', now() - interval '4 hours', now() - interval '1 hour'),
		('a', 3, 10, 'job <i>', '', '', '', now() - interval '1 hour', NULL)`)

	rep, err := s.StatusReport(ctx, StatusOptions{Days: 7, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(rep.Now); d < -time.Minute || d > time.Minute || rep.Now.Location() != time.UTC {
		t.Errorf("Now = %s", rep.Now)
	}
	if rep.LiveJobs != 5 || rep.DeletedJobs != 1 {
		t.Errorf("live %d deleted %d, want 5 and 1", rep.LiveJobs, rep.DeletedJobs)
	}
	wantStatus := []StatusCount{
		{8, "JOBSTAT_RUNNING", "running", 2},
		{1, "JOBSTAT_INIT", "pending", 1},
		{10, "JOBSTAT_COMPLETED", "completed", 1},
		{99, "UNDOCUMENTED_99", "unknown", 1},
	}
	if !reflect.DeepEqual(rep.ByStatus, wantStatus) {
		t.Errorf("ByStatus = %+v, want %+v", rep.ByStatus, wantStatus)
	}

	if len(rep.CreatedPerDay) != 7 {
		t.Fatalf("CreatedPerDay has %d days, want 7", len(rep.CreatedPerDay))
	}
	for i, d := range rep.CreatedPerDay {
		wantDay := today.AddDate(0, 0, i-6)
		var want int64
		switch i {
		case 6:
			want = 4 // 1, 2, 5 (deleted) and 6
		case 5:
			want = 1
		}
		if !d.Day.Equal(wantDay) || d.Jobs != want {
			t.Errorf("day %d: %s %d, want %s %d", i, d.Day, d.Jobs, wantDay, want)
		}
	}

	// Days are UTC days whatever the session's time zone.
	shanghai, err := Open(ctx, testdbURLWithTimeZone(t, s, "Asia/Shanghai"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shanghai.Close()
	rep2, err := shanghai.StatusReport(ctx, StatusOptions{Days: 7, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep2.CreatedPerDay, rep.CreatedPerDay) {
		t.Errorf("days in a session in Asia/Shanghai: %+v\nin UTC: %+v", rep2.CreatedPerDay, rep.CreatedPerDay)
	}

	wantBuckets := []int64{1, 1, 0, 1, 0, 0, 0, 1}
	if len(rep.Durations) != len(wantBuckets) {
		t.Fatalf("%d duration buckets, want %d", len(rep.Durations), len(wantBuckets))
	}
	for i, b := range rep.Durations {
		if b.Jobs != wantBuckets[i] {
			t.Errorf("bucket %d [%s, %s): %d jobs, want %d", i, b.Min, b.Max, b.Jobs, wantBuckets[i])
		}
	}
	if rep.Durations[0].Min != 0 || rep.Durations[0].Max != time.Minute || rep.Durations[7].Min != 7*24*time.Hour || rep.Durations[7].Max != 0 {
		t.Errorf("bucket bounds: %+v", rep.Durations)
	}

	if len(rep.RecentRuns) != 2 || rep.RecentRuns[0].State != StateRunning || rep.RecentRuns[1].Error != "boom <b>" ||
		!rep.RecentRuns[0].FinishedAt.IsZero() || rep.RecentRuns[1].FinishedAt.IsZero() {
		t.Errorf("RecentRuns = %+v", rep.RecentRuns)
	}

	if len(rep.StatusChanges) != 2 {
		t.Fatalf("StatusChanges = %+v", rep.StatusChanges)
	}
	c0, c1 := rep.StatusChanges[0], rep.StatusChanges[1]
	if c0.JobID != 3 || c0.JobName != "job <i>" || c0.From.Name != "JOBSTAT_RUNNING" || c0.To.Name != "JOBSTAT_COMPLETED" ||
		c0.To.Group != "completed" || c1.JobID != 1 || c1.From.Status != 7 || c1.To.Status != 8 || !c0.At.After(c1.At) {
		t.Errorf("StatusChanges = %+v", rep.StatusChanges)
	}

	if len(rep.Sources) != 2 {
		t.Fatalf("Sources = %+v", rep.Sources)
	}
	a, b := rep.Sources[0], rep.Sources[1]
	if a.Source != "a" || a.LastRunState != StateRunning || !a.LastRunFinishedAt.IsZero() || a.LastSuccessAt.IsZero() ||
		a.LastError != "" || !a.LastErrorAt.IsZero() || a.Runs24h != 2 || a.LiveJobs != 5 || a.RunningJobs != 2 {
		t.Errorf("source a: %+v", a)
	}
	if age := rep.Now.Sub(a.LastSuccessAt); age < 10*time.Minute || age > 11*time.Minute {
		t.Errorf("source a: last success %s before now, want 10 minutes", age)
	}
	if b.Source != "b" || b.LastRunState != StateFailed || !b.LastSuccessAt.IsZero() || b.LastError != "boom <b>" ||
		b.LastRunError != "boom <b>" || b.FailedRuns24h != 1 || b.LiveJobs != 0 {
		t.Errorf("source b: %+v", b)
	}
}

func TestStatusReportEmpty(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	rep, err := s.StatusReport(t.Context(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sources) != 0 || len(rep.ByStatus) != 0 || len(rep.RecentRuns) != 0 || len(rep.CreatedPerDay) != 30 ||
		len(rep.Durations) != len(DurationBounds)+1 {
		t.Errorf("empty report: %+v", rep)
	}
}

func TestQueryTable(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	tab, err := s.QueryTable(ctx, `SELECT code, name, NULL::text AS nothing, interval '90 minutes' AS span, 1.50::numeric AS n
		FROM modelarts.job_statuses WHERE code IN (8, 10) ORDER BY code;`)
	if err != nil {
		t.Fatal(err)
	}
	want := &Table{
		Columns: []string{"code", "name", "nothing", "span", "n"},
		Numeric: []bool{true, false, false, false, true},
		Rows:    [][]string{{"8", "JOBSTAT_RUNNING", "", "01:30:00", "1.50"}, {"10", "JOBSTAT_COMPLETED", "", "01:30:00", "1.50"}},
		Nulls:   [][]bool{{false, false, true, false, false}, {false, false, true, false, false}},
	}
	if !reflect.DeepEqual(tab, want) {
		t.Errorf("got %+v\nwant %+v", tab, want)
	}

	if _, err := s.QueryTable(ctx, "DELETE FROM modelarts.job_statuses"); !errors.Is(err, ErrNotReadOnly) {
		t.Errorf("a DELETE: %v, want ErrNotReadOnly", err)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM modelarts.job_statuses"); n != 23 {
		t.Errorf("%d statuses left", n)
	}
	if _, err := s.QueryTable(ctx, "SELECT nonsense FROM"); err == nil || errors.Is(err, ErrNotReadOnly) {
		t.Errorf("a syntax error: %v", err)
	}
}

// testdbURLWithTimeZone is the URL of s's database (as the test helper gave it) with a session time
// zone.
func testdbURLWithTimeZone(t *testing.T, s *Store, tz string) string {
	t.Helper()
	u, err := url.Parse(s.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("timezone", tz)
	u.RawQuery = q.Encode()
	return u.String()
}

// The report shows the job queue (River's table, when it exists) and the leases of runs in progress.
func TestStatusReportQueueAndLeases(t *testing.T) {
	t.Parallel()
	s := migratedStore(t) // River's tables included, as indexer migrate up makes them
	ctx := t.Context()
	r := beginRun(t, s, "busy", RunOptions{})
	if _, err := s.pool.Exec(ctx, `INSERT INTO river.river_job (args, kind, max_attempts, queue, state, scheduled_at)
		VALUES ('{"source": "busy", "run_kind": "head"}', 'vizjob_sync', 2, 'vizjob', 'available', now() - interval '42 seconds')`); err != nil {
		t.Fatal(err)
	}
	rep, err := s.StatusReport(ctx, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Queue) != 1 || rep.Queue[0].Kind != "head" || rep.Queue[0].State != "available" || rep.Queue[0].Jobs != 1 ||
		rep.Now.Sub(rep.Queue[0].Oldest) < 42*time.Second {
		t.Errorf("queue %+v: want one head run available for 42 s", rep.Queue)
	}
	if len(rep.Leases) != 1 || rep.Leases[0].Source != "busy" || rep.Leases[0].RunID != r.ID() || !rep.Leases[0].ExpiresAt.After(rep.Now) {
		t.Errorf("leases %+v: want run %d's lease of busy", rep.Leases, r.ID())
	}
	finish(t, r, RunStats{State: StateSucceeded})
	if _, err := s.pool.Exec(ctx, `DROP SCHEMA river CASCADE`); err != nil {
		t.Fatal(err)
	}
	if rep, err = s.StatusReport(ctx, StatusOptions{}); err != nil || rep.Queue != nil || len(rep.Leases) != 0 {
		t.Errorf("without River's tables: queue %v, leases %v, %v; want none", rep.Queue, rep.Leases, err)
	}
}
