-- After the last walk of a run: the queue of deletion candidates becomes the live jobs of the source
-- that the last walk did not list (a job an earlier walk listed may have been deleted since). Jobs
-- listed again, or no longer live, leave it; jobs missed again add the walks that missed them to
-- walks_missed; new ones join. Returns the queue's length.
-- A full run knows the jobs the source held at its start (known.go) and what its walks listed of them;
-- the seen table (modelarts.run_seen, the run's rows) holds only the other jobs its walks listed. The missed jobs are those known jobs that
-- the last walk did not list (passed in), and the jobs of the seen table that only earlier walks
-- listed; a run that read nothing at its start ($7 false) also misses every live job not in the seen
-- table.
-- $1 source, $2 now, $3 run id, $4 the last walk, $5 the known jobs the last walk did not list, $6
-- the last walk that listed each (0: none), $7 whether the run read the source's jobs at its start.
WITH missed AS (
    SELECT j.job_id, $4::integer - u.walk AS walks
    FROM unnest($5::bigint[], $6::integer[]) AS u(job_id, walk)
    JOIN modelarts.visualization_jobs AS j ON j.source = $1::text AND j.job_id = u.job_id
    WHERE j.deleted_at IS NULL
    UNION ALL
    SELECT j.job_id, $4::integer - s.walk
    FROM modelarts.run_seen AS s
    JOIN modelarts.visualization_jobs AS j ON j.source = $1::text AND j.job_id = s.job_id
    WHERE s.run_id = $3::bigint AND s.walk < $4::integer AND j.deleted_at IS NULL
    UNION ALL
    SELECT j.job_id, $4::integer
    FROM modelarts.visualization_jobs AS j
    WHERE NOT $7::boolean
      AND j.source = $1::text
      AND j.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM modelarts.run_seen AS s WHERE s.run_id = $3::bigint AND s.job_id = j.job_id)
), settled AS (
    DELETE FROM modelarts.deletion_candidates AS c
    WHERE c.source = $1::text
      AND NOT EXISTS (SELECT 1 FROM missed AS m WHERE m.job_id = c.job_id)
), queued AS (
    INSERT INTO modelarts.deletion_candidates AS c (source, job_id, first_missed_at, first_missed_run_id, walks_missed)
    SELECT $1::text, m.job_id, $2::timestamptz, $3::bigint, m.walks
    FROM missed AS m
    ON CONFLICT (source, job_id) DO UPDATE SET walks_missed = c.walks_missed + excluded.walks_missed
)
SELECT count(*) FROM missed
