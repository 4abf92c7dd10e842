-- Marks the given jobs deleted and closes their open versions, in one statement. Only jobs that are
-- live and were not seen by this run are marked, whatever ids the caller passes.
-- $1 source, $2 observed_at, $3 job ids.
WITH deleted AS (
    UPDATE modelarts.visualization_jobs AS j
    SET deleted_at = $2::timestamptz,
        last_changed_at = $2::timestamptz
    WHERE j.source = $1::text
      AND j.job_id = ANY ($3::bigint[])
      AND j.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM pg_temp.vizjob_seen AS s WHERE s.job_id = j.job_id AND s.walk = $4::integer)
    RETURNING j.job_id
), closed AS (
    UPDATE modelarts.visualization_job_history AS h
    SET valid_to = $2::timestamptz
    FROM deleted AS d
    WHERE h.source = $1::text AND h.job_id = d.job_id AND h.valid_to IS NULL
)
SELECT count(*) FROM deleted
