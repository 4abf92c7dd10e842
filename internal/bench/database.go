package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/vizjob/indexer/internal/store/pgadmin"
)

// What the benchmark asks of its scratch database besides the store's own work: the rows written to
// the job and history tables as the statistics system counts them, a quiet state between the phases
// it measures, and what the ledger recorded for the last run.

// TableWrites counts the rows written to one table: n_tup_ins, n_tup_upd (HOT updates included) and
// n_tup_del of pg_stat_user_tables.
type TableWrites struct {
	Inserted, Updated, Deleted int64
}

// Total is every row written.
func (w TableWrites) Total() int64 { return w.Inserted + w.Updated + w.Deleted }

// Sub returns the writes made since o was read.
func (w TableWrites) Sub(o TableWrites) TableWrites {
	return TableWrites{w.Inserted - o.Inserted, w.Updated - o.Updated, w.Deleted - o.Deleted}
}

// Writes are the rows written to modelarts.visualization_jobs and modelarts.visualization_job_history.
type Writes struct {
	Jobs, History TableWrites
}

// Sub returns the writes made since o was read.
func (w Writes) Sub(o Writes) Writes { return Writes{w.Jobs.Sub(o.Jobs), w.History.Sub(o.History)} }

// lastRun is what the ledger recorded for a run, as far as the benchmark reads it.
type lastRun struct {
	State           string
	Requests, Pages int
	JobsSeen        int64
	Error           string
}

const (
	writesSQL = `
		SELECT coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'visualization_jobs'), 0),
		       coalesce(sum(n_tup_upd) FILTER (WHERE relname = 'visualization_jobs'), 0),
		       coalesce(sum(n_tup_del) FILTER (WHERE relname = 'visualization_jobs'), 0),
		       coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'visualization_job_history'), 0),
		       coalesce(sum(n_tup_upd) FILTER (WHERE relname = 'visualization_job_history'), 0),
		       coalesce(sum(n_tup_del) FILTER (WHERE relname = 'visualization_job_history'), 0)
		FROM pg_stat_user_tables
		WHERE schemaname = 'modelarts' AND relname IN ('visualization_jobs', 'visualization_job_history')`

	// Sessions of other programs on this database: their pending counters may not be flushed yet.
	otherSessionsSQL = `
		SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend'
		  AND application_name IS DISTINCT FROM current_setting('application_name')`

	lastRunSQL = `
		SELECT state, requests, pages, jobs_seen, coalesce(error, '')
		FROM modelarts.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT 1`

	settleSQL = `VACUUM (ANALYZE) modelarts.visualization_jobs, modelarts.visualization_job_history`
)

// database is a session on the scratch database, under the benchmark's own application_name (see
// writes).
type database struct {
	s *pgadmin.Session
}

// writes returns the rows written so far to the job and history tables of this database, once the
// counters have settled. Each session flushes its counters to the statistics system on its own
// schedule (at most once a second while it works, and when it ends), so writes waits until no session
// of another program (another application_name, see pgadmin.WithApplicationName) is connected to the
// database (a command that exited has flushed when its session is gone) and two reads 200 ms apart
// agree, for up to a minute.
func (d database) writes(ctx context.Context) (Writes, error) {
	read := func() (Writes, int64, error) {
		var w Writes
		var others int64
		if err := d.s.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			return w, 0, err
		}
		if err := d.s.QueryRow(ctx, []any{&w.Jobs.Inserted, &w.Jobs.Updated, &w.Jobs.Deleted,
			&w.History.Inserted, &w.History.Updated, &w.History.Deleted}, writesSQL); err != nil {
			return w, 0, err
		}
		err := d.s.QueryRow(ctx, []any{&others}, otherSessionsSQL)
		return w, others, err
	}
	last, _, err := read()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Minute); err == nil; {
		select {
		case <-ctx.Done():
			return Writes{}, ctx.Err()
		case <-tick.C:
		}
		w, others, rerr := read()
		if err = rerr; err != nil {
			break
		}
		if (w == last && others == 0) || time.Now().After(deadline) {
			return w, nil
		}
		last = w
	}
	return Writes{}, fmt.Errorf("table writes: %w", err)
}

// settle brings the job and history tables to the state autovacuum leaves them in between two
// scheduled runs (VACUUM (ANALYZE): hint bits set, visibility map and statistics current), then asks
// for a checkpoint so that the next phase does not pay for the previous one's dirty pages. A
// checkpoint needs a superuser or pg_checkpoint: without the right, it is skipped.
func (d database) settle(ctx context.Context) error {
	if err := d.s.Exec(ctx, settleSQL); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	_ = d.s.Exec(ctx, `CHECKPOINT`)
	return nil
}

// lastRun returns what the ledger recorded for the latest run of source.
func (d database) lastRun(ctx context.Context, source string) (lastRun, error) {
	var r lastRun
	if err := d.s.QueryRow(ctx, []any{&r.State, &r.Requests, &r.Pages, &r.JobsSeen, &r.Error}, lastRunSQL, source); err != nil {
		return r, fmt.Errorf("last run of %q: %w", source, err)
	}
	return r, nil
}
