-- Measures a fleet's database (ledger_fleet.sql, or a real one): the size of every table of the
-- schema, and EXPLAIN ANALYZE of sync_health, of the status page's reads and of /metrics' reads, as
-- internal/store runs them (status.go, metrics.go, candidates.go, sql/status_changes.sql; $1 arrays
-- are every source). docs/ledger.md quotes its output.
--
--   psql -f ledger_measure.sql URL

\pset pager off
\timing on

\echo == sizes
SELECT c.relname AS table_name, c.reltuples::bigint AS rows_estimate,
       pg_size_pretty(pg_relation_size(c.oid)) AS heap,
       pg_size_pretty(pg_indexes_size(c.oid)) AS indexes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total,
       pg_total_relation_size(c.oid) AS total_bytes
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'modelarts' AND c.relkind = 'r'
ORDER BY pg_total_relation_size(c.oid) DESC;

SELECT count(*) AS runs, count(*) FILTER (WHERE kind = 'head') AS head_walks,
       count(*) FILTER (WHERE jobs_inserted + jobs_updated + jobs_deleted = 0 AND state <> 'failed') AS noop_runs,
       min(started_at) AS oldest
FROM modelarts.sync_runs;

CREATE TEMPORARY TABLE all_sources AS SELECT array_agg(source ORDER BY source) AS s FROM modelarts.source_sync_state;

\echo == sync_health (every source)
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) SELECT * FROM modelarts.sync_health;

\echo == status page: totals
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT now(), coalesce(sum(jobs) FILTER (WHERE NOT deleted), 0)::bigint, coalesce(sum(jobs) FILTER (WHERE deleted), 0)::bigint
FROM modelarts.source_job_counts;

\echo == status page: sources
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT source, last_run_id, last_run_state, last_run_started_at, last_run_finished_at,
       coalesce(last_run_error, ''), last_success_at, last_error_at, coalesce(last_error, ''),
       runs_24h, failed_runs_24h, live_jobs, running_jobs,
       (SELECT count(*) FROM modelarts.deletion_candidates AS c WHERE c.source = h.source),
       (SELECT min(c.first_missed_at) FROM modelarts.deletion_candidates AS c WHERE c.source = h.source),
       last_listed_at, last_head_walk_at, last_change_at
FROM modelarts.sync_health AS h
ORDER BY source;

\echo == status page: jobs by status
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT c.status, coalesce(g.name, 'UNDOCUMENTED_' || c.status), coalesce(g.status_group, 'unknown'), sum(c.jobs)::bigint
FROM modelarts.source_job_counts AS c
LEFT JOIN modelarts.job_status_groups AS g ON g.code = c.status
WHERE NOT c.deleted
GROUP BY 1, 2, 3
HAVING sum(c.jobs) > 0
ORDER BY 4 DESC, 1;

\echo == status page: jobs created per day (30 days)
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT d.day AT TIME ZONE 'UTC', coalesce(c.jobs, 0)
FROM generate_series(((now() AT TIME ZONE 'UTC')::date - 29)::timestamp, (now() AT TIME ZONE 'UTC')::date::timestamp,
                     interval '1 day') AS d(day)
LEFT JOIN (SELECT day, sum(jobs)::bigint AS jobs FROM modelarts.source_created_days
           WHERE day >= (now() AT TIME ZONE 'UTC')::date - 29 GROUP BY day) AS c ON c.day = d.day::date
ORDER BY d.day;

\echo == status page: durations
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT duration_bucket, sum(jobs)::bigint FROM modelarts.source_job_counts
WHERE NOT deleted AND duration_bucket >= 0 GROUP BY 1;

\echo == status page: recent runs
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT id, source, state, started_at, finished_at, jobs_seen, jobs_inserted, jobs_updated, jobs_deleted,
       coalesce(error, ''), kind, pages, coalesce(api_total_count, 0)
FROM modelarts.sync_runs ORDER BY id DESC LIMIT 20;

\echo == status page: status changes
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT h.source, h.job_id, h.job_name,
       p.status, coalesce(gp.name, 'UNDOCUMENTED_' || p.status), coalesce(gp.status_group, 'unknown'),
       h.status, coalesce(gh.name, 'UNDOCUMENTED_' || h.status), coalesce(gh.status_group, 'unknown'),
       h.valid_from, j.deleted_at IS NOT NULL
FROM modelarts.visualization_job_history AS h
JOIN LATERAL (
    SELECT prev.status FROM modelarts.visualization_job_history AS prev
    WHERE prev.source = h.source AND prev.job_id = h.job_id AND prev.valid_to = h.valid_from
    ORDER BY prev.valid_from DESC LIMIT 1
) AS p ON p.status <> h.status
JOIN modelarts.visualization_jobs AS j ON j.source = h.source AND j.job_id = h.job_id
LEFT JOIN modelarts.job_status_groups AS gp ON gp.code = p.status
LEFT JOIN modelarts.job_status_groups AS gh ON gh.code = h.status
ORDER BY h.valid_from DESC, h.id DESC
LIMIT 10;

\echo == metrics: source figures
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT src.source, coalesce(j.live, 0), coalesce(j.running, 0), st.last_any_success_at, st.last_listed_at, st.last_head_walk_at
FROM unnest((SELECT s FROM all_sources)) AS src(source)
LEFT JOIN modelarts.source_sync_state AS st ON st.source = src.source
LEFT JOIN LATERAL (
    SELECT sum(c.jobs)::bigint AS live, (sum(c.jobs) FILTER (WHERE coalesce(s.is_running, false)))::bigint AS running
    FROM modelarts.source_job_counts AS c
    LEFT JOIN modelarts.job_statuses AS s ON s.code = c.status
    WHERE c.source = src.source AND NOT c.deleted
) AS j ON true
ORDER BY 1;

\echo == metrics: deletion candidates
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT source, count(*), min(first_missed_at) FROM modelarts.deletion_candidates
WHERE source = ANY ((SELECT s FROM all_sources)::text[]) GROUP BY source;

\echo == metrics (INDEXER_METRICS_DETAIL): jobs by source and status
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT c.source, c.status, coalesce(s.name, 'UNDOCUMENTED_' || c.status), sum(c.jobs)::bigint
FROM modelarts.source_job_counts c
LEFT JOIN modelarts.job_statuses s ON s.code = c.status
WHERE c.source = ANY ((SELECT s FROM all_sources)::text[]) AND NOT c.deleted
GROUP BY 1, 2, 3 HAVING sum(c.jobs) > 0 ORDER BY 1, 2;

\echo == before: the count(*) over the jobs that /metrics ran on every scrape
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)
SELECT j.source, j.status, count(*) FROM modelarts.visualization_jobs j
WHERE j.deleted_at IS NULL GROUP BY 1, 2;
