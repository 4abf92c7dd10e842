-- Which jobs failed in the last 7 days?
-- One row per failure: a version in a failure status (status_group 'failed': JOBSTAT_FAILED,
-- JOBSTAT_SUBMIT_FAILED, ...), entered from another status, that a sync first saw in the last 7 days. A
-- job already failed when the indexer first saw it counts only if it was created in those 7 days:
-- otherwise when it failed is unknown. Later versions of a failed job (a rename, a new description or
-- URL, its return after a deletion) are the same failure and do not count again.
SELECT source, job_id, job_name, status_name, valid_from AS failed_seen_at, create_time
FROM modelarts.job_status_history
WHERE status_group = 'failed'
  AND valid_from >= now() - interval '7 days'
  AND (status_changed OR (version_number = 1 AND create_time >= now() - interval '7 days'))
ORDER BY valid_from DESC, source, job_id;
