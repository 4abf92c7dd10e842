-- Items of the list API that could not be decoded: kept exactly as received, for inspection, and never
-- guessed into the job tables.

-- +goose Up
CREATE TABLE modelarts.bad_items (
    source            text        NOT NULL,
    item_sha256       text        NOT NULL,
    job_id            bigint,
    reason            text        NOT NULL,
    raw               text        NOT NULL,
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    first_sync_run_id bigint REFERENCES modelarts.sync_runs (id) ON DELETE SET NULL,
    last_sync_run_id  bigint REFERENCES modelarts.sync_runs (id) ON DELETE SET NULL,
    runs              integer     NOT NULL DEFAULT 1,
    PRIMARY KEY (source, item_sha256)
);

CREATE INDEX bad_items_source_job_id_idx ON modelarts.bad_items (source, job_id);
CREATE INDEX bad_items_last_seen_at_idx ON modelarts.bad_items (last_seen_at DESC);

COMMENT ON TABLE modelarts.bad_items IS
    'Items of the list API answer that could not be decoded (not an object, no integer job_id, a field of the wrong type, a negative duration, create_time or job_id), one row per distinct payload and source. They never reach visualization_jobs: the job keeps its last good state. A bad item whose job_id is an integer still counts as seen, so it neither blocks nor causes deletions; one without a job_id makes the walk unverifiable.';
COMMENT ON COLUMN modelarts.bad_items.source IS 'Source whose list answer held the item.';
COMMENT ON COLUMN modelarts.bad_items.item_sha256 IS 'Hex SHA-256 of the item as received: the same payload seen again updates its row.';
COMMENT ON COLUMN modelarts.bad_items.job_id IS 'The item''s job_id when it is a non-negative JSON integer; null otherwise (never converted from another type).';
COMMENT ON COLUMN modelarts.bad_items.reason IS 'Why the item could not be decoded, e.g. "status: want an integer, got string".';
COMMENT ON COLUMN modelarts.bad_items.raw IS
    'The item exactly as received (JSON text; invalid UTF-8 replaced by U+FFFD). Cast with raw::jsonb to query it.';
COMMENT ON COLUMN modelarts.bad_items.first_seen_at IS 'When a run first received this payload.';
COMMENT ON COLUMN modelarts.bad_items.last_seen_at IS 'When a run last received this payload.';
COMMENT ON COLUMN modelarts.bad_items.first_sync_run_id IS 'Run that first received this payload (modelarts.sync_runs.id).';
COMMENT ON COLUMN modelarts.bad_items.last_sync_run_id IS 'Run that last received this payload (modelarts.sync_runs.id).';
COMMENT ON COLUMN modelarts.bad_items.runs IS 'Number of runs that received this payload.';

COMMENT ON COLUMN modelarts.sync_runs.state IS
    'running; succeeded (complete, verified walk, every item decoded); partial (the mirror may be incomplete: either no walk could be verified complete, and then no deletion was marked, or some items were malformed and kept in modelarts.bad_items instead, with deletions confirmed as usual when their job_ids accounted for them); failed (see error).';
COMMENT ON COLUMN modelarts.sync_runs.bad_items IS
    'Items of the API answer that could not be decoded, over all walks; each is kept in modelarts.bad_items.';

-- +goose Down
COMMENT ON COLUMN modelarts.sync_runs.bad_items IS 'Items of the API answer that could not be decoded and were skipped.';
COMMENT ON COLUMN modelarts.sync_runs.state IS
    'running; succeeded (complete, verified walk); partial (upserted what it saw, but the walk could not be verified complete, so no deletion was marked); failed (see error).';
DROP TABLE modelarts.bad_items;
