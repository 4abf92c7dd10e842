-- How fresh is the mirror of each source?
-- When each source last synced successfully and how long ago that was, its latest run's state, and the
-- start of its latest error (the full text is in sync_health.last_error). Alert on freshness_seconds.
SELECT source, last_run_state, last_success_at, date_trunc('second', freshness) AS freshness,
       failed_runs_24h, last_error_at, left(last_error, 60) AS last_error
FROM modelarts.sync_health
ORDER BY source;
