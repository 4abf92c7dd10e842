-- How long do jobs wait before they run?
-- From create_time to the first sync that saw the job running (status JOBSTAT_RUNNING, is_running), per
-- source, for jobs the indexer saw pending (first version in a pending status) within a day of their
-- creation. Left out: jobs already running, or further on, when first seen, and jobs first seen
-- pending more than a day after their creation or without a create_time (their wait would count time
-- the indexer did not see); jobs that ended without ever running (being stopped, killed or failed while
-- waiting), which never started; and jobs still waiting, until they run (so a queue that is long right
-- now shows here only once it moves).
SELECT source,
       count(*) AS jobs,
       date_trunc('second', avg(waited)) AS avg_wait,
       date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY waited)) AS p50_wait,
       date_trunc('second', percentile_cont(0.95) WITHIN GROUP (ORDER BY waited)) AS p95_wait,
       date_trunc('second', max(waited)) AS max_wait
FROM (
    SELECT source, job_id,
           min(valid_from) FILTER (WHERE is_running) - min(create_time) AS waited
    FROM modelarts.job_status_history
    GROUP BY source, job_id
    HAVING bool_or(version_number = 1 AND status_group = 'pending'
                   AND valid_from < create_time + interval '1 day')
) AS seen_pending
WHERE waited IS NOT NULL
GROUP BY source
ORDER BY source;
