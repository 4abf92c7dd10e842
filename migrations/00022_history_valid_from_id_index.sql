-- The status page's "status changes" (internal/store/sql/status_changes.sql) read the newest history
-- versions, ORDER BY valid_from DESC, id DESC LIMIT n. With an index on valid_from alone, every
-- version of the newest valid_from had to be sorted by id (at 13 M versions a parallel index scan and a
-- sort: 95-160 ms under load, docs/ledger.md); an index on (valid_from, id) gives the order as it is, a
-- plain backward index scan that stops after n rows.
--
-- It replaces visualization_job_history_valid_from_idx (00004): every read that used that index (a
-- range or an order on valid_from, min/max(valid_from)) uses the new one, whose first column it is;
-- nothing reads valid_from alone otherwise (the question queries, the views and the store's SQL were
-- checked with EXPLAIN). Keeping both would cost a second index to write on every version.
--
-- Built and dropped CONCURRENTLY, so that syncs keep writing versions and the status page keeps
-- reading them while it builds (minutes at tens of millions of versions); hence no transaction. A
-- concurrent build waits for every transaction of the database older than it: one held open longer
-- than the migration's lock_timeout (store.MigrationLockTimeout) makes it fail, and leaves an INVALID
-- index of that name behind, which IF NOT EXISTS would take for a built one. So each build first
-- renames such a leftover out of the way (a rename of an index waits for no read or write of the
-- table) and drops it concurrently: `indexer migrate up` again starts the build over. Every statement
-- can be run again after a failure of any of them.

-- +goose NO TRANSACTION
-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_index WHERE indexrelid = to_regclass('modelarts.visualization_job_history_valid_from_id_idx')
               AND NOT indisvalid) THEN
        ALTER INDEX modelarts.visualization_job_history_valid_from_id_idx RENAME TO visualization_job_history_valid_from_id_idx_invalid;
    END IF;
END
$$;
-- +goose StatementEnd
DROP INDEX CONCURRENTLY IF EXISTS modelarts.visualization_job_history_valid_from_id_idx_invalid;
CREATE INDEX CONCURRENTLY IF NOT EXISTS visualization_job_history_valid_from_id_idx
    ON modelarts.visualization_job_history (valid_from, id);
DROP INDEX CONCURRENTLY IF EXISTS modelarts.visualization_job_history_valid_from_idx;

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_index WHERE indexrelid = to_regclass('modelarts.visualization_job_history_valid_from_idx')
               AND NOT indisvalid) THEN
        ALTER INDEX modelarts.visualization_job_history_valid_from_idx RENAME TO visualization_job_history_valid_from_idx_invalid;
    END IF;
END
$$;
-- +goose StatementEnd
DROP INDEX CONCURRENTLY IF EXISTS modelarts.visualization_job_history_valid_from_idx_invalid;
CREATE INDEX CONCURRENTLY IF NOT EXISTS visualization_job_history_valid_from_idx
    ON modelarts.visualization_job_history (valid_from);
DROP INDEX CONCURRENTLY IF EXISTS modelarts.visualization_job_history_valid_from_id_idx;
