-- What are the median (p50) and p95 run times, per month?
-- Jobs that have ended (final status) and ran, by the month they were created, over the last 12 months.
-- Deleted jobs count: they ran.
SELECT date_trunc('month', create_time)::date AS month,
       count(*) AS jobs,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_hours)::numeric, 2) AS p50_hours,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_hours)::numeric, 2) AS p95_hours
FROM modelarts.jobs_current
WHERE is_final
  AND duration_ms > 0
  AND create_time >= date_trunc('month', now()) - interval '11 months'
GROUP BY month
ORDER BY month;
