-- Page step 1: close the open version of every staged job whose tracked attributes changed.
-- $1 source, $2 observed_at.
-- A job marked deleted has no open version (MarkDeleted closed it), so only live jobs match.
UPDATE modelarts.visualization_job_history AS h
SET valid_to = $2::timestamptz
FROM pg_temp.vizjob_staging AS s
WHERE h.source = $1::text
  AND h.job_id = s.job_id
  AND h.valid_to IS NULL
  AND (h.status, h.job_name, h.job_desc, h.service_url, h.train_url)
      IS DISTINCT FROM (s.status, s.job_name, s.job_desc, s.service_url, s.train_url)
