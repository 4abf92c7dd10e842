-- Records malformed items of a page, once per distinct payload (see RecordBadItems).
INSERT INTO modelarts.bad_items AS b
	(source, item_sha256, job_id, reason, raw, first_seen_at, last_seen_at, first_sync_run_id, last_sync_run_id)
SELECT $1::text, x.sha, x.job_id, x.reason, x.raw, $2::timestamptz, $2::timestamptz, $3::bigint, $3::bigint
FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[]) AS x (sha, job_id, reason, raw)
ON CONFLICT (source, item_sha256) DO UPDATE SET
	last_seen_at     = excluded.last_seen_at,
	last_sync_run_id = excluded.last_sync_run_id,
	reason           = excluded.reason,
	runs             = b.runs + 1
-- Walks of the same run that meet the payload again change nothing.
WHERE b.last_sync_run_id IS DISTINCT FROM excluded.last_sync_run_id
