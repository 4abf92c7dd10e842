package store

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// What the status page shows: sync_health and the per-source figures that triggers keep
// (source_job_counts, source_created_days; migration 00017), so that each read costs a few rows per
// source whatever the number of jobs and the length of the ledger; the recent runs and status changes
// from the newest rows of their indexes.

// StatusOptions says how much a StatusReport holds. The zero value is ready to use.
type StatusOptions struct {
	Days    int // days of job creations, today included (default 30)
	Runs    int // most recent runs (default 20)
	Changes int // most recent status changes (default 10)
}

// StatusReport is a consistent snapshot (one read-only transaction) of the mirror's health and
// content, for the status page.
type StatusReport struct {
	Now           time.Time      // the database's clock when the snapshot was taken
	Sources       []SourceHealth // by source name
	ByStatus      []StatusCount  // live jobs per status, most first
	CreatedPerDay []DayCount     // jobs created per UTC day (deleted ones included), oldest first, one entry per day
	Durations     []DurationBucket
	RecentRuns    []RunRecord // newest first
	StatusChanges []JobChange // latest status transitions, newest first
	LiveJobs      int64       // jobs that exist now
	DeletedJobs   int64       // jobs marked deleted
	// Queue: the runs waiting or running in the job queue (River's table, schema river), by kind and
	// state; nil when River's tables do not exist.
	Queue []QueueCount
	// Leases: the sources being synced now, and by whom (modelarts.source_leases).
	Leases []Lease
}

// QueueCount is how many runs of a kind are in one state of the job queue.
type QueueCount struct {
	Kind   string    // full or head
	State  string    // available (due, waiting for a worker), scheduled, retryable, pending, running
	Jobs   int64     //
	Oldest time.Time // the earliest tick (scheduled time) among them
}

// Lease is a source's lease: the run syncing it.
type Lease struct {
	Source     string
	RunID      int64 // 0: indexer forget
	Host       string
	PID        int
	AcquiredAt time.Time
	ExpiresAt  time.Time // past: its holder stopped renewing it (it died); the next run takes it over
}

// SourceHealth is one row of modelarts.sync_health. Zero times mean "never".
type SourceHealth struct {
	Source            string
	LastRunID         int64
	LastRunState      string
	LastRunStartedAt  time.Time
	LastRunFinishedAt time.Time // zero while it runs
	LastRunError      string
	LastSuccessAt     time.Time // end of the latest succeeded full run: proven complete
	LastErrorAt       time.Time // end of the latest run that recorded an error
	LastError         string
	Runs24h           int64
	FailedRuns24h     int64
	LiveJobs          int64
	RunningJobs       int64
	PendingDeletions  int64     // deletion candidates waiting for the service's word (modelarts.deletion_candidates)
	PendingSince      time.Time // first_missed_at of the oldest; zero when none waits
	// LastListedAt: end of the latest run that listed every page, proven complete or not (how old what
	// the mirror shows is); LastHeadWalkAt: end of the latest head walk that did not fail;
	// LastChangeAt: end of the latest run that wrote a change. Zero: never.
	LastListedAt, LastHeadWalkAt, LastChangeAt time.Time
}

// StatusCount is how many live jobs have one status.
type StatusCount struct {
	Status int
	Name   string // JOBSTAT_RUNNING, or UNDOCUMENTED_<code>
	Group  string // pending, running, completed, failed, stopped or unknown
	Jobs   int64
}

// DayCount is how many jobs were created on one day.
type DayCount struct {
	Day  time.Time // midnight UTC
	Jobs int64
}

// DurationBucket counts the live jobs that have run (duration > 0) whose duration is in [Min, Max);
// Max is 0 for the last, unbounded bucket.
type DurationBucket struct {
	Min, Max time.Duration
	Jobs     int64
}

// RunRecord is one row of modelarts.sync_runs.
type RunRecord struct {
	ID                                   int64
	Source                               string
	State                                string
	StartedAt                            time.Time
	FinishedAt                           time.Time // zero while it runs
	JobsSeen, Inserted, Updated, Deleted int64
	Error                                string
	Kind                                 string // KindFull or KindHead
	Pages                                int    // pages read so far (updated while it runs)
	APITotalCount                        int64  // job_total_count of the latest page; 0: none yet
}

