package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// What `indexer bench` needs from the database: a scratch database of its own, the rows written to the
// job and history tables as the statistics system counts them, a quiet state between the phases it
// measures, and the floor of a sync (the same rows COPYed into an empty table).

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
		SELECT state, walks, pages, requests, retries, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted,
		       bad_items, coalesce(api_total_count, 0), coalesce(error, '')
		FROM modelarts.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT 1`

	floorTableSQL = `
		DROP TABLE IF EXISTS public.vizjob_bench_floor;
		CREATE TABLE public.vizjob_bench_floor (LIKE modelarts.visualization_jobs)`

	dropFloorSQL = `DROP TABLE IF EXISTS public.vizjob_bench_floor`
)

var (
	floorTable   = pgx.Identifier{"public", "vizjob_bench_floor"}
	floorColumns = append(append([]string{"source"}, stagingColumns...), "first_seen_at", "last_seen_at", "last_changed_at")
)

// Writes returns the rows written so far to the job and history tables of this database, once the
// counters have settled. Each session flushes its counters to the statistics system on its own
// schedule (at most once a second while it works, and when it ends), so Writes waits until no session
// of another program (another application_name, see WithApplicationName) is connected to the database
// (a command that exited has flushed when its session is gone) and two reads 200 ms apart agree, for
// up to a minute.
func (s *Store) Writes(ctx context.Context) (Writes, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Writes{}, fmt.Errorf("table writes: %w", interpretError(err))
	}
	defer conn.Release()
	read := func() (Writes, int64, error) {
		var w Writes
		var others int64
		if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			return w, 0, err
		}
		if err := conn.QueryRow(ctx, writesSQL).Scan(&w.Jobs.Inserted, &w.Jobs.Updated, &w.Jobs.Deleted,
			&w.History.Inserted, &w.History.Updated, &w.History.Deleted); err != nil {
			return w, 0, err
		}
		err := conn.QueryRow(ctx, otherSessionsSQL).Scan(&others)
		return w, others, err
	}
	last, _, err := read()
	for deadline := time.Now().Add(time.Minute); err == nil; {
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return Writes{}, err
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
	return Writes{}, fmt.Errorf("table writes: %w", interpretError(err))
}

// Settle brings the job and history tables to the state autovacuum leaves them in between two
// scheduled runs (VACUUM (ANALYZE): hint bits set, visibility map and statistics current), then asks
// for a checkpoint so that the next phase does not pay for the previous one's dirty pages. A
// checkpoint needs a superuser or pg_checkpoint: without the right, it is skipped.
func (s *Store) Settle(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `VACUUM (ANALYZE) modelarts.visualization_jobs, modelarts.visualization_job_history`); err != nil {
		return fmt.Errorf("settle: %w", interpretError(err))
	}
	_, _ = s.pool.Exec(ctx, `CHECKPOINT`)
	return nil
}

// LastRun returns what the ledger recorded for the latest run of source.
func (s *Store) LastRun(ctx context.Context, source string) (RunStats, error) {
	var st RunStats
	err := s.pool.QueryRow(ctx, lastRunSQL, source).Scan(&st.State, &st.Walks, &st.Pages, &st.Requests, &st.Retries,
		&st.JobsSeen, &st.Inserted, &st.Updated, &st.Deleted, &st.BadItems, &st.APITotalCount, &st.Error)
	if err != nil {
		return st, fmt.Errorf("last run of %q: %w", source, interpretError(err))
	}
	return st, nil
}

// ServerVersion returns the server's version string, e.g. "PostgreSQL 17.2 on x86_64-pc-linux-gnu".
func (s *Store) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := s.pool.QueryRow(ctx, `SELECT version()`).Scan(&v); err != nil {
		return "", fmt.Errorf("server version: %w", interpretError(err))
	}
	if i := strings.Index(v, ", compiled by"); i > 0 {
		v = v[:i]
	}
	return v, nil
}

// CopyFloor is the floor of a sync's writes: it creates the empty table public.vizjob_bench_floor
// shaped like modelarts.visualization_jobs (no index, no constraint but NOT NULL) and COPYs into it,
// in one statement, the rows UpsertPage would store for every job next returns (fingerprint included),
// until next returns no job. It returns the rows copied. DropFloor removes the table.
func (s *Store) CopyFloor(ctx context.Context, source string, observedAt time.Time, next func() ([]Job, error)) (int64, error) {
	if _, err := s.pool.Exec(ctx, floorTableSQL); err != nil {
		return 0, fmt.Errorf("floor table: %w", interpretError(err))
	}
	var page [][]any
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for len(page) == 0 {
			jobs, err := next()
			if err != nil || len(jobs) == 0 {
				return nil, err
			}
			jobs = lastOccurrences(jobs)
			ids, sums := make([]int64, len(jobs)), make([][]byte, len(jobs))
			for i, j := range jobs {
				ids[i], sums[i] = j.JobID, j.fingerprint()
			}
			if page, err = stagingRows(jobs, sums, ids); err != nil {
				return nil, err
			}
		}
		row := append(append([]any{source}, page[0]...), observedAt, observedAt, observedAt)
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

// CreateScratchDatabase creates the empty database name on the server adminURL points at (a role
// allowed to create databases) and returns a URL of it: adminURL with its database replaced.
func CreateScratchDatabase(ctx context.Context, adminURL, name string) (string, error) {
	u, err := withDatabase(adminURL, name)
	if err != nil {
		return "", err
	}
	if err := adminExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return u, nil
}

// DropScratchDatabase drops the database name, ending the sessions still connected to it.
func DropScratchDatabase(ctx context.Context, adminURL, name string) error {
	if err := adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func adminExec(ctx context.Context, adminURL, sql string) error {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return fmt.Errorf("invalid database URL: %s", parseErrorText(err, adminURL))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return redact(interpretError(err), cfg.Password)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return redact(interpretError(err), cfg.Password)
}

// withDatabase returns databaseURL (a postgres:// URL or a keyword/value string) naming database name
// instead of its own.
func withDatabase(databaseURL, name string) (string, error) {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return "", errors.New("invalid database URL")
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	return strings.TrimSpace(databaseURL + " dbname=" + name), nil // a later dbname wins
}

// WithApplicationName returns databaseURL (a postgres:// URL or a keyword/value string) with its
// application_name set to name.
func WithApplicationName(databaseURL, name string) (string, error) {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return "", errors.New("invalid database URL")
		}
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(databaseURL + " application_name=" + name), nil // a later setting wins
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
