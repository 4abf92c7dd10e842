-- Which jobs failed in the last 7 days?
-- One row per failure: a job entering a failure status (status_group 'failed': JOBSTAT_FAILED,
-- JOBSTAT_SUBMIT_FAILED, ...) from a status outside that group, seen by a sync in the last 7 days. A
-- job already failed when the indexer first saw it counts only if it was created in those 7 days:
-- otherwise when it failed is unknown. A failure that becomes another (FAILED then LOST), a rename, or
-- the job's return after a deletion is the same failure; a job id reused after a deletion is a new job
-- (job_status_spells.life_number). Left out: undocumented status codes (group unknown).
SELECT source, job_id, job_name, status_name, started_at AS failed_seen_at, create_time
FROM modelarts.job_status_spells
WHERE status_group = 'failed'
  AND started_at >= now() - interval '7 days'
  AND previous_status_group IS DISTINCT FROM 'failed'
  AND (previous_status IS NOT NULL OR create_time >= now() - interval '7 days')
ORDER BY started_at DESC, source, job_id;
