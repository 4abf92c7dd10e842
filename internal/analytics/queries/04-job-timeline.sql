-- What happened to one job, and how long did it spend in each status?
-- Every version of the job, oldest first. Times are when a sync saw each change, so they are as precise
-- as the sync schedule; the current version lasts until now.
SELECT version_number, status_name, job_name, valid_from, valid_to,
       date_trunc('second', time_in_version) AS time_in_version, ended_by
FROM modelarts.job_status_history
WHERE source = 'prod'
  AND job_id = 13231
ORDER BY version_number;
