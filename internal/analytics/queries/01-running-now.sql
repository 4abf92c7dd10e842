-- How many jobs are running now, per source?
-- Jobs that exist now (not deleted) and are running: in status JOBSTAT_RUNNING, the one meaning of
-- "running" (is_running). A source with none has no row.
SELECT source, count(*) AS running_jobs
FROM modelarts.jobs_current
WHERE is_running
  AND NOT is_deleted
GROUP BY source
ORDER BY source;
