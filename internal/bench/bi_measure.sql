-- Measures the BI model's views on a fleet's database (ledger_fleet.sql, or a real one): one source's
-- spells, lifecycles and 90 days of group counts (what a dashboard filtered on a source reads), and the
-- fleet's (every source: a trend over all of them). docs/ledger.md quotes its output.
--
--   psql -v source=cn-north-4-proj-00010 -f bi_measure.sql URL
--
-- Run it in the report time zone (the default: the server's) for the kept sums; with
-- PGTZ=<another zone> the group counts are computed from the spells instead.

\pset pager off
\timing on
\if :{?source} \else \set source cn-north-4-proj-00010 \endif
SHOW TimeZone;

\echo == one source: its spells
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
SELECT status_group, count(*), sum(hours) FROM modelarts.job_status_spells WHERE source = :'source' GROUP BY 1;

\echo == one source: its lifecycles (p50/p95 run time of jobs that ended, per week)
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
SELECT date_trunc('week', ended_at), percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY run_time_ms)
FROM modelarts.job_lifecycles WHERE source = :'source' AND ended_at IS NOT NULL GROUP BY 1;

\echo == one source: jobs per day per status group, 90 days
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
SELECT day, status_group, jobs_at_day_end, jobs_during_day, jobs_entered
FROM modelarts.daily_status_group_counts WHERE source = :'source' AND day > current_date - 90;

\echo == fleet: jobs per day per status group, 90 days, summed over sources
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
SELECT day, status_group, sum(jobs_at_day_end), sum(jobs_entered)
FROM modelarts.daily_status_group_counts WHERE day > current_date - 90 GROUP BY 1, 2;

\echo == fleet: p50/p95 run time per week of the last 90 days
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
SELECT date_trunc('week', ended_at), percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY run_time_ms)
FROM modelarts.job_lifecycles WHERE ended_at > now() - interval '90 days' GROUP BY 1;

\echo == fleet: hours waiting per source (spells in group pending), last 30 days
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
SELECT source, sum(hours) FROM modelarts.job_status_spells
WHERE status_group = 'pending' AND started_at > now() - interval '30 days' GROUP BY 1;
