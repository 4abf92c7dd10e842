-- After the last walk of a run: the queue of deletion candidates becomes the live jobs of the source
-- that the last walk did not list (a job an earlier walk listed may have been deleted since). Jobs
-- listed again, or no longer live, leave it; jobs missed again add the walks that missed them to
-- walks_missed; new ones join. Returns the queue's length.
-- $1 source, $2 now, $3 run id, $4 the last walk.
WITH missed AS (
    SELECT j.job_id, $4::integer - coalesce(s.walk, 0) AS walks
    FROM modelarts.visualization_jobs AS j
    LEFT JOIN pg_temp.vizjob_seen AS s ON s.job_id = j.job_id
    WHERE j.source = $1::text
      AND j.deleted_at IS NULL
      AND (s.walk IS NULL OR s.walk < $4::integer)
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
