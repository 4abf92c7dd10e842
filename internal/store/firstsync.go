package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The first sync of a source: every job is new, and inserting it with its first version is all the
// work (insert_new_jobs.sql). That work is the server's: two heap rows, the index entries of both
// tables and two foreign-key checks per job, on one server process, one core, per connection.

// querier is a transaction, or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// minSplit is the fewest new jobs a first sync's batch must have for half of it to go through the
// run's second connection.
const minSplit = 200

// insertNew inserts rows as new jobs with their first versions (insert_new_jobs.sql), in tx, and
// returns the ids it inserted: those of jobs the source did not hold. A batch of minSplit rows or
// more is split in two, the second half inserted at the same time on a second connection of the pool
// in a transaction of its own (committed before insertNew returns), so that a first sync keeps two
// server processes busy instead of one: its cost is the index and foreign-key maintenance of every
// inserted row, which is server CPU. Without a second connection to spare, tx inserts them all.
func (r *Run) insertNew(ctx context.Context, tx querier, rows [][]any, observedAt time.Time) ([]int64, error) {
	if len(rows) < minSplit || r.secondConn(ctx) == nil {
		return r.insertNewOn(ctx, tx, rows, observedAt)
	}
	half := len(rows) / 2
	var (
		other    []int64
		otherErr error
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		otherErr = pgx.BeginFunc(ctx, r.second, func(tx pgx.Tx) error {
			var err error
			other, err = r.insertNewOn(ctx, tx, rows[half:], observedAt)
			return err
		})
	}()
	ids, err := r.insertNewOn(ctx, tx, rows[:half], observedAt)
	<-done
	if err == nil && otherErr != nil {
		// Not knowing what state it is in, the second connection is closed rather than reused.
		_ = r.second.Conn().Close(context.WithoutCancel(ctx))
		r.second.Release()
		r.second, r.noSecond = nil, true
		err = fmt.Errorf("second connection: %w", otherErr)
	}
	return append(ids, other...), err
}

// insertNewOn runs insert_new_jobs.sql for rows on q.
func (r *Run) insertNewOn(ctx context.Context, q querier, rows [][]any, observedAt time.Time) ([]int64, error) {
	inserted, err := q.Query(ctx, insertNewJobsSQL, append([]any{r.source, observedAt, r.id}, columns(rows)...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(inserted, pgx.RowTo[int64])
}

// setSecondSQL sets on the second connection what create_run_tables.sql sets on the run's own.
const setSecondSQL = `SET gin_pending_list_limit = '64MB'`

// secondConn returns the run's second connection, acquiring it at the first call if the pool has a
// connection to spare (more than one free), else nil. It is released by Finish.
func (r *Run) secondConn(ctx context.Context) *pgxpool.Conn {
	if r.second != nil || r.noSecond {
		return r.second
	}
	r.noSecond = true // one attempt per run
	if st := r.store.pool.Stat(); st.MaxConns()-st.AcquiredConns() < 2 {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := r.store.pool.Acquire(actx)
	if err != nil {
		return nil
	}
	if _, err := c.Exec(ctx, setSecondSQL); err != nil {
		_ = c.Conn().Close(context.WithoutCancel(ctx))
		c.Release()
		return nil
	}
	r.second, r.noSecond = c, false
	return c
}

// releaseSecond gives the second connection back to the pool, clean, or closes it. First it asks the
// server to flush the session's table statistics (PostgreSQL 15 and later; without the right, or
// before 15, nothing happens): pg_stat_user_tables counts the run's writes when the run ends, as it
// does when the session ends, instead of whenever the pooled session next works.
func (r *Run) releaseSecond(ctx context.Context) {
	if r.second == nil {
		return
	}
	major, _, _ := strings.Cut(r.second.Conn().PgConn().ParameterStatus("server_version"), ".")
	if n, err := strconv.Atoi(major); err == nil && n >= 15 {
		_, _ = r.second.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
	}
	if _, err := r.second.Exec(ctx, `RESET gin_pending_list_limit`); err != nil {
		_ = r.second.Conn().Close(context.WithoutCancel(ctx))
	}
	r.second.Release()
	r.second = nil
}
