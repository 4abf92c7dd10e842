-- Page step 0: the jobs of a page that need the full upsert: new jobs, jobs whose content fingerprint
-- differs from the stored one (or is not stored yet), jobs marked deleted, and unchanged jobs whose
-- last_seen_at is older than the refresh cutoff. The others are unchanged: nothing is sent or written
-- for them. Read-only.
-- $1 source, $2 job ids, $3 their content fingerprints, $4 seen cutoff.
-- Each job is looked up by its key (a LATERAL subquery with LIMIT, see close_changed_versions.sql).
SELECT p.job_id
FROM unnest($2::bigint[], $3::bytea[]) AS p(job_id, content_sha256)
LEFT JOIN LATERAL (
    SELECT j.content_sha256, j.deleted_at, j.last_seen_at
    FROM modelarts.visualization_jobs AS j
    WHERE j.source = $1::text AND j.job_id = p.job_id
    LIMIT 1
) AS j ON true
WHERE j.content_sha256 IS NULL
   OR j.content_sha256 <> p.content_sha256
   OR j.deleted_at IS NOT NULL
   OR j.last_seen_at < $4::timestamptz
