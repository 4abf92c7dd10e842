-- Page step for a source with no rows yet (its first sync): insert the page's jobs, passed as arrays
-- (no staging table), and open their first versions, in one statement, without comparing anything. A
-- job already inserted by an earlier page of the same run (listings shift while they are walked) is
-- left alone here: UpsertPage then stages it and runs the ordinary steps, which handle it.
-- $1 source, $2 observed_at, $3 sync run id, $4.. the jobs' columns, one array each, in the order of
-- the staging table (raw as text).
-- Returns the ids inserted.
WITH inserted AS (
    INSERT INTO modelarts.visualization_jobs
        (source, job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url,
         resource_id, raw, content_sha256, first_seen_at, last_seen_at, last_changed_at)
    SELECT $1::text, s.job_id, s.job_name, s.job_desc, s.status, s.create_time, s.duration_ms,
           s.service_url, s.train_url, s.resource_id, s.raw::jsonb, s.content_sha256,
           $2::timestamptz, $2::timestamptz, $2::timestamptz
    FROM unnest($4::bigint[], $5::text[], $6::text[], $7::integer[], $8::timestamptz[], $9::bigint[],
                $10::text[], $11::text[], $12::text[], $13::text[], $14::bytea[])
         AS s(job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url,
              resource_id, raw, content_sha256)
    ON CONFLICT (source, job_id) DO NOTHING
    RETURNING job_id, status, job_name, job_desc, service_url, train_url, duration_ms, create_time
), versions AS (
    INSERT INTO modelarts.visualization_job_history
        (source, job_id, status, job_name, job_desc, service_url, train_url, duration_ms, valid_from, sync_run_id,
         create_time)
    SELECT $1::text, i.job_id, i.status, i.job_name, i.job_desc, i.service_url, i.train_url, i.duration_ms,
           $2::timestamptz, $3::bigint, i.create_time
    FROM inserted AS i
)
SELECT job_id FROM inserted
