-- Page step 2: insert new jobs and rewrite the rows of known jobs whose stored content changed, or
-- whose last_seen_at is older than the refresh cutoff. Rows that are unchanged and recently seen are
-- filtered out before the INSERT, so they are neither rewritten nor even row-locked: a resync in which
-- nothing changed writes nothing.
-- $1 source, $2 observed_at, $3 seen cutoff (observed_at - SeenRefresh).
-- Returns how many rows were inserted and how many existing rows changed content.
WITH candidate AS (
    SELECT s.*,
           j.job_id IS NULL
           OR (j.job_name, j.job_desc, j.status, j.create_time, j.duration_ms,
               j.service_url, j.train_url, j.resource_id, j.raw, j.remaining_duration_ms, j.deleted_at)
              IS DISTINCT FROM
              (s.job_name, s.job_desc, s.status, s.create_time, s.duration_ms,
               s.service_url, s.train_url, s.resource_id, s.raw, s.remaining_duration_ms, NULL::timestamptz) AS changed,
           j.last_seen_at    AS old_last_seen_at,
           j.last_changed_at AS old_last_changed_at
    FROM pg_temp.vizjob_staging AS s
    -- Job by job, whatever the statistics say (see close_changed_versions.sql).
    LEFT JOIN LATERAL (
        SELECT j.job_id, j.job_name, j.job_desc, j.status, j.create_time, j.duration_ms, j.service_url,
               j.train_url, j.resource_id, j.raw, j.remaining_duration_ms, j.deleted_at, j.last_seen_at, j.last_changed_at
        FROM modelarts.visualization_jobs AS j
        WHERE j.source = $1::text AND j.job_id = s.job_id
        LIMIT 1
    ) AS j ON true
), upserted AS (
    INSERT INTO modelarts.visualization_jobs AS j
        (source, job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url,
         resource_id, raw, content_sha256, remaining_duration_ms, first_seen_at, last_seen_at, last_changed_at, deleted_at)
    SELECT $1::text, c.job_id, c.job_name, c.job_desc, c.status, c.create_time, c.duration_ms,
           c.service_url, c.train_url, c.resource_id, c.raw, c.content_sha256, c.remaining_duration_ms,
           $2::timestamptz, $2::timestamptz,
           CASE WHEN c.changed THEN $2::timestamptz ELSE c.old_last_changed_at END,
           NULL
    FROM candidate AS c
    WHERE c.changed OR c.old_last_seen_at < $3::timestamptz
    ON CONFLICT (source, job_id) DO UPDATE SET
        job_name        = excluded.job_name,
        job_desc        = excluded.job_desc,
        status          = excluded.status,
        create_time     = excluded.create_time,
        duration_ms     = excluded.duration_ms,
        service_url     = excluded.service_url,
        train_url       = excluded.train_url,
        resource_id     = excluded.resource_id,
        raw             = excluded.raw,
        content_sha256  = excluded.content_sha256,
        remaining_duration_ms = excluded.remaining_duration_ms,
        last_seen_at    = excluded.last_seen_at,
        last_changed_at = excluded.last_changed_at,
        deleted_at      = NULL
        -- first_seen_at is set on insert only.
    -- The same test again, against the row as locked: a no-op if it changed since the snapshot.
    WHERE (j.job_name, j.job_desc, j.status, j.create_time, j.duration_ms,
           j.service_url, j.train_url, j.resource_id, j.raw, j.remaining_duration_ms, j.deleted_at)
          IS DISTINCT FROM
          (excluded.job_name, excluded.job_desc, excluded.status, excluded.create_time, excluded.duration_ms,
           excluded.service_url, excluded.train_url, excluded.resource_id, excluded.raw, excluded.remaining_duration_ms, NULL::timestamptz)
       OR j.last_seen_at < $3::timestamptz
    RETURNING j.xmax = 0 AS inserted, j.last_changed_at = $2::timestamptz AS changed
)
SELECT count(*) FILTER (WHERE inserted)                 AS inserted,
       count(*) FILTER (WHERE NOT inserted AND changed) AS updated
FROM upserted
