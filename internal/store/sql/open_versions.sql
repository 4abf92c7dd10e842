-- Page step 3: open a version for every staged job that has none open: new jobs, jobs whose version
-- step 1 closed, and jobs that come back after being marked deleted.
-- $1 source, $2 observed_at, $3 sync run id.
-- The open version is looked up job by job, whatever the statistics say (see close_changed_versions.sql).
-- A new version never starts before the job's latest version ended (a clock that stepped back).
INSERT INTO modelarts.visualization_job_history
    (source, job_id, status, job_name, job_desc, service_url, train_url, duration_ms, valid_from, sync_run_id,
     create_time)
SELECT $1::text, s.job_id, s.status, s.job_name, s.job_desc, s.service_url, s.train_url, s.duration_ms,
       greatest($2::timestamptz, last.valid_to), $3::bigint, s.create_time
FROM pg_temp.vizjob_staging AS s
LEFT JOIN LATERAL (
    SELECT true AS found
    FROM modelarts.visualization_job_history AS h
    WHERE h.source = $1::text AND h.job_id = s.job_id AND h.valid_to IS NULL
    LIMIT 1
) AS h ON true
LEFT JOIN LATERAL (
    SELECT l.valid_to
    FROM modelarts.visualization_job_history AS l
    WHERE l.source = $1::text AND l.job_id = s.job_id
    ORDER BY l.valid_from DESC
    LIMIT 1 -- visualization_job_history_job_valid_from_idx
) AS last ON true
WHERE h.found IS NULL
