-- A run's seen ids live in the run's memory (store/seen.go: bits for the jobs it knew, a sorted table
-- outside the Go heap for the others), not in modelarts.run_seen (00012): no round trip and no row
-- per new job, no dead rows to vacuum. The table was a working set emptied when its run ended: a run
-- in progress when the schema is migrated by a newer binary keeps its ids in its own memory either way.

-- +goose Up
DROP TABLE modelarts.run_seen;

-- +goose Down
CREATE UNLOGGED TABLE modelarts.run_seen (
    run_id bigint  NOT NULL,
    job_id bigint  NOT NULL,
    walk   integer NOT NULL,
    PRIMARY KEY (run_id, job_id)
);

COMMENT ON TABLE modelarts.run_seen IS
    'Working set of runs in progress: every job id a run has upserted, with the last walk that did (the live jobs the current walk has not seen are its deletion candidates). Unlogged: emptied by a crash of the server, which also ends every run. Rows are deleted when their run ends.';
COMMENT ON COLUMN modelarts.run_seen.run_id IS 'The run (modelarts.sync_runs.id).';
COMMENT ON COLUMN modelarts.run_seen.job_id IS 'A job id the run has upserted.';
COMMENT ON COLUMN modelarts.run_seen.walk IS 'The last walk of the run that listed the job (1 for the first).';
