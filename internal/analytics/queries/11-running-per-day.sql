-- How many jobs were running on each of the last 7 days?
-- From the history: jobs running (status JOBSTAT_RUNNING, is_running) at some time during the day, and
-- when the day ended (for today: now). A version of no length (the clock stepped back) is not running.
-- Days are in the session's TimeZone. A day with none has no row.
SELECT day, source, jobs AS running_during_day, jobs_at_day_end AS running_at_day_end
FROM modelarts.daily_status_counts
WHERE is_running
  AND day > current_date - 7
ORDER BY day, source;
