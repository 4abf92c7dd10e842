package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobCount is the number of live (not deleted) jobs of one source in one status.
type JobCount struct {
	Source     string
	Status     int
	StatusName string // from modelarts.job_statuses; UNDOCUMENTED_<code> for an undocumented code, as in the views
	Jobs       int64
}

// SourceSuccess is when the last succeeded run of a source finished.
type SourceSuccess struct {
	Source     string
	FinishedAt time.Time
}

// SourceFigures are a source's figures for /metrics, read from the row of source_sync_state that
// triggers keep: one row a source, whatever the ledger and the jobs hold.
type SourceFigures struct {
	Source                string
	LiveJobs, RunningJobs int64
	LastSuccessAt         time.Time // zero: never
	LastListedAt          time.Time // zero: never (since the ledger records it)
	LastHeadWalkAt        time.Time // zero: never
}

const (
	// Live jobs by source and status from source_job_counts (its rows of one source, summed over the
	// duration buckets).
	countJobsSQL = `
		SELECT c.source, c.status, coalesce(s.name, 'UNDOCUMENTED_' || c.status), sum(c.jobs)::bigint
		FROM modelarts.source_job_counts c
		LEFT JOIN modelarts.job_statuses s ON s.code = c.status
		WHERE c.source = ANY($1::text[]) AND NOT c.deleted
		GROUP BY 1, 2, 3
		HAVING sum(c.jobs) > 0
		ORDER BY 1, 2`

	// One row of source_sync_state per source: the last run of either kind that succeeded.
	lastSuccessSQL = `
		SELECT source, last_any_success_at
		FROM modelarts.source_sync_state
		WHERE source = ANY($1::text[]) AND last_any_success_at IS NOT NULL
		ORDER BY 1`

	// One row of source_sync_state per source (live and running jobs included).
	sourceFiguresSQL = `
		SELECT src.source, coalesce(st.live_jobs, 0), coalesce(st.running_jobs, 0),
		       st.last_any_success_at, st.last_listed_at, st.last_head_walk_at
		FROM unnest($1::text[]) AS src(source)
		LEFT JOIN modelarts.source_sync_state AS st ON st.source = src.source
		ORDER BY 1`
)

// SourceFigures reads the figures of sources for /metrics, one row per source given (zero figures
// for a source the database knows nothing of).
func (s *Store) SourceFigures(ctx context.Context, sources []string) ([]SourceFigures, error) {
	var out []SourceFigures
	err := s.readTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sourceFiguresSQL, sources)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SourceFigures, error) {
			var f SourceFigures
			var success, listed, head *time.Time
			err := r.Scan(&f.Source, &f.LiveJobs, &f.RunningJobs, &success, &listed, &head)
			f.LastSuccessAt, f.LastListedAt, f.LastHeadWalkAt = utc(success), utc(listed), utc(head)
			return f, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("source figures: %w", interpretError(err))
	}
	return out, nil
}

// CountJobs counts the live jobs of sources by status, for metrics.
func (s *Store) CountJobs(ctx context.Context, sources []string) ([]JobCount, error) {
	var out []JobCount
	err := s.readTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, countJobsSQL, sources)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (JobCount, error) {
			var c JobCount
			err := r.Scan(&c.Source, &c.Status, &c.StatusName, &c.Jobs)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", interpretError(err))
	}
	return out, nil
}

// LastSuccesses returns, for each of sources that ever succeeded, when its last succeeded run finished
// (any process's run: the ledger is shared by replicas).
func (s *Store) LastSuccesses(ctx context.Context, sources []string) ([]SourceSuccess, error) {
	var out []SourceSuccess
	err := s.readTx(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lastSuccessSQL, sources)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SourceSuccess, error) {
			var x SourceSuccess
			err := r.Scan(&x.Source, &x.FinishedAt)
			return x, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("last successes: %w", interpretError(err))
	}
	return out, nil
}

// PoolSize is the most connections the pool opens (pool_max_conns in the URL; else DefaultMaxConns).
// A run holds one for its whole duration.
func (s *Store) PoolSize() int { return int(s.pool.Config().MaxConns) }
