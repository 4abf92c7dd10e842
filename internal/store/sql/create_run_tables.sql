-- The staging table of runs, made on a connection of the pool the first time a run writes through
-- it (staged.go's makeStaging) and kept for the session's life: a run neither creates nor drops a
-- table. Runs that made and dropped two temporary tables wrote 132 catalog rows each (pg_attribute,
-- pg_depend, pg_class, pg_type, pg_index, pg_constraint), dead rows for vacuum; over 1 000 runs
-- through a pool of 4 connections, 0.096 a run now: the staging tables of the connections, made once
-- and dropped when they closed (BenchmarkRunCatalogWrites). What a run's walks listed is in the run's
-- memory (seen.go).
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
