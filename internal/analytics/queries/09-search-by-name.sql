-- Which jobs have "bert" in their name?
-- Case-insensitive substring search, newest first (jobs without a create_time last). With pg_trgm (see
-- the migration) the trigram index on job_name serves it for patterns of 3 characters or more.
SELECT source, job_id, job_name, status_name, create_time
FROM modelarts.jobs_current
WHERE job_name ILIKE '%bert%'
  AND NOT is_deleted
ORDER BY create_time DESC NULLS LAST, source, job_id
LIMIT 10;
