-- How many jobs were created each day?
-- The last 14 days, today included, days without jobs shown as 0. Deleted jobs count; jobs without a
-- create_time do not. Days are calendar days in the session's TimeZone (the answers here: UTC); the
-- status page's chart counts UTC days ("Jobs created per UTC day"): the two agree in a UTC session.
SELECT day::date,
       count(j.job_id) AS jobs_created
FROM generate_series(current_date - 13, current_date, interval '1 day') AS day
LEFT JOIN modelarts.jobs_current AS j
       ON j.create_time >= day
      AND j.create_time < day + interval '1 day'
GROUP BY day
ORDER BY day;
