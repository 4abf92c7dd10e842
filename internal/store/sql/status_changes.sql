-- The newest versions first, each with the version it replaced (contiguous: its valid_to is this
-- valid_from); versions that changed no status are skipped. The order is that of the index on
-- (valid_from, id) (migration 00022): a backward index scan that stops at the limit, no sort.
SELECT h.source, h.job_id, left(h.job_name, 256), -- a page shows a name cut shorter: read no more
       p.status, coalesce(gp.name, 'UNDOCUMENTED_' || p.status), coalesce(gp.status_group, 'unknown'),
       h.status, coalesce(gh.name, 'UNDOCUMENTED_' || h.status), coalesce(gh.status_group, 'unknown'),
       h.valid_from, j.deleted_at IS NOT NULL
FROM modelarts.visualization_job_history AS h
JOIN LATERAL (
    SELECT prev.status
    FROM modelarts.visualization_job_history AS prev
    WHERE prev.source = h.source AND prev.job_id = h.job_id AND prev.valid_to = h.valid_from
    ORDER BY prev.valid_from DESC
    LIMIT 1
) AS p ON p.status <> h.status
JOIN modelarts.visualization_jobs AS j ON j.source = h.source AND j.job_id = h.job_id
LEFT JOIN modelarts.job_status_groups AS gp ON gp.code = p.status
LEFT JOIN modelarts.job_status_groups AS gh ON gh.code = h.status
ORDER BY h.valid_from DESC, h.id DESC
LIMIT $1::integer
