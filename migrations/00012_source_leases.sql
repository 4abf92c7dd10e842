-- The per-source exclusion moves from a session advisory lock to a lease row, and a run's seen ids
-- from a temporary table to an unlogged one, so that a run holds no database session while it waits
-- on the API: it takes a connection of the pool only for each statement (issue 26).
--
-- A lease row can be written only by the indexer's role: a read-only session (the BI role) can read
-- it but neither take nor hold a source (row locks and LOCK TABLE beyond ACCESS SHARE need UPDATE),
-- where pg_try_advisory_lock is open to every role (issue 28).

-- +goose Up
CREATE TABLE modelarts.source_leases (
    source      text PRIMARY KEY,
    run_id      bigint,
    hostname    text,
    pid         integer,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

COMMENT ON TABLE modelarts.source_leases IS
    'Who is syncing each source: at most one run per source holds an unexpired lease. A run renews it every quarter of the lease while alive and deletes it when it ends; a lease past expires_at is free for the next run, which closes the dead holder''s ledger row.';
COMMENT ON COLUMN modelarts.source_leases.source IS 'The source the lease is for.';
COMMENT ON COLUMN modelarts.source_leases.run_id IS 'The holding run (modelarts.sync_runs.id); null while forget holds it, or for a moment while the run row is written.';
COMMENT ON COLUMN modelarts.source_leases.hostname IS 'Host of the process holding the lease.';
COMMENT ON COLUMN modelarts.source_leases.pid IS 'Process id of the holder on its host.';
COMMENT ON COLUMN modelarts.source_leases.acquired_at IS 'When the holder took the lease.';
COMMENT ON COLUMN modelarts.source_leases.expires_at IS 'When the lease ends unless renewed; past it, the holder is taken for dead.';

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

-- +goose Down
DROP TABLE modelarts.run_seen;
DROP TABLE modelarts.source_leases;
