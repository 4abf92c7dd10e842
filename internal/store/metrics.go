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

const (
	countJobsSQL = `
		SELECT j.source, j.status, coalesce(s.name, 'UNDOCUMENTED_' || j.status), count(*)
		FROM modelarts.visualization_jobs j
		LEFT JOIN modelarts.job_statuses s ON s.code = j.status
		WHERE j.source = ANY($1::text[]) AND j.deleted_at IS NULL
		GROUP BY 1, 2, 3
		ORDER BY 1, 2`

	// One index probe per source (sync_runs_source_started_at_idx), however long the ledger.
	lastSuccessSQL = `
		SELECT src.source, r.finished_at
		FROM unnest($1::text[]) AS src(source)
		CROSS JOIN LATERAL (
			SELECT finished_at FROM modelarts.sync_runs
			WHERE source = src.source AND state = 'succeeded' AND finished_at IS NOT NULL
			ORDER BY started_at DESC
			LIMIT 1
		) r
		ORDER BY 1`
)

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
