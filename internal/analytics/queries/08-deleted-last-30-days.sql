-- Which jobs were deleted in the last 30 days?
-- Every deletion the service confirmed in the last 30 days (a job that went missing from a walk), with
-- the status and name the job had then, including jobs that came back later (came_back_at: the
-- service listed the id again).
SELECT source, job_id, last_job_name AS job_name, status_name AS last_status, create_time,
       ended_at AS deleted_at, next_started_at AS came_back_at
FROM modelarts.job_status_spells
WHERE ended_by = 'deleted'
  AND ended_at >= now() - interval '30 days'
ORDER BY ended_at DESC, source, job_id;
