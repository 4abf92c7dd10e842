package store

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/testdb"
)

// t0 is the first observation time of most tests, in microseconds like timestamptz.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openStore opens a store on a fresh database, without migrating it.
func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), testdb.New(t), testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// migratedStore opens a store on a fresh, migrated database (a copy of testdb's migrated template;
// TestMigratedTemplateIsCurrent checks that the store sees nothing left to apply on it).
func migratedStore(t *testing.T) *Store {
	t.Helper()
	return migratedStoreLogging(t, testLogger(t))
}

// migratedStoreLogging opens a store on a fresh migrated database, logging to log (nil: nowhere, as
// benchmarks want).
func migratedStoreLogging(tb testing.TB, log *slog.Logger) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), testdb.NewMigrated(tb), log)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func beginRun(t *testing.T, s *Store, source string, opts RunOptions) *Run {
	t.Helper()
	r, err := s.BeginRun(t.Context(), source, opts)
	if err != nil {
		t.Fatalf("BeginRun(%q): %v", source, err)
	}
	t.Cleanup(func() {
		if !r.finished {
			_ = r.Finish(context.Background(), RunStats{State: StateFailed, Error: "test ended"})
		}
	})
	return r
}

func finish(t *testing.T, r *Run, st RunStats) {
	t.Helper()
	if err := r.Finish(t.Context(), st); err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

func upsert(t *testing.T, r *Run, at time.Time, jobs ...Job) PageResult {
	t.Helper()
	res, err := r.UpsertPage(t.Context(), jobs, at)
	if err != nil {
		t.Fatalf("UpsertPage: %v", err)
	}
	return res
}

// job builds a job whose raw JSON agrees with its fields.
func job(id int64, name string, status int, durationMS int64) Job {
	j := Job{
		JobID:      id,
		Name:       name,
		Desc:       "desc of " + name,
		Status:     status,
		CreateTime: time.UnixMilli(1565149736000 + id).UTC(),
		DurationMS: durationMS,
		ServiceURL: fmt.Sprintf("https://console.example.com/tensorboard/%d/", id),
		TrainURL:   fmt.Sprintf("/bucket/train/%d/", id),
		ResourceID: fmt.Sprintf("res-%d", id),
	}
	j.Raw = fmt.Appendf(nil, `{"job_id":%d,"job_name":%q,"status":%d,"duration":%d,"create_time":%d,"job_desc":%q,"service_url":%q,"train_url":%q,"resource_id":%q,"remaining_duration":null}`,
		j.JobID, j.Name, j.Status, j.DurationMS, j.CreateTime.UnixMilli(), j.Desc, j.ServiceURL, j.TrainURL, j.ResourceID)
	return j
}

func queryInt(t *testing.T, s *Store, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// version is one row of visualization_job_history.
type version struct {
	Status     int
	Name       string
	DurationMS int64
	ValidFrom  time.Time
	ValidTo    *time.Time
	SyncRunID  *int64
}

func history(t *testing.T, s *Store, source string, id int64) []version {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `
		SELECT status, job_name, duration_ms, valid_from, valid_to, sync_run_id
		FROM modelarts.visualization_job_history
		WHERE source = $1 AND job_id = $2
		ORDER BY valid_from, id`, source, id)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[version])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// storedJob is the bookkeeping part of one row of visualization_jobs.
type storedJob struct {
	Name          string
	Status        int
	DurationMS    int64
	FirstSeenAt   time.Time
	LastSeenAt    time.Time
	LastChangedAt time.Time
	DeletedAt     *time.Time
}

func stored(t *testing.T, s *Store, source string, id int64) storedJob {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `
		SELECT job_name, status, duration_ms, first_seen_at, last_seen_at, last_changed_at, deleted_at
		FROM modelarts.visualization_jobs WHERE source = $1 AND job_id = $2`, source, id)
	if err != nil {
		t.Fatal(err)
	}
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[storedJob])
	if err != nil {
		t.Fatalf("job %d of %s: %v", id, source, err)
	}
	return j
}

// tupleWrites is n_tup_ins + n_tup_upd + n_tup_del of the job and history tables, as the statistics
// system counts them. Counters are per database and flushed asynchronously by each backend: the
// writer's pending counters are flushed first (pg_stat_force_next_flush, PostgreSQL 15+, flushes them
// before the backend reports ready), on older servers the counters are polled until they settle.
func tupleWrites(t *testing.T, s *Store) int64 {
	t.Helper()
	ctx := t.Context()
	const q = `
		SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
		FROM pg_stat_user_tables
		WHERE schemaname = 'modelarts' AND relname IN ('visualization_jobs', 'visualization_job_history')`
	read := func() int64 {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if queryInt(t, s, `SELECT current_setting('server_version_num')::int`) >= 150000 {
		// A run writes through any connection of the pool: flush them all.
		for _, c := range s.pool.AcquireAllIdle(ctx) {
			_, err := c.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
			c.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		return read()
	}
	// PostgreSQL 13 and 14: the collector receives counters at most every 500ms.
	last, stable := read(), 0
	for deadline := time.Now().Add(10 * time.Second); stable < 3 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		n := read()
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}

// rowVersions identifies the physical version of every row of the job and history tables: a row
// rewritten or even locked gets a new ctid or xmax.
func rowVersions(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `
		SELECT 'job ' || job_id || ' ' || xmin || ' ' || xmax || ' ' || ctid FROM modelarts.visualization_jobs
		UNION ALL
		SELECT 'version ' || id || ' ' || xmin || ' ' || xmax || ' ' || ctid FROM modelarts.visualization_job_history
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
