package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SourceCounts is what the database holds of one source.
type SourceCounts struct {
	Jobs, Versions, Runs, BadItems, Candidates int64
}

// Empty says whether the source has nothing in the database.
func (c SourceCounts) Empty() bool { return c == SourceCounts{} }

const (
	countSourceSQL = `
		SELECT (SELECT count(*) FROM modelarts.visualization_jobs WHERE source = $1),
		       (SELECT count(*) FROM modelarts.visualization_job_history WHERE source = $1),
		       (SELECT count(*) FROM modelarts.sync_runs WHERE source = $1),
		       (SELECT count(*) FROM modelarts.bad_items WHERE source = $1),
		       (SELECT count(*) FROM modelarts.deletion_candidates WHERE source = $1)`

	// The source's lease (run.go), taken for the transaction only: the row is deleted before the
	// commit, and a run that tries meanwhile waits for the commit, then finds it free.
	takeForgetLeaseSQL = `
		INSERT INTO modelarts.source_leases AS l (source, run_id, hostname, pid, acquired_at, expires_at)
		VALUES ($1, NULL, NULL, NULL, now(), now() + interval '1 hour')
		ON CONFLICT (source) DO UPDATE SET run_id = NULL, acquired_at = now(), expires_at = excluded.expires_at
		WHERE l.expires_at < now()
		RETURNING true`
	dropForgetLeaseSQL = `DELETE FROM modelarts.source_leases WHERE source = $1`

	forgetCandidatesSQL = `DELETE FROM modelarts.deletion_candidates WHERE source = $1`
	forgetHistorySQL    = `DELETE FROM modelarts.visualization_job_history WHERE source = $1`
	forgetBadItemsSQL   = `DELETE FROM modelarts.bad_items WHERE source = $1`
	forgetJobsSQL       = `DELETE FROM modelarts.visualization_jobs WHERE source = $1`
	forgetRunsSQL       = `DELETE FROM modelarts.sync_runs WHERE source = $1`
	forgetSettingsSQL   = `DELETE FROM modelarts.source_settings WHERE source = $1`
)

// forgetFiguresSQL deletes the per-source figures (migrations 00017 and 00023), after the rows they count.
var forgetFiguresSQL = []string{
	`DELETE FROM modelarts.source_sync_state WHERE source = $1`,
	`DELETE FROM modelarts.sync_run_counts WHERE source = $1`,
	`DELETE FROM modelarts.sync_run_daily_counts WHERE source = $1`,
	`DELETE FROM modelarts.source_job_counts WHERE source = $1`,
	`DELETE FROM modelarts.source_created_days WHERE source = $1`,
}

// CountSource counts the rows of source in every table.
func (s *Store) CountSource(ctx context.Context, source string) (SourceCounts, error) {
	var c SourceCounts
	if err := s.pool.QueryRow(ctx, countSourceSQL, source).Scan(&c.Jobs, &c.Versions, &c.Runs, &c.BadItems, &c.Candidates); err != nil {
		return c, fmt.Errorf("count source %s: %w", source, interpretError(err))
	}
	return c, nil
}

// ForgetSource deletes every row of source (jobs, their history, deletion candidates, bad items, its
// runs in the ledger, its recorded settings and its figures) in one transaction, and returns what it deleted. It returns an error wrapping
// ErrSourceBusy when a run of the source is in progress.
func (s *Store) ForgetSource(ctx context.Context, source string) (SourceCounts, error) {
	var c SourceCounts
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var locked bool
		err := tx.QueryRow(ctx, takeForgetLeaseSQL, source).Scan(&locked)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if !locked {
			return fmt.Errorf("%w: a run of source %s is in progress; try again when it has ended", ErrSourceBusy, source)
		}
		for _, st := range []struct {
			sql string
			n   *int64
		}{{forgetCandidatesSQL, &c.Candidates}, {forgetHistorySQL, &c.Versions}, {forgetBadItemsSQL, &c.BadItems}, {forgetJobsSQL, &c.Jobs}, {forgetRunsSQL, &c.Runs}} {
			tag, err := tx.Exec(ctx, st.sql, source)
			if err != nil {
				return err
			}
			*st.n = tag.RowsAffected()
		}
		if _, err := tx.Exec(ctx, forgetSettingsSQL, source); err != nil { // what the configuration said of it
			return err
		}
		for _, sql := range forgetFiguresSQL {
			if _, err := tx.Exec(ctx, sql, source); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, dropForgetLeaseSQL, source)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrSourceBusy) {
			return SourceCounts{}, err
		}
		return SourceCounts{}, fmt.Errorf("forget source %s: %w", source, interpretError(err))
	}
	return c, nil
}

const sourcesSQL = `
	SELECT source FROM modelarts.sync_runs
	UNION
	SELECT source FROM modelarts.visualization_jobs
	ORDER BY 1`

// Sources lists every source that has a run or a job in the database.
func (s *Store) Sources(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, sourcesSQL)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", interpretError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", interpretError(err))
	}
	return out, nil
}
