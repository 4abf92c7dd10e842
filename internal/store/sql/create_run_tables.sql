-- Session-local tables of one run, on the run's own connection. Dropped first: the connection comes
-- from the pool and may have served an earlier run that could not clean up.
DROP TABLE IF EXISTS pg_temp.vizjob_staging, pg_temp.vizjob_seen;

-- The jobs of a page that need writing (see stored_fingerprints.sql), COPYed in and emptied when the page's
-- transaction ends.
CREATE TEMP TABLE vizjob_staging (
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

-- The trigram index on job_name (migration 00004) is a GIN index: new entries go to its pending list
-- and are merged into the index when the list outgrows gin_pending_list_limit (4MB by default), by
-- the insert that finds it full: during a large sync that merge, a few hundred jobs at a time, costs
-- more than all other indexes together. With a larger list the run only appends, and autovacuum (which
-- the inserts trigger) or the next merge does the work in bulk. Name searches read the pending list
-- meanwhile; they stay correct. The run's connection only; release resets it.
SET gin_pending_list_limit = '64MB';

-- Every job id the run has upserted, with the last walk that did: the live jobs the current walk
-- has not seen are the deletion candidates.
CREATE TEMP TABLE vizjob_seen (
    job_id bigint PRIMARY KEY,
    walk   integer NOT NULL
);
