package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Retention of the run ledger: the daemon calls PruneLedger on one replica at a time, in the manner of
// river's job cleaner (small batches, each its own short transaction, rows another transaction holds
// skipped). The counts of pruned runs stay in modelarts.sync_run_counts, hour by hour, then, past the
// same retention as the runs that changed something, day by day in modelarts.sync_run_daily_counts;
// the runs that modelarts.source_sync_state names (the latest of each kind, the last success, listing,
// head walk, change and error of each source) are never pruned.

// LedgerRetention says which runs PruneLedger deletes. A zero duration keeps those runs forever.
type LedgerRetention struct {
	// KeepNoop: runs that ended succeeded or partial having inserted, updated and deleted no job are
	// deleted once they ended longer ago than this.
	KeepNoop time.Duration
	// Keep: every other run that ended (changed a job, or failed) is deleted once it ended longer
	// ago than this; and the hourly counts of runs (sync_run_counts) of the UTC days that ended
	// longer ago than this are folded into daily counts (sync_run_daily_counts).
	Keep time.Duration
	// Batch: runs deleted, or hourly counts folded, per transaction (default DefaultPruneBatch).
	Batch int
}

// DefaultPruneBatch is LedgerRetention.Batch's default: a batch deletes in a few milliseconds.
const DefaultPruneBatch = 1000

// PruneResult is what one PruneLedger call deleted.
type PruneResult struct {
	Noop  int64 // runs that wrote nothing
	Other int64 // older runs of any outcome
	// FoldedHours: rows of sync_run_counts (a source, kind and hour) folded into sync_run_daily_counts
	// and deleted; FoldedDays: rows of sync_run_daily_counts they were added to, summed over the
	// batches (a day folded in two batches counts twice).
	FoldedHours, FoldedDays int64
	Batches                 int
	// Busy: another process was pruning (it held the pruning lock when a batch began), so this call
	// stopped and left the rest to it.
	Busy bool
}

// pruneLockSQL takes the lock a batch of PruneLedger holds for its transaction, in the two-key space
// (apart from goose's one-key lock): pruneLockClass ("VIZJ") and the hash of a name of its own.
const pruneLockSQL = `SELECT pg_try_advisory_xact_lock($1::integer, hashtext('vizjob ledger pruning'))`

// pruneLockClass is the first key of the pruning lock.
const pruneLockClass int32 = 0x56495A4A

// Each statement deletes up to $2 runs that ended before $1 and that source_sync_state does not
// name; the no-op one skips (FOR UPDATE SKIP LOCKED) a row a run or another pruner holds. The no-op statement
// reads the partial index sync_runs_noop_finished_at_idx (only no-op runs are in it); the other reads
// each source's oldest runs from sync_runs_source_started_at_idx (a run started before $1 ended before
// it, or is still running and left alone). History versions the runs opened keep their rows (sync_run_id becomes
// null: the foreign key's ON DELETE SET NULL).
const (
	pruneNoopSQL = `
		DELETE FROM modelarts.sync_runs
		WHERE id IN (
			SELECT r.id
			FROM modelarts.sync_runs AS r
			WHERE r.state IN ('succeeded', 'partial')
			  AND r.jobs_inserted = 0 AND r.jobs_updated = 0 AND r.jobs_deleted = 0
			  AND r.finished_at < $1::timestamptz
			  AND NOT EXISTS (` + keptRunSQL + `)
			ORDER BY r.finished_at
			LIMIT $2::integer
			FOR UPDATE OF r SKIP LOCKED)`

	pruneOldSQL = `
		DELETE FROM modelarts.sync_runs
		WHERE id IN (
			SELECT r.id
			FROM modelarts.source_sync_state AS src
			CROSS JOIN LATERAL (
				SELECT r.id, r.source
				FROM modelarts.sync_runs AS r
				WHERE r.source = src.source AND r.started_at < $1::timestamptz AND r.state <> 'running'
				ORDER BY r.started_at
				LIMIT $2::integer
			) AS r
			WHERE NOT EXISTS (` + keptRunSQL + `)
			LIMIT $2::integer)`

	keptRunSQL = `SELECT 1 FROM modelarts.source_sync_state AS s
			WHERE s.source = r.source
			  AND r.id IN (s.last_full_run_id, s.last_head_run_id, s.last_success_run_id, s.last_listed_run_id,
			               s.last_head_walk_run_id, s.last_change_run_id, s.last_error_run_id)`
)

