package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The floor of a sync's writes, for `indexer bench`: the rows UpsertPage would store, COPYed into an
// empty table without index. It lives here because it needs the store's row encoding; the rest of what
// the benchmark asks of the database is in package bench.

const (
	floorTableSQL = `
		DROP TABLE IF EXISTS public.vizjob_bench_floor;
		CREATE TABLE public.vizjob_bench_floor (LIKE modelarts.visualization_jobs)`

	dropFloorSQL = `DROP TABLE IF EXISTS public.vizjob_bench_floor`
)

var (
	floorTable   = pgx.Identifier{"public", "vizjob_bench_floor"}
	floorColumns = append(append([]string{"source"}, stagedColumnNames()...), "first_seen_at", "last_seen_at", "last_changed_at")
)

// CopyFloor is the floor of a sync's writes: it creates the empty table public.vizjob_bench_floor
// shaped like modelarts.visualization_jobs (no index, no constraint but NOT NULL) and COPYs into it,
// in one statement, the rows UpsertPage would store for every job next returns (fingerprint included),
// until next returns no job. It returns the rows copied. DropFloor removes the table.
func (s *Store) CopyFloor(ctx context.Context, source string, observedAt time.Time, next func() ([]Job, error)) (int64, error) {
	if _, err := s.pool.Exec(ctx, floorTableSQL); err != nil {
		return 0, fmt.Errorf("floor table: %w", interpretError(err))
	}
	var page []stagedJob
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for len(page) == 0 {
			jobs, err := next()
			if err != nil || len(jobs) == 0 {
				return nil, err
			}
			jobs = lastOccurrences(jobs)
			all := make([]int, len(jobs))
			for i := range all {
				all[i] = i
			}
			if page, err = stageJobs(jobs, fingerprints(jobs), all); err != nil {
				return nil, err
			}
		}
		row := append(copyRow(&page[0], source), observedAt, observedAt, observedAt)
		page = page[1:]
		return row, nil
	})
	n, err := s.pool.CopyFrom(ctx, floorTable, floorColumns, src)
	if err != nil {
		return n, fmt.Errorf("floor copy: %w", interpretError(err))
	}
	return n, nil
}

// DropFloor drops the table CopyFloor made.
func (s *Store) DropFloor(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, dropFloorSQL); err != nil {
		return fmt.Errorf("drop floor table: %w", interpretError(err))
	}
	return nil
}