// JobChange is a status transition a sync observed: a version of a job whose status differs from the
// version just before it.
type JobChange struct {
	Source    string
	JobID     int64
	JobName   string
	From, To  StatusCount // Jobs is not set
	At        time.Time   // when a sync saw the new status (valid_from)
	IsDeleted bool        // the job is deleted now
}

// DurationBounds are the lower bounds of the DurationBuckets after the first (which starts at 0).
var DurationBounds = []time.Duration{
	time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour,
}

const (
	statusSourcesSQL = `
		SELECT source, last_run_id, last_run_state, last_run_started_at, last_run_finished_at,
		       coalesce(last_run_error, ''), last_success_at, last_error_at, coalesce(last_error, ''),
		       runs_24h, failed_runs_24h, live_jobs, running_jobs,
		       (SELECT count(*) FROM modelarts.deletion_candidates AS c WHERE c.source = h.source),
		       (SELECT min(c.first_missed_at) FROM modelarts.deletion_candidates AS c WHERE c.source = h.source),
		       last_listed_at, last_head_walk_at, last_change_at
		FROM modelarts.sync_health AS h
		ORDER BY source`

	statusByStatusSQL = `
		SELECT c.status, coalesce(g.name, 'UNDOCUMENTED_' || c.status), coalesce(g.status_group, 'unknown'),
		       sum(c.jobs)::bigint
		FROM modelarts.source_job_counts AS c
		LEFT JOIN modelarts.job_status_groups AS g ON g.code = c.status
		WHERE NOT c.deleted
		GROUP BY 1, 2, 3
		HAVING sum(c.jobs) > 0
		ORDER BY 4 DESC, 1`

	// Days are UTC days, whatever the session's TimeZone: day is a timestamp without time zone (UTC
	// wall time), and AT TIME ZONE 'UTC' makes it the instant.
	statusCreatedPerDaySQL = `
		SELECT d.day AT TIME ZONE 'UTC', coalesce(c.jobs, 0)
		FROM generate_series(((now() AT TIME ZONE 'UTC')::date - ($1::integer - 1))::timestamp,
		                     (now() AT TIME ZONE 'UTC')::date::timestamp,
		                     interval '1 day') AS d(day)
		LEFT JOIN (
			SELECT day, sum(jobs)::bigint AS jobs
			FROM modelarts.source_created_days
			WHERE day >= (now() AT TIME ZONE 'UTC')::date - ($1::integer - 1)
			GROUP BY day
		) AS c ON c.day = d.day::date
		ORDER BY d.day`

	// modelarts.job_duration_bucket: 0 below the first bound, i from the i-th bound on (the bounds of
	// DurationBounds; TestDurationBucketsMatch checks the two agree); -1: deleted or not run.
	statusDurationsSQL = `
		SELECT duration_bucket, sum(jobs)::bigint
		FROM modelarts.source_job_counts
		WHERE NOT deleted AND duration_bucket >= 0
		GROUP BY 1`

	statusRunsSQL = `
		SELECT id, source, state, started_at, finished_at, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted,
		       coalesce(error, ''), kind, pages, coalesce(api_total_count, 0)
		FROM modelarts.sync_runs
		ORDER BY id DESC
		LIMIT $1::integer`

	statusTotalsSQL = `
		SELECT now(), coalesce(sum(jobs) FILTER (WHERE NOT deleted), 0)::bigint,
		       coalesce(sum(jobs) FILTER (WHERE deleted), 0)::bigint
		FROM modelarts.source_job_counts`
)

// StatusReport reads what the status page shows, in one read-only snapshot.
const (
	statusLeasesSQL = `
		SELECT source, coalesce(run_id, 0), coalesce(hostname, ''), coalesce(pid, 0), acquired_at, expires_at
		FROM modelarts.source_leases ORDER BY acquired_at LIMIT 100`

	// The runs' jobs of the job queue (River, internal/queue), read through its state index.
	statusQueueSQL = `
		SELECT coalesce(args->>'run_kind', '?'), state::text, count(*), min(scheduled_at)
		FROM river.river_job
		WHERE kind = 'vizjob_sync' AND state IN ('available', 'scheduled', 'pending', 'retryable', 'running')
		GROUP BY 1, 2 ORDER BY 1, 2`
)

