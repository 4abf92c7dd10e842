-- Page step 0: the stored fingerprint of each of a page's jobs the source has, and whether the row is
-- live and recently seen; UpsertPage sends on only the jobs that are new, changed, deleted or due
-- for a refresh of last_seen_at. Read-only: one scan of the primary key for the whole page.
-- $1 source, $2 job ids, $3 seen cutoff.
SELECT j.job_id, j.content_sha256, j.deleted_at IS NULL AND j.last_seen_at >= $3::timestamptz AS fresh
FROM modelarts.visualization_jobs AS j
WHERE j.source = $1::text AND j.job_id = ANY ($2::bigint[])
