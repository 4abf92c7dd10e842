package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// The first sync of a source: every job is new, and inserting it with its first version is all the
// work (insert_new_jobs.sql). That work is the server's: two heap rows, the index entries of both
// tables and two foreign-key checks per job, on one server process, one core, per connection.

// querier is a transaction, or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// insertNew inserts rows as new jobs with their first versions (insert_new_jobs.sql), in tx, and
// returns the ids it inserted: those of jobs the source did not hold.
//
// Splitting a batch over two connections, to keep two server processes busy, was measured: 27% more
// jobs a second in process (BenchmarkWritePath/first), but a slower end-to-end first sync of
// 1 000 000 jobs on a 2-core machine where the fetch, the decoding and the server share the cores,
// and it held a second pooled connection for the whole run and committed half of each batch apart
// from the run's transaction. It was not kept.
func (r *Run) insertNew(ctx context.Context, tx querier, rows []stagedJob, observedAt time.Time) ([]int64, error) {
	inserted, err := tx.Query(ctx, insertNewJobsSQL, append([]any{r.source, observedAt, r.id}, arrays(rows)...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(inserted, pgx.RowTo[int64])
}
