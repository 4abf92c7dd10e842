-- After the last walk of a run: the queue of deletion candidates becomes the live jobs of the source
-- that the last walk did not list (a job an earlier walk listed may have been deleted since). Jobs
-- listed again, or no longer live, leave it; jobs missed again add the walks that missed them to
-- walks_missed; new ones join. Returns the queue's length.
-- What the run's walks listed is in the run's memory (seen.go), which passes the jobs the last walk
-- missed: those an earlier walk listed, and those the run knew at its start (known.go) that no walk
-- listed; a run that did not read them at its start ($7 false: a run that stored nothing, or a head
-- run; a first sync knows the source held nothing) also misses every live job it did not list ($8).
-- $1 source, $2 now, $3 run id, $4 the last walk, $5 the jobs the last walk missed, $6 the last walk
-- that listed each (0: none), $7 whether the run knows what the source held at its start, $8 when it
-- does not, every job its walks listed.
WITH missed AS (
    SELECT j.job_id, $4::integer - u.walk AS walks
    FROM unnest($5::bigint[], $6::integer[]) AS u(job_id, walk)
    JOIN modelarts.visualization_jobs AS j ON j.source = $1::text AND j.job_id = u.job_id
    WHERE j.deleted_at IS NULL
    UNION ALL
    SELECT j.job_id, $4::integer
    FROM modelarts.visualization_jobs AS j
    WHERE NOT $7::boolean
      AND j.source = $1::text
      AND j.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM unnest($8::bigint[]) AS s(job_id) WHERE s.job_id = j.job_id)
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
