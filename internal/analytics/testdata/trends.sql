-- Trend analyses with the model views alone, on the data set of year-20k.sql or ledger_fleet.sql (psql -f).
-- Days in the report time zone, whose daily counts are kept (another zone computes them from the spells).
SELECT set_config('TimeZone', time_zone, false) AS "TimeZone" FROM modelarts.report_settings;
-- 1. Jobs per day per status group (at day end, all sources), the last 10 days, zero-filled.
SELECT c.day,
       coalesce(sum(g.jobs_at_day_end) FILTER (WHERE g.status_group = 'pending'), 0)   AS pending,
       coalesce(sum(g.jobs_at_day_end) FILTER (WHERE g.status_group = 'running'), 0)   AS running,
       coalesce(sum(g.jobs_entered)    FILTER (WHERE g.status_group = 'completed'), 0) AS completed_that_day,
       coalesce(sum(g.jobs_entered)    FILTER (WHERE g.status_group = 'failed'), 0)    AS failed_that_day
FROM modelarts.calendar AS c
LEFT JOIN modelarts.daily_status_group_counts AS g ON g.day = c.day
WHERE c.day > current_date - 10
GROUP BY c.day ORDER BY c.day;
-- 2. Run time p50 / p95 per week (jobs that ended that week), the last 8 weeks.
SELECT date_trunc('week', ended_at)::date AS week, count(*) AS jobs,
       round((percentile_cont(0.5)  WITHIN GROUP (ORDER BY run_time_ms) / 3600000)::numeric, 2) AS p50_hours,
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY run_time_ms) / 3600000)::numeric, 2) AS p95_hours
FROM modelarts.job_lifecycles
WHERE is_final AND run_time_ms > 0 AND ended_at >= date_trunc('week', now()) - interval '7 weeks'
GROUP BY 1 ORDER BY 1;
-- 3. Time spent waiting, per source: per job (lifecycles) and in total (spells in group pending), last 30 days.
SELECT l.source, count(*) AS jobs,
       date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY l.wait_before_running)) AS p50_wait,
       date_trunc('second', percentile_cont(0.95) WITHIN GROUP (ORDER BY l.wait_before_running)) AS p95_wait,
       (SELECT round(sum(s.hours)::numeric, 1) FROM modelarts.job_status_spells AS s
        WHERE s.source = l.source AND s.status_group = 'pending' AND s.started_at >= now() - interval '30 days') AS pending_hours_total
FROM modelarts.job_lifecycles AS l
WHERE l.wait_before_running IS NOT NULL AND l.first_running_at >= now() - interval '30 days'
GROUP BY l.source ORDER BY l.source;