func (s *Store) StatusReport(ctx context.Context, opts StatusOptions) (StatusReport, error) {
	opts.Days = min(cmp.Or(opts.Days, 30), 366)
	opts.Runs = min(cmp.Or(opts.Runs, 20), 1000)
	opts.Changes = min(cmp.Or(opts.Changes, 10), 1000)
	var rep StatusReport
	err := s.readTx(ctx, pgx.RepeatableRead,
		func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, statusTotalsSQL).Scan(&rep.Now, &rep.LiveJobs, &rep.DeletedJobs); err != nil {
				return fmt.Errorf("totals: %w", err)
			}
			var err error
			if rep.Sources, err = collect(ctx, tx, statusSourcesSQL, scanSourceHealth); err != nil {
				return fmt.Errorf("sources: %w", err)
			}
			if rep.ByStatus, err = collect(ctx, tx, statusByStatusSQL, func(r pgx.Row) (c StatusCount, err error) {
				return c, r.Scan(&c.Status, &c.Name, &c.Group, &c.Jobs)
			}); err != nil {
				return fmt.Errorf("jobs by status: %w", err)
			}
			if rep.CreatedPerDay, err = collect(ctx, tx, statusCreatedPerDaySQL, func(r pgx.Row) (d DayCount, err error) {
				err = r.Scan(&d.Day, &d.Jobs)
				d.Day = d.Day.UTC()
				return d, err
			}, opts.Days); err != nil {
				return fmt.Errorf("jobs created per day: %w", err)
			}
			if rep.Durations, err = durationBuckets(ctx, tx); err != nil {
				return fmt.Errorf("durations: %w", err)
			}
			if rep.Leases, err = collect(ctx, tx, statusLeasesSQL, func(r pgx.Row) (l Lease, err error) {
				return l, r.Scan(&l.Source, &l.RunID, &l.Host, &l.PID, &l.AcquiredAt, &l.ExpiresAt)
			}); err != nil {
				return fmt.Errorf("leases: %w", err)
			}
			var haveQueue bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass('river.river_job') IS NOT NULL`).Scan(&haveQueue); err != nil {
				return fmt.Errorf("queue: %w", err)
			}
			if haveQueue {
				if rep.Queue, err = collect(ctx, tx, statusQueueSQL, func(r pgx.Row) (q QueueCount, err error) {
					return q, r.Scan(&q.Kind, &q.State, &q.Jobs, &q.Oldest)
				}); err != nil {
					return fmt.Errorf("queue: %w", err)
				}
				if rep.Queue == nil {
					rep.Queue = []QueueCount{}
				}
			}
			if rep.RecentRuns, err = collect(ctx, tx, statusRunsSQL, scanRunRecord, opts.Runs); err != nil {
				return fmt.Errorf("recent runs: %w", err)
			}
			if rep.StatusChanges, err = collect(ctx, tx, statusChangesSQL, func(r pgx.Row) (c JobChange, err error) {
				err = r.Scan(&c.Source, &c.JobID, &c.JobName, &c.From.Status, &c.From.Name, &c.From.Group,
					&c.To.Status, &c.To.Name, &c.To.Group, &c.At, &c.IsDeleted)
				c.At = c.At.UTC()
				return c, err
			}, opts.Changes); err != nil {
				return fmt.Errorf("status changes: %w", err)
			}
			return nil
		})
	if err != nil {
		return StatusReport{}, fmt.Errorf("status report: %w", interpretError(err))
	}
	rep.Now = rep.Now.UTC()
	return rep, nil
}

func durationBuckets(ctx context.Context, tx pgx.Tx) ([]DurationBucket, error) {
	buckets := make([]DurationBucket, len(DurationBounds)+1)
	for i, b := range DurationBounds {
		buckets[i+1].Min = b
		buckets[i].Max = b
	}
	rows, err := tx.Query(ctx, statusDurationsSQL)
	if err != nil {
		return nil, err
	}
	var bucket int16
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&bucket, &n}, func() error {
		if bucket < 0 || int(bucket) >= len(buckets) {
			return fmt.Errorf("source_job_counts has duration bucket %d", bucket)
		}
		buckets[bucket].Jobs = n
		return nil
	})
	return buckets, err
}

func scanSourceHealth(r pgx.Row) (h SourceHealth, err error) {
	var finished, success, errAt, pendingSince, listed, head, change *time.Time
	err = r.Scan(&h.Source, &h.LastRunID, &h.LastRunState, &h.LastRunStartedAt, &finished, &h.LastRunError,
		&success, &errAt, &h.LastError, &h.Runs24h, &h.FailedRuns24h, &h.LiveJobs, &h.RunningJobs,
		&h.PendingDeletions, &pendingSince, &listed, &head, &change)
	h.LastListedAt, h.LastHeadWalkAt, h.LastChangeAt = utc(listed), utc(head), utc(change)
	h.LastRunStartedAt = h.LastRunStartedAt.UTC()
	h.PendingSince = utc(pendingSince)
	h.LastRunFinishedAt, h.LastSuccessAt, h.LastErrorAt = utc(finished), utc(success), utc(errAt)
	return h, err
}

func scanRunRecord(r pgx.Row) (run RunRecord, err error) {
	var finished *time.Time
	err = r.Scan(&run.ID, &run.Source, &run.State, &run.StartedAt, &finished, &run.JobsSeen, &run.Inserted,
		&run.Updated, &run.Deleted, &run.Error, &run.Kind, &run.Pages, &run.APITotalCount)
	run.StartedAt, run.FinishedAt = run.StartedAt.UTC(), utc(finished)
	return run, err
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func collect[T any](ctx context.Context, tx pgx.Tx, sql string, scan func(pgx.Row) (T, error), args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// Table is the answer of a query as text, each cell as PostgreSQL prints it (the text output format,
// as psql shows it, in the session's TimeZone and DateStyle).
type Table struct {
	Columns []string
	Numeric []bool // Numeric[j]: column j has a number type (psql aligns those to the right)
	Rows    [][]string
	Nulls   [][]bool // Nulls[i][j]: the cell Rows[i][j] is NULL (its text is empty)
}

// ErrNotReadOnly: QueryTable was given a statement that writes.
var ErrNotReadOnly = errors.New("statement is not read-only")

// QueryTable runs one SQL statement, with no parameters, in a read-only transaction, and returns its
// answer as text: for documented queries and ad-hoc reports. A statement that tries to write fails
// with an error wrapping ErrNotReadOnly.
func (s *Store) QueryTable(ctx context.Context, sql string) (*Table, error) {
	var t Table
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The simple protocol answers in the text format, whatever the column types.
		rows, err := tx.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return err
		}
		defer rows.Close()
		for _, f := range rows.FieldDescriptions() {
			t.Columns = append(t.Columns, f.Name)
			switch f.DataTypeOID {
			case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.NumericOID, pgtype.Float4OID, pgtype.Float8OID, pgtype.OIDOID:
				t.Numeric = append(t.Numeric, true)
			default:
				t.Numeric = append(t.Numeric, false)
			}
		}
		for rows.Next() {
			raw := rows.RawValues()
			row, nulls := make([]string, len(raw)), make([]bool, len(raw))
			for i, v := range raw {
				row[i], nulls[i] = string(v), v == nil
			}
			t.Rows = append(t.Rows, row)
			t.Nulls = append(t.Nulls, nulls)
		}
		return rows.Err()
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "25006" { // read_only_sql_transaction
			return nil, fmt.Errorf("query: %w: %w", ErrNotReadOnly, err)
		}
		return nil, fmt.Errorf("query: %w", interpretError(err))
	}
	return &t, nil
}

//go:embed sql/status_changes.sql
var statusChangesSQL string
