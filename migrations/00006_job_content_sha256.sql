-- A fingerprint of each job's stored content, so that a resync recognises an unchanged job by 32 bytes
-- instead of sending and comparing the whole job (a no-op resync then costs the database an index
-- lookup per job). Null until the job is next written (a change, or the daily last_seen_at refresh):
-- until then the job is compared in full, as before.

-- +goose Up
ALTER TABLE modelarts.visualization_jobs ADD COLUMN content_sha256 bytea;

COMMENT ON COLUMN modelarts.visualization_jobs.content_sha256 IS
    'For the indexer: SHA-256 of the job as last written (its columns and raw as received), to recognise an unchanged job without comparing it in full; null until the job is next written.';

-- +goose Down
ALTER TABLE modelarts.visualization_jobs DROP COLUMN content_sha256;