// foldRunCountsSQL folds up to $2 hourly rows of sync_run_counts, of the UTC days before the one $1
// falls in, into sync_run_daily_counts, and returns how many hourly rows it folded and how many daily
// rows it wrote. The hourly rows are deleted and their counts added to their day in one statement
// (the DELETE's RETURNING feeds the INSERT), so a count is never in both tables, nor in neither. They
// are found per source (source_sync_state, as pruneOldSQL) and kind (the two sync_runs' CHECK allows),
// each the oldest first from the primary key (source, kind, hour): a pruning with nothing to fold
// costs two index probes a source. They are deleted by their ctid (a TID scan; the row lock taken
// when they were picked keeps it theirs). A row the trigger of a run that is ending holds is skipped
// (SKIP LOCKED) and folded by a later pruning.
const foldRunCountsSQL = `
	WITH picked AS (
		SELECT c.ctid
		FROM modelarts.source_sync_state AS src
		CROSS JOIN (VALUES ('full'), ('head')) AS k(kind)
		CROSS JOIN LATERAL (
			SELECT c.ctid
			FROM modelarts.sync_run_counts AS c
			WHERE c.source = src.source AND c.kind = k.kind
			  AND c.hour < date_trunc('day', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
			ORDER BY c.hour
			LIMIT $2::integer
			FOR UPDATE SKIP LOCKED
		) AS c
		LIMIT $2::integer
	), folded AS (
		DELETE FROM modelarts.sync_run_counts AS c
		WHERE c.ctid = ANY (ARRAY(SELECT ctid FROM picked))
		RETURNING c.source, c.kind, (c.hour AT TIME ZONE 'UTC')::date AS day, c.runs, c.succeeded, c.partial,
		          c.failed, c.changed
	), days AS (
		INSERT INTO modelarts.sync_run_daily_counts AS d (source, kind, day, runs, succeeded, partial, failed, changed)
		SELECT source, kind, day, sum(runs), sum(succeeded), sum(partial), sum(failed), sum(changed)
		FROM folded
		GROUP BY 1, 2, 3
		ORDER BY 1, 2, 3
		ON CONFLICT (source, kind, day) DO UPDATE
			SET runs = d.runs + excluded.runs, succeeded = d.succeeded + excluded.succeeded,
			    partial = d.partial + excluded.partial, failed = d.failed + excluded.failed,
			    changed = d.changed + excluded.changed
		RETURNING 1
	)
	SELECT (SELECT count(*) FROM folded), (SELECT count(*) FROM days)`

// pruneBatch is what one batch of PruneLedger did: n rows deleted (runs, or hourly counts folded),
// and for a fold the daily rows written.
type pruneBatch struct{ n, days int64 }

// deleteRuns runs a statement that deletes up to limit runs older than cutoff.
func deleteRuns(sql string) func(context.Context, pgx.Tx, time.Time, int) (pruneBatch, error) {
	return func(ctx context.Context, tx pgx.Tx, cutoff time.Time, limit int) (pruneBatch, error) {
		tag, err := tx.Exec(ctx, sql, cutoff, limit)
		return pruneBatch{n: tag.RowsAffected()}, err
	}
}

// foldRunCounts folds up to limit hourly counts of runs of the days before cutoff's.
func foldRunCounts(ctx context.Context, tx pgx.Tx, cutoff time.Time, limit int) (pruneBatch, error) {
	var b pruneBatch
	err := tx.QueryRow(ctx, foldRunCountsSQL, cutoff, limit).Scan(&b.n, &b.days)
	return b, err
}

// PruneLedger deletes, in batches of ret.Batch runs, the runs of modelarts.sync_runs that ret says
// are old enough, and folds the hourly counts of runs of the days older than ret.Keep into daily
// counts, until none is left or ctx is done; it returns what it did (also with an error).
// Each batch is one short transaction, so a run that starts or ends meanwhile never waits on it for
// long. A batch first takes a transaction-level advisory lock (pg_try_advisory_xact_lock): when
// another process holds it, this call stops with Busy set, so one replica prunes at a time.
func (s *Store) PruneLedger(ctx context.Context, ret LedgerRetention) (PruneResult, error) {
	var res PruneResult
	batch := ret.Batch
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	steps := []struct {
		keep time.Duration
		run  func(context.Context, pgx.Tx, time.Time, int) (pruneBatch, error)
		add  func(pruneBatch)
	}{
		{ret.KeepNoop, deleteRuns(pruneNoopSQL), func(b pruneBatch) { res.Noop += b.n }},
		{ret.Keep, deleteRuns(pruneOldSQL), func(b pruneBatch) { res.Other += b.n }},
		{ret.Keep, foldRunCounts, func(b pruneBatch) { res.FoldedHours += b.n; res.FoldedDays += b.days }},
	}
	for _, step := range steps {
		if step.keep <= 0 {
			continue
		}
		for {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("prune ledger: %w", context.Cause(ctx))
			}
			cutoff := time.Now().Add(-step.keep)
			var done pruneBatch
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				var locked bool
				if err := tx.QueryRow(ctx, pruneLockSQL, pruneLockClass).Scan(&locked); err != nil {
					return err
				}
				if !locked {
					res.Busy = true
					return nil
				}
				var err error
				done, err = step.run(ctx, tx, cutoff, batch)
				return err
			})
			if err != nil {
				if ctx.Err() != nil {
					err = errors.Join(err, context.Cause(ctx))
				}
				return res, fmt.Errorf("prune ledger: %w", interpretError(err))
			}
			if res.Busy {
				return res, nil
			}
			res.Batches++
			step.add(done)
			if done.n < int64(batch) {
				break
			}
		}
	}
	return res, nil
}
