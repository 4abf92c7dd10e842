-- Which jobs were deleted in the last 30 days?
-- Jobs that went missing from a walk and that the service confirmed gone in the last 30 days, with the
-- last status they had.
SELECT source, job_id, job_name, status_name AS last_status, create_time, deleted_at
FROM modelarts.jobs_current
WHERE deleted_at >= now() - interval '30 days'
ORDER BY deleted_at DESC, source, job_id;
