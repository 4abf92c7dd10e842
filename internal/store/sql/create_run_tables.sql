-- The staging table of runs, created on every connection of the pool when it connects (store.go's
-- AfterConnect), so that a run can write a page through whichever connection it is given: a run holds
-- no connection between its statements.
--
-- The jobs of a page that need writing (see stored_fingerprints.sql), COPYed in and emptied when the
-- page's transaction ends. A run's seen ids live in modelarts.run_seen (migration 00012).
CREATE TEMP TABLE IF NOT EXISTS vizjob_staging (
    job_id      bigint PRIMARY KEY,
    job_name    text NOT NULL,
    job_desc    text NOT NULL,
    status      integer NOT NULL,
    create_time timestamptz,
    duration_ms bigint,
    service_url text NOT NULL,
    train_url   text NOT NULL,
    resource_id text,
    raw         jsonb NOT NULL,
    content_sha256 bytea NOT NULL
) ON COMMIT DELETE ROWS;
