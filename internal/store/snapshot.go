package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SourceSnapshot is what the database holds of one source: the live jobs as
// last received, and the largest job id ever recorded (deleted jobs included).
type SourceSnapshot struct {
	Live     [][]byte // raw items of the jobs not marked deleted, by job_id
	MaxJobID int64    // 0 when the source has no job
	Jobs     int64    // rows of the source, deleted ones included
}

const snapshotSQL = `
	SELECT raw::text FROM modelarts.visualization_jobs
	WHERE source = $1 AND deleted_at IS NULL
	ORDER BY job_id`

const snapshotMaxSQL = `
	SELECT coalesce(max(job_id), 0), count(*) FROM modelarts.visualization_jobs WHERE source = $1`

// Snapshot reads what the database holds of source, so that a simulator can
// resume from it (indexer demo restarted on the same database).
func (s *Store) Snapshot(ctx context.Context, source string) (SourceSnapshot, error) {
	var snap SourceSnapshot
	if err := s.pool.QueryRow(ctx, snapshotMaxSQL, source).Scan(&snap.MaxJobID, &snap.Jobs); err != nil {
		return snap, fmt.Errorf("snapshot of %s: %w", source, interpretError(err))
	}
	rows, err := s.pool.Query(ctx, snapshotSQL, source)
	if err != nil {
		return snap, fmt.Errorf("snapshot of %s: %w", source, interpretError(err))
	}
	snap.Live, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]byte, error) {
		var raw string
		err := r.Scan(&raw)
		return []byte(raw), err
	})
	if err != nil {
		return snap, fmt.Errorf("snapshot of %s: %w", source, interpretError(err))
	}
	return snap, nil
}
