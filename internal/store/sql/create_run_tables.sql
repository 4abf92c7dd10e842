-- The staging table of runs, made on a connection of the pool the first time a run writes through
-- it (staged.go's makeStaging) and kept for the session's life: a run neither creates nor drops a
-- table. Runs that made and dropped their tables wrote 140 catalog rows each (pg_class, pg_attribute,
-- pg_type, pg_depend...), dead rows for vacuum; now 4.3, most of them the pool's sessions' own tables
-- (BenchmarkRunCatalogWrites). What a run's walks listed is in the run's memory (seen.go).
--
-- The jobs of a page that need writing (see stored_fingerprints.sql; the columns are staged.go's
-- stagedColumns), COPYed in and emptied when the page's transaction ends.
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
    content_sha256 bytea NOT NULL,
    remaining_duration_ms bigint
) ON COMMIT DELETE ROWS;
