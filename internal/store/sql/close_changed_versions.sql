-- Page step 1: close the open version of every staged job whose tracked attributes changed.
-- $1 source, $2 observed_at.
-- A job marked deleted has no open version (MarkDeleted closed it), so only live jobs match.
-- A version never closes before it opened: if the clock stepped back (or replicas disagree), it closes
-- at its valid_from (an empty interval) rather than failing the page on the valid_range check.
-- The open version of each staged job is looked up one by one (a LATERAL subquery with LIMIT, which
-- the planner cannot turn into a join): a page is small and the table large, and a plan that scans
-- every open version of the source, which stale or missing statistics (a first sync) make look
-- cheap, would cost each page as much as the whole table.
UPDATE modelarts.visualization_job_history AS h
SET valid_to = greatest($2::timestamptz, h.valid_from)
FROM pg_temp.vizjob_staging AS s
CROSS JOIN LATERAL (
    SELECT o.id, o.status, o.job_name, o.job_desc, o.service_url, o.train_url
    FROM modelarts.visualization_job_history AS o
    WHERE o.source = $1::text AND o.job_id = s.job_id AND o.valid_to IS NULL
    LIMIT 1 -- at most one open version per job (visualization_job_history_open_version_idx)
) AS o
WHERE h.id = o.id
  AND (o.status, o.job_name, o.job_desc, o.service_url, o.train_url)
      IS DISTINCT FROM (s.status, s.job_name, s.job_desc, s.service_url, s.train_url)
