-- Two kinds of run: the full walk over every page (the source of truth, the only kind that settles
-- deletions) and the head walk (the newest jobs and the jobs in a status that is not final, every
-- minute or so, for fresher history). sync_runs says which; sync_health keeps describing full runs
-- (its columns and their meaning are unchanged; a source appears once it has a full run).

-- +goose Up
ALTER TABLE modelarts.sync_runs
    ADD COLUMN kind text NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'head'));

COMMENT ON COLUMN modelarts.sync_runs.kind IS
    'full: a walk over every page (the source of truth; settles deletions). head: a cheap run that lists only the newest jobs and the jobs in a status that is not final, and never marks a deletion.';

-- sync_health as in 00007, over full runs only.
CREATE OR REPLACE VIEW modelarts.sync_health AS
WITH RECURSIVE sources AS (
    (SELECT source FROM modelarts.sync_runs WHERE kind = 'full' ORDER BY source LIMIT 1)
    UNION ALL
    SELECT (SELECT r.source FROM modelarts.sync_runs AS r WHERE r.kind = 'full' AND r.source > s.source ORDER BY r.source LIMIT 1)
    FROM sources AS s
    WHERE s.source IS NOT NULL
)
SELECT s.source,
       last.id                                             AS last_run_id,
       last.state                                          AS last_run_state,
       last.started_at                                     AS last_run_started_at,
       last.finished_at                                    AS last_run_finished_at,
       last.error                                          AS last_run_error,
       ok.finished_at                                      AS last_success_at,
       ok.id                                               AS last_success_run_id,
       now() - ok.finished_at                              AS freshness,
       extract(epoch FROM now() - ok.finished_at)::bigint AS freshness_seconds,
       err.finished_at                                     AS last_error_at,
       err.error                                           AS last_error,
       day.runs                                            AS runs_24h,
       day.failed                                          AS failed_runs_24h,
       jobs.live                                           AS live_jobs,
       jobs.running                                        AS running_jobs
FROM sources AS s
CROSS JOIN LATERAL (
    SELECT r.id, r.state, r.started_at, r.finished_at, r.error
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.kind = 'full'
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last
LEFT JOIN LATERAL (
    SELECT r.id, r.finished_at
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.kind = 'full' AND r.state = 'succeeded'
    ORDER BY r.finished_at DESC
    LIMIT 1
) AS ok ON true
LEFT JOIN LATERAL (
    SELECT r.finished_at, r.error
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.kind = 'full' AND r.error IS NOT NULL
    ORDER BY r.finished_at DESC
    LIMIT 1
) AS err ON true
CROSS JOIN LATERAL (
    SELECT count(*)                                 AS runs,
           count(*) FILTER (WHERE r.state = 'failed') AS failed
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.kind = 'full' AND r.started_at >= now() - interval '24 hours'
) AS day
CROSS JOIN LATERAL (
    SELECT count(*)                                            AS live,
           count(*) FILTER (WHERE coalesce(st.is_running, false)) AS running
    FROM modelarts.visualization_jobs AS j
    LEFT JOIN modelarts.job_statuses AS st ON st.code = j.status
    WHERE j.source = s.source AND j.deleted_at IS NULL
) AS jobs
WHERE s.source IS NOT NULL;

-- +goose Down
CREATE OR REPLACE VIEW modelarts.sync_health AS
WITH RECURSIVE sources AS (
    (SELECT source FROM modelarts.sync_runs ORDER BY source LIMIT 1)
    UNION ALL
    SELECT (SELECT r.source FROM modelarts.sync_runs AS r WHERE r.source > s.source ORDER BY r.source LIMIT 1)
    FROM sources AS s
    WHERE s.source IS NOT NULL
)
SELECT s.source,
       last.id                                             AS last_run_id,
       last.state                                          AS last_run_state,
       last.started_at                                     AS last_run_started_at,
       last.finished_at                                    AS last_run_finished_at,
       last.error                                          AS last_run_error,
       ok.finished_at                                      AS last_success_at,
       ok.id                                               AS last_success_run_id,
       now() - ok.finished_at                              AS freshness,
       extract(epoch FROM now() - ok.finished_at)::bigint AS freshness_seconds,
       err.finished_at                                     AS last_error_at,
       err.error                                           AS last_error,
       day.runs                                            AS runs_24h,
       day.failed                                          AS failed_runs_24h,
       jobs.live                                           AS live_jobs,
       jobs.running                                        AS running_jobs
FROM sources AS s
CROSS JOIN LATERAL (
    SELECT r.id, r.state, r.started_at, r.finished_at, r.error
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last
LEFT JOIN LATERAL (
    SELECT r.id, r.finished_at
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.state = 'succeeded'
    ORDER BY r.finished_at DESC
    LIMIT 1
) AS ok ON true
LEFT JOIN LATERAL (
    SELECT r.finished_at, r.error
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.error IS NOT NULL
    ORDER BY r.finished_at DESC
    LIMIT 1
) AS err ON true
CROSS JOIN LATERAL (
    SELECT count(*)                                 AS runs,
           count(*) FILTER (WHERE r.state = 'failed') AS failed
    FROM modelarts.sync_runs AS r
    WHERE r.source = s.source AND r.started_at >= now() - interval '24 hours'
) AS day
CROSS JOIN LATERAL (
    SELECT count(*)                                            AS live,
           count(*) FILTER (WHERE coalesce(st.is_running, false)) AS running
    FROM modelarts.visualization_jobs AS j
    LEFT JOIN modelarts.job_statuses AS st ON st.code = j.status
    WHERE j.source = s.source AND j.deleted_at IS NULL
) AS jobs
WHERE s.source IS NOT NULL;
ALTER TABLE modelarts.sync_runs DROP COLUMN kind;
