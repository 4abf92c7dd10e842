-- How long do jobs wait before they run?
-- From its creation to the first sync that saw the job running (JOBSTAT_RUNNING), per source
-- (job_lifecycles.wait_before_running), for jobs the indexer saw pending (first status in group
-- pending) less than 24 hours after their create_time. A creation later than that first sighting (the
-- clocks disagree) counts from the sighting: a wait is never negative. Left out: jobs already running,
-- or further on, when first seen, and jobs first seen 24 hours or more after their creation or without a
-- create_time (their wait would count time the indexer did not see); jobs that ended without ever
-- running, which never started; and jobs still waiting, until they run.
SELECT source,
       count(*) AS jobs,
       date_trunc('second', avg(wait_before_running)) AS avg_wait,
       date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_before_running)) AS p50_wait,
       date_trunc('second', percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_before_running)) AS p95_wait,
       date_trunc('second', max(wait_before_running)) AS max_wait
FROM modelarts.job_lifecycles
WHERE wait_before_running IS NOT NULL
GROUP BY source
ORDER BY source;
