-- sync_run_counts (00017) keeps one row per source, kind and UTC hour: 17 520 rows a source-year, for
-- ever. Past the ledger's retention (INDEXER_LEDGER_KEEP), the daemon's pruning (store.PruneLedger)
-- folds a source's hourly rows into one row per UTC day in sync_run_daily_counts and deletes them, in
-- the same statement: a source then costs the hours of the retention period plus two rows a day (one
-- per kind). The trigger of sync_runs goes on writing hourly rows only; a run that ends long after
-- the hour it started in (its process died, the next run closed it) may write such an hour again after
-- it was folded, and the next pruning folds it too.
--
-- How many runs there were on a day: the daily row, plus the hourly rows of that day not folded yet.

-- +goose Up
CREATE TABLE modelarts.sync_run_daily_counts (
    source    text    NOT NULL,
    kind      text    NOT NULL,
    day       date    NOT NULL,
    runs      integer NOT NULL DEFAULT 0,
    succeeded integer NOT NULL DEFAULT 0,
    partial   integer NOT NULL DEFAULT 0,
    failed    integer NOT NULL DEFAULT 0,
    changed   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (source, kind, day)
);

COMMENT ON TABLE modelarts.sync_run_daily_counts IS
    'Grain: one row per source, kind and UTC day. Runs by the day in which they started, folded from sync_run_counts by the ledger''s pruning (store.PruneLedger) once the day is older than INDEXER_LEDGER_KEEP: the hourly rows are deleted as their counts are added here. A day''s runs are its row here plus its rows in sync_run_counts not folded yet.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.source IS 'Source name.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.kind IS 'full or head, as sync_runs.kind.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.day IS 'The UTC day in which the runs started.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.runs IS 'Runs started (those still running when their hour was folded included).';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.succeeded IS 'Of those, runs that ended succeeded.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.partial IS 'Runs that ended partial.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.failed IS 'Runs that ended failed.';
COMMENT ON COLUMN modelarts.sync_run_daily_counts.changed IS 'Runs that ended having inserted, updated or deleted at least one job.';

COMMENT ON TABLE modelarts.sync_run_counts IS
    'Grain: one row per source, kind and UTC hour. Runs by the hour in which they started, kept by a trigger on sync_runs; pruning the ledger (store.PruneLedger) leaves these counts, so how many runs there were, and how they ended, outlives the runs. Hours of days older than INDEXER_LEDGER_KEEP are folded into sync_run_daily_counts and deleted here.';

-- +goose Down
-- The folded days go back into sync_run_counts, each at its first hour, so that totals survive.
INSERT INTO modelarts.sync_run_counts AS c (source, kind, hour, runs, succeeded, partial, failed, changed)
SELECT source, kind, day::timestamp AT TIME ZONE 'UTC', runs, succeeded, partial, failed, changed
FROM modelarts.sync_run_daily_counts
ORDER BY 1, 2, 3
ON CONFLICT (source, kind, hour) DO UPDATE
    SET runs = c.runs + excluded.runs, succeeded = c.succeeded + excluded.succeeded, partial = c.partial + excluded.partial,
        failed = c.failed + excluded.failed, changed = c.changed + excluded.changed;
COMMENT ON TABLE modelarts.sync_run_counts IS
    'Runs per source, kind and hour in which they started, kept by a trigger on sync_runs; pruning the ledger (store.PruneLedger) leaves these counts, so how many runs there were, and how they ended, outlives the runs.';
DROP TABLE modelarts.sync_run_daily_counts;
