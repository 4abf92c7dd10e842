-- How many jobs are running now, per source?
-- Jobs that exist now (not deleted) in status JOBSTAT_RUNNING. A source with none has no row.
SELECT source, count(*) AS running_jobs
FROM modelarts.jobs_current
WHERE status_name = 'JOBSTAT_RUNNING'
  AND NOT is_deleted
GROUP BY source
ORDER BY source;
