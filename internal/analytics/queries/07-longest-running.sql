-- Which ten jobs have run the longest?
-- Jobs that exist now, by run time as last seen; running jobs keep growing.
SELECT source, job_id, job_name, status_name, justify_hours(duration) AS duration, duration_hours
FROM modelarts.jobs_current
WHERE NOT is_deleted
ORDER BY duration_ms DESC NULLS LAST, source, job_id
LIMIT 10;
