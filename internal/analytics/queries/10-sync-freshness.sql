-- How fresh is the mirror of each source?
-- How old what the mirror shows is: when a run last listed every page of the source (last_listed_at,
-- proven complete or not: on a busy source every full run may end partial) and how long ago; when a
-- run last also proved the walk complete (last_success_at, freshness); the last head walk; the latest
-- full run's state and the start of its latest error (the full text is in sync_health.last_error).
-- Alert on listed_freshness_seconds.
SELECT source, last_run_state, last_listed_at, date_trunc('second', now() - last_listed_at) AS listed_age,
       last_success_at, date_trunc('second', freshness) AS freshness, last_head_walk_at,
       failed_runs_24h, last_error_at, left(last_error, 60) AS last_error
FROM modelarts.sync_health
ORDER BY source;
