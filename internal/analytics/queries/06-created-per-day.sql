-- How many jobs were created each day?
-- The last 14 days, today included, days without jobs shown as 0 (the calendar view). Deleted jobs
-- count; jobs without a create_time do not. Days are calendar days in the session's TimeZone (the
-- answers here: UTC), 23 or 25 hours long when it changes its offset; the status page's chart counts
-- UTC days ("Jobs created per UTC day"): the two agree in a UTC session.
SELECT c.day,
       count(j.job_id) AS jobs_created
FROM modelarts.calendar AS c
LEFT JOIN modelarts.jobs_current AS j
       ON j.create_time >= c.day_start
      AND j.create_time < c.day_end
WHERE c.day > current_date - 14
GROUP BY c.day
ORDER BY c.day;
