-- What are the median (p50) and p95 run times, per month?
-- Jobs that have ended (final status) and ran (run time above 0), by the month they were created, over
-- the last 12 months; percentiles of the exact run times, rounded once, to 0.01 hour. Deleted jobs
-- count: they ran. A job id reused after a deletion counts once per job (job_lifecycles). Left out:
-- jobs without a create_time, which have no month (data_quality.jobs_without_create_time counts them).
SELECT date_trunc('month', create_time)::date AS month,
       count(*) AS jobs,
       round((percentile_cont(0.50) WITHIN GROUP (ORDER BY run_time_ms) / 3600000)::numeric, 2) AS p50_hours,
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY run_time_ms) / 3600000)::numeric, 2) AS p95_hours
FROM modelarts.job_lifecycles
WHERE is_final
  AND run_time_ms > 0
  AND create_time >= date_trunc('month', now()) - interval '11 months'
GROUP BY month
ORDER BY month;
