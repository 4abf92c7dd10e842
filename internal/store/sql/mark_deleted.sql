-- Marks the given jobs deleted, closes their open versions and takes them off the queue of deletion
-- candidates, in one statement. Only jobs that are live and that the current walk did not list are
-- marked, whatever ids the caller passes.
-- $1 source, $2 observed_at, $3 job ids, $4 the current walk, $5 the run id.
WITH deleted AS (
    UPDATE modelarts.visualization_jobs AS j
    SET deleted_at = $2::timestamptz,
        last_changed_at = $2::timestamptz
    WHERE j.source = $1::text
      AND j.job_id = ANY ($3::bigint[])
      AND j.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM modelarts.run_seen AS s WHERE s.run_id = $5::bigint AND s.job_id = j.job_id AND s.walk = $4::integer)
    RETURNING j.job_id
), closed AS (
    UPDATE modelarts.visualization_job_history AS h
    -- Never close a version before it opened, whatever the clock did meanwhile.
    SET valid_to = greatest($2::timestamptz, h.valid_from)
    FROM deleted AS d
    WHERE h.source = $1::text AND h.job_id = d.job_id AND h.valid_to IS NULL
), dequeued AS (
    DELETE FROM modelarts.deletion_candidates AS c
    USING deleted AS d
    WHERE c.source = $1::text AND c.job_id = d.job_id
)
SELECT count(*) FROM deleted
