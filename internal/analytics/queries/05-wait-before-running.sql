-- How long do jobs wait before they run?
-- From create_time to the first sync that saw the job running, per source, for jobs the indexer saw
-- pending (first version in a pending status) within a day of their creation: jobs already waiting
-- when the indexer started would count time it did not see.
SELECT source,
       count(*) AS jobs,
       date_trunc('second', avg(waited)) AS avg_wait,
       date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY waited)) AS p50_wait,
       date_trunc('second', percentile_cont(0.95) WITHIN GROUP (ORDER BY waited)) AS p95_wait,
       date_trunc('second', max(waited)) AS max_wait
FROM (
    SELECT source, job_id,
           min(valid_from) FILTER (WHERE status_group = 'running') - min(create_time) AS waited
    FROM modelarts.job_status_history
    GROUP BY source, job_id
    HAVING bool_or(version_number = 1 AND status_group = 'pending'
                   AND valid_from < create_time + interval '1 day')
) AS seen_pending
WHERE waited IS NOT NULL
GROUP BY source
ORDER BY source;
