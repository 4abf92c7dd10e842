-- Live jobs of the source that the current walk has not seen, lowest job id first.
-- $1 source, $2 limit, $3 walk.
SELECT j.job_id, j.job_name
FROM modelarts.visualization_jobs AS j
WHERE j.source = $1::text
  AND j.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_temp.vizjob_seen AS s WHERE s.job_id = j.job_id AND s.walk = $3::integer)
ORDER BY j.job_id
LIMIT $2::bigint
