-- The time left before the service stops a job (remaining_duration, undocumented, served by most
-- pages), as a column: "which TensorBoards stop within the hour" without reading raw. Not backfilled
-- here (a rewrite of every row): the next full run of each source writes it for the jobs that have
-- one (their fingerprints differ), and leaves the others' rows alone.

-- +goose Up
ALTER TABLE modelarts.visualization_jobs ADD COLUMN remaining_duration_ms bigint;

COMMENT ON COLUMN modelarts.visualization_jobs.remaining_duration_ms IS
    'Milliseconds until the service stops the job (remaining_duration, undocumented) at last_seen_at; null when the API sent none, null, or not a non-negative integer (raw keeps what it sent). Not versioned in visualization_job_history.';

-- +goose Down
ALTER TABLE modelarts.visualization_jobs DROP COLUMN remaining_duration_ms;
