-- One meaning of "running": a job is running when its status is JOBSTAT_RUNNING (code 8), and only then.
-- job_statuses.is_running says so once; every view, documented query, metric and the status page read
-- it. Migration 00004 had put JOBSTAT_KILLING (9, being stopped) and JOBSTAT_SCALING (15) in status
-- group 'running' too, while sync_health.running_jobs and the documented queries counted code 8 only, so
-- that a dashboard built on the group disagreed with them. Those two codes now have groups named for
-- what they are ('stopping', 'scaling'), and the wider set (8, 9 and 15: the job has started and not
-- ended) is job_statuses.is_active.
--
-- It also stores as null the create_time that earlier versions stored as 1970-01-01 (the epoch) when
-- the API sent none, null or 0: no ModelArts job was created at the epoch.
--
-- View columns are added at the end (CREATE OR REPLACE VIEW keeps the others and their comments).

-- +goose Up
ALTER TABLE modelarts.job_statuses
    ADD COLUMN is_running boolean NOT NULL DEFAULT false,
    ADD COLUMN is_active  boolean NOT NULL DEFAULT false;
UPDATE modelarts.job_statuses SET is_running = (code = 8), is_active = (code IN (8, 9, 15));
ALTER TABLE modelarts.job_statuses
    ALTER COLUMN is_running DROP DEFAULT,
    ALTER COLUMN is_active DROP DEFAULT;

COMMENT ON COLUMN modelarts.job_statuses.is_running IS
    'The one definition of running used by every view, documented query, metric and the status page: true for JOBSTAT_RUNNING (8) only. Being stopped (9) or scaling (15) is not running: see is_active.';
COMMENT ON COLUMN modelarts.job_statuses.is_active IS
    'True when the job has started and not ended: running (8), being stopped (9) or scaling (15). Wider than running (is_running).';

-- Create time from the epoch: the API sent no create_time, null or 0. content_sha256 is cleared so that
-- the next sync compares those jobs in full (their fingerprint was taken with the epoch).
UPDATE modelarts.visualization_jobs
SET create_time = NULL, content_sha256 = NULL
WHERE create_time = 'epoch'::timestamptz;

CREATE OR REPLACE VIEW modelarts.job_status_groups AS
SELECT s.code,
       s.name,
       s.meaning,
       s.is_final,
       CASE
           WHEN s.is_running THEN 'running'
           WHEN s.code IN (1, 2, 4, 7, 18, 19, 20) THEN 'pending'
           WHEN s.code = 9 THEN 'stopping'
           WHEN s.code = 15 THEN 'scaling'
           WHEN s.code = 10 THEN 'completed'
           WHEN s.code IN (12, 13) THEN 'stopped'
           WHEN s.is_final THEN 'failed'
           ELSE 'unknown'
       END AS status_group,
       s.is_running,
       s.is_active
FROM modelarts.job_statuses AS s;

COMMENT ON VIEW modelarts.job_status_groups IS
    'Every documented status code with its name, meaning, whether it is final, a coarse group for dashboards (pending, running, stopping, scaling, completed, failed, stopped, unknown), and whether it counts as running (JOBSTAT_RUNNING only) or active.';
COMMENT ON COLUMN modelarts.job_status_groups.status_group IS
    'pending (initializing, submitting, waiting, pre-run checks), running (JOBSTAT_RUNNING only, as is_running), stopping (being stopped), scaling, completed, failed (every failure, and lost), stopped (killed or canceled), unknown (JOBSTAT_UNKNOWN).';
COMMENT ON COLUMN modelarts.job_status_groups.is_running IS
    'Running means status JOBSTAT_RUNNING (8) and nothing else (job_statuses.is_running); the same as status_group = ''running''.';
COMMENT ON COLUMN modelarts.job_status_groups.is_active IS
    'Started and not ended: running, being stopped or scaling (job_statuses.is_active). Wider than running.';

CREATE OR REPLACE VIEW modelarts.jobs_current AS
SELECT j.source,
       j.job_id,
       j.job_name,
       j.job_desc,
       j.status,
       coalesce(g.name, 'UNDOCUMENTED_' || j.status)              AS status_name,
       coalesce(g.status_group, 'unknown')                        AS status_group,
       coalesce(g.is_final, false)                                AS is_final,
       j.deleted_at IS NOT NULL                                   AS is_deleted,
       j.create_time,
       j.duration_ms,
       j.duration_ms * interval '1 millisecond'                   AS duration,
       round(j.duration_ms / 3600000.0, 3)                        AS duration_hours,
       j.service_url,
       j.train_url,
       j.resource_id,
       j.first_seen_at,
       j.last_seen_at,
       j.last_changed_at,
       j.deleted_at,
       coalesce(g.is_running, false)                              AS is_running
FROM modelarts.visualization_jobs AS j
LEFT JOIN modelarts.job_status_groups AS g ON g.code = j.status;

COMMENT ON COLUMN modelarts.jobs_current.status_group IS
    'pending, running, stopping, scaling, completed, failed, stopped or unknown (see job_status_groups).';
COMMENT ON COLUMN modelarts.jobs_current.create_time IS
    'When the job was created, as the API reports it; null when the API sent none (or 0).';
COMMENT ON COLUMN modelarts.jobs_current.is_running IS
    'True when the job''s last known status is JOBSTAT_RUNNING (8), the one meaning of running (job_statuses.is_running). Add NOT is_deleted for jobs running now.';

CREATE OR REPLACE VIEW modelarts.job_status_history AS
SELECT h.id                                                           AS version_id,
       h.source,
       h.job_id,
       row_number() OVER w                                            AS version_number,
       h.job_name,
       h.status,
       coalesce(g.name, 'UNDOCUMENTED_' || h.status)                  AS status_name,
       coalesce(g.status_group, 'unknown')                            AS status_group,
       coalesce(g.is_final, false)                                    AS is_final,
       lag(h.status) OVER w                                           AS previous_status,
       coalesce(lag(h.status) OVER w <> h.status, false)              AS status_changed,
       h.valid_from,
       h.valid_to,
       h.valid_to IS NULL                                             AS is_current,
       CASE
           WHEN h.valid_to IS NULL THEN NULL
           WHEN lead(h.valid_from) OVER w = h.valid_to THEN 'replaced'
           ELSE 'deleted'
       END                                                            AS ended_by,
       coalesce(h.valid_to, now()) - h.valid_from                     AS time_in_version,
       round(extract(epoch FROM coalesce(h.valid_to, now()) - h.valid_from)::numeric / 3600, 3) AS hours_in_version,
       h.duration_ms,
       j.create_time,
       j.deleted_at IS NOT NULL                                       AS job_is_deleted,
       h.sync_run_id,
       coalesce(g.is_running, false)                                  AS is_running
FROM modelarts.visualization_job_history AS h
JOIN modelarts.visualization_jobs AS j ON j.source = h.source AND j.job_id = h.job_id
LEFT JOIN modelarts.job_status_groups AS g ON g.code = h.status
WINDOW w AS (PARTITION BY h.source, h.job_id ORDER BY h.valid_from, h.id);

COMMENT ON COLUMN modelarts.job_status_history.status_group IS
    'pending, running, stopping, scaling, completed, failed, stopped or unknown (see job_status_groups).';
COMMENT ON COLUMN modelarts.job_status_history.create_time IS
    'When the job was created (from the job''s current row); null when the API sent none.';
COMMENT ON COLUMN modelarts.job_status_history.is_running IS
    'True when the status of this version is JOBSTAT_RUNNING (8), the one meaning of running (job_statuses.is_running).';

CREATE OR REPLACE VIEW modelarts.daily_status_counts AS
SELECT d.day,
       h.source,
       h.status,
       coalesce(g.name, 'UNDOCUMENTED_' || h.status) AS status_name,
       coalesce(g.status_group, 'unknown')          AS status_group,
       count(DISTINCT h.job_id)                     AS jobs,
       count(DISTINCT h.job_id) FILTER (
           WHERE h.valid_from < least((d.day + 1)::timestamptz, now())
             AND (h.valid_to IS NULL OR h.valid_to >= least((d.day + 1)::timestamptz, now()))
       )                                            AS jobs_at_day_end,
       coalesce(g.is_running, false)                AS is_running
FROM modelarts.visualization_job_history AS h
CROSS JOIN LATERAL (
    SELECT s::date AS day
    FROM generate_series(h.valid_from::date::timestamp,
                         greatest(h.valid_from, coalesce(h.valid_to, now()) - interval '1 microsecond')::date::timestamp,
                         interval '1 day') AS s
) AS d
LEFT JOIN modelarts.job_status_groups AS g ON g.code = h.status
GROUP BY d.day, h.source, h.status, g.name, g.status_group, g.is_running;

COMMENT ON COLUMN modelarts.daily_status_counts.status_group IS
    'pending, running, stopping, scaling, completed, failed, stopped or unknown.';
COMMENT ON COLUMN modelarts.daily_status_counts.is_running IS
    'True for the status JOBSTAT_RUNNING (8), the one meaning of running (job_statuses.is_running).';

-- sync_health as in 00004, but for running_jobs, which reads job_statuses.is_running.
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

COMMENT ON COLUMN modelarts.sync_health.running_jobs IS
    'Of those, jobs running: in status JOBSTAT_RUNNING (8), the one meaning of running (job_statuses.is_running).';

-- +goose Down
-- The views as migration 00004 made them (their comments are kept by CREATE OR REPLACE, and put back
-- where this migration changed them). The create_time of jobs stored without one stays null.
DROP VIEW modelarts.sync_health;
DROP VIEW modelarts.daily_status_counts;
DROP VIEW modelarts.job_status_history;
DROP VIEW modelarts.jobs_current;
DROP VIEW modelarts.job_status_groups;

CREATE VIEW modelarts.job_status_groups AS
SELECT s.code,
       s.name,
       s.meaning,
       s.is_final,
       CASE
           WHEN s.code IN (1, 2, 4, 7, 18, 19, 20) THEN 'pending'
           WHEN s.code IN (8, 9, 15) THEN 'running'
           WHEN s.code = 10 THEN 'completed'
           WHEN s.code IN (12, 13) THEN 'stopped'
           WHEN s.is_final THEN 'failed'
           ELSE 'unknown'
       END AS status_group
FROM modelarts.job_statuses AS s;

COMMENT ON VIEW modelarts.job_status_groups IS
    'Every documented status code with its name, meaning, whether it is final, and a coarse group for dashboards (pending, running, completed, failed, stopped, unknown).';
COMMENT ON COLUMN modelarts.job_status_groups.code IS 'Status code as sent by the API.';
COMMENT ON COLUMN modelarts.job_status_groups.name IS 'Symbolic name, e.g. JOBSTAT_RUNNING.';
COMMENT ON COLUMN modelarts.job_status_groups.meaning IS 'What the status means, in one line.';
COMMENT ON COLUMN modelarts.job_status_groups.is_final IS 'True when the job has ended and its status is not expected to change again.';
COMMENT ON COLUMN modelarts.job_status_groups.status_group IS
    'pending (initializing, submitting, waiting, pre-run checks), running (running, being stopped, scaling: the TensorBoard is served), completed, failed (every failure, and lost), stopped (killed or canceled), unknown (JOBSTAT_UNKNOWN).';

CREATE VIEW modelarts.jobs_current AS
SELECT j.source,
       j.job_id,
       j.job_name,
       j.job_desc,
       j.status,
       coalesce(g.name, 'UNDOCUMENTED_' || j.status)              AS status_name,
       coalesce(g.status_group, 'unknown')                        AS status_group,
       coalesce(g.is_final, false)                                AS is_final,
       j.deleted_at IS NOT NULL                                   AS is_deleted,
       j.create_time,
       j.duration_ms,
       j.duration_ms * interval '1 millisecond'                   AS duration,
       round(j.duration_ms / 3600000.0, 3)                        AS duration_hours,
       j.service_url,
       j.train_url,
       j.resource_id,
       j.first_seen_at,
       j.last_seen_at,
       j.last_changed_at,
       j.deleted_at
FROM modelarts.visualization_jobs AS j
LEFT JOIN modelarts.job_status_groups AS g ON g.code = j.status;

COMMENT ON VIEW modelarts.jobs_current IS
    'Every visualization job ever seen, one row per job and source, in its last known state: status with its name and group, duration as an interval and in hours. Deleted jobs are kept (is_deleted): add WHERE NOT is_deleted for the jobs that exist now.';
COMMENT ON COLUMN modelarts.jobs_current.source IS 'Source (a ModelArts project in a region) the job belongs to.';
COMMENT ON COLUMN modelarts.jobs_current.job_id IS 'Job id, unique within a source.';
COMMENT ON COLUMN modelarts.jobs_current.job_name IS 'Job name.';
COMMENT ON COLUMN modelarts.jobs_current.job_desc IS 'Job description.';
COMMENT ON COLUMN modelarts.jobs_current.status IS 'Status code as sent by the API.';
COMMENT ON COLUMN modelarts.jobs_current.status_name IS 'Status name (JOBSTAT_RUNNING, ...); UNDOCUMENTED_<code> for a code the API reference does not list.';
COMMENT ON COLUMN modelarts.jobs_current.status_group IS 'pending, running, completed, failed, stopped or unknown (see job_status_groups).';
COMMENT ON COLUMN modelarts.jobs_current.is_final IS 'True when the status is final (the job has ended); false for undocumented codes.';
COMMENT ON COLUMN modelarts.jobs_current.is_deleted IS 'True when the job has vanished from the API (deleted_at is set).';
COMMENT ON COLUMN modelarts.jobs_current.create_time IS 'When the job was created, as the API reports it.';
COMMENT ON COLUMN modelarts.jobs_current.duration_ms IS 'Run time in milliseconds, as last seen.';
COMMENT ON COLUMN modelarts.jobs_current.duration IS 'Run time as an interval.';
COMMENT ON COLUMN modelarts.jobs_current.duration_hours IS 'Run time in hours (3 decimals).';
COMMENT ON COLUMN modelarts.jobs_current.service_url IS 'URL of the visualization service; empty when not served.';
COMMENT ON COLUMN modelarts.jobs_current.train_url IS 'OBS path the job visualizes.';
COMMENT ON COLUMN modelarts.jobs_current.resource_id IS 'Billing resource id; null if not sent.';
COMMENT ON COLUMN modelarts.jobs_current.first_seen_at IS 'When the indexer first saw the job.';
COMMENT ON COLUMN modelarts.jobs_current.last_seen_at IS 'When a run last saw the job (refreshed at most daily for unchanged jobs).';
COMMENT ON COLUMN modelarts.jobs_current.last_changed_at IS 'When any stored field of the job last changed.';
COMMENT ON COLUMN modelarts.jobs_current.deleted_at IS 'When the job was found gone; null while it exists.';

-- One row per version of a job, with how long it lasted.
CREATE VIEW modelarts.job_status_history AS
SELECT h.id                                                           AS version_id,
       h.source,
       h.job_id,
       row_number() OVER w                                            AS version_number,
       h.job_name,
       h.status,
       coalesce(g.name, 'UNDOCUMENTED_' || h.status)                  AS status_name,
       coalesce(g.status_group, 'unknown')                            AS status_group,
       coalesce(g.is_final, false)                                    AS is_final,
       lag(h.status) OVER w                                           AS previous_status,
       coalesce(lag(h.status) OVER w <> h.status, false)              AS status_changed,
       h.valid_from,
       h.valid_to,
       h.valid_to IS NULL                                             AS is_current,
       CASE
           WHEN h.valid_to IS NULL THEN NULL
           WHEN lead(h.valid_from) OVER w = h.valid_to THEN 'replaced'
           ELSE 'deleted'
       END                                                            AS ended_by,
       coalesce(h.valid_to, now()) - h.valid_from                     AS time_in_version,
       round(extract(epoch FROM coalesce(h.valid_to, now()) - h.valid_from)::numeric / 3600, 3) AS hours_in_version,
       h.duration_ms,
       j.create_time,
       j.deleted_at IS NOT NULL                                       AS job_is_deleted,
       h.sync_run_id
FROM modelarts.visualization_job_history AS h
JOIN modelarts.visualization_jobs AS j ON j.source = h.source AND j.job_id = h.job_id
LEFT JOIN modelarts.job_status_groups AS g ON g.code = h.status
WINDOW w AS (PARTITION BY h.source, h.job_id ORDER BY h.valid_from, h.id);

COMMENT ON VIEW modelarts.job_status_history IS
    'Every version of every job (a new version starts when the status, name, description or URLs change), with the time spent in it: valid_to minus valid_from, or up to now() for the current version. Times are when a sync observed the change, so they are as precise as the sync schedule. A job deleted then seen again has a gap between its versions.';
COMMENT ON COLUMN modelarts.job_status_history.version_id IS 'Version id (visualization_job_history.id).';
COMMENT ON COLUMN modelarts.job_status_history.source IS 'Source of the job.';
COMMENT ON COLUMN modelarts.job_status_history.job_id IS 'Job id.';
COMMENT ON COLUMN modelarts.job_status_history.version_number IS '1 for the first version of the job seen, then 2, 3, ... in time order.';
COMMENT ON COLUMN modelarts.job_status_history.job_name IS 'Job name during this version.';
COMMENT ON COLUMN modelarts.job_status_history.status IS 'Status code during this version.';
COMMENT ON COLUMN modelarts.job_status_history.status_name IS 'Status name; UNDOCUMENTED_<code> for an undocumented code.';
COMMENT ON COLUMN modelarts.job_status_history.status_group IS 'pending, running, completed, failed, stopped or unknown (see job_status_groups).';
COMMENT ON COLUMN modelarts.job_status_history.is_final IS 'True when the status of this version is final; false for undocumented codes.';
COMMENT ON COLUMN modelarts.job_status_history.previous_status IS 'Status code of the previous version; null for the first version.';
COMMENT ON COLUMN modelarts.job_status_history.status_changed IS
    'True when this version''s status differs from the previous version''s (a status transition was observed); false for the first version and for versions that only changed a name, description or URL.';
COMMENT ON COLUMN modelarts.job_status_history.valid_from IS 'When a sync first saw this version (inclusive).';
COMMENT ON COLUMN modelarts.job_status_history.valid_to IS 'When a sync first saw it replaced or the job gone (exclusive); null for the current version.';
COMMENT ON COLUMN modelarts.job_status_history.is_current IS 'True for the open version of a live job.';
COMMENT ON COLUMN modelarts.job_status_history.ended_by IS 'replaced (a newer version follows at once), deleted (the job vanished), or null for the current version.';
COMMENT ON COLUMN modelarts.job_status_history.time_in_version IS 'Time spent in this version: valid_to (or now(), for the current version) minus valid_from.';
COMMENT ON COLUMN modelarts.job_status_history.hours_in_version IS 'time_in_version in hours (3 decimals).';
COMMENT ON COLUMN modelarts.job_status_history.duration_ms IS 'Run time reported when the version started.';
COMMENT ON COLUMN modelarts.job_status_history.create_time IS 'When the job was created (from the job''s current row).';
COMMENT ON COLUMN modelarts.job_status_history.job_is_deleted IS 'True when the job is deleted now.';
COMMENT ON COLUMN modelarts.job_status_history.sync_run_id IS 'Run that observed this version first (modelarts.sync_runs.id).';

-- Jobs per status and day, from the history: a version counts on every day it overlaps.
CREATE VIEW modelarts.daily_status_counts AS
SELECT d.day,
       h.source,
       h.status,
       coalesce(g.name, 'UNDOCUMENTED_' || h.status) AS status_name,
       coalesce(g.status_group, 'unknown')          AS status_group,
       count(DISTINCT h.job_id)                     AS jobs,
       count(DISTINCT h.job_id) FILTER (
           WHERE h.valid_from < least((d.day + 1)::timestamptz, now())
             AND (h.valid_to IS NULL OR h.valid_to >= least((d.day + 1)::timestamptz, now()))
       )                                            AS jobs_at_day_end
FROM modelarts.visualization_job_history AS h
CROSS JOIN LATERAL (
    SELECT s::date AS day
    FROM generate_series(h.valid_from::date::timestamp,
                         greatest(h.valid_from, coalesce(h.valid_to, now()) - interval '1 microsecond')::date::timestamp,
                         interval '1 day') AS s
) AS d
LEFT JOIN modelarts.job_status_groups AS g ON g.code = h.status
GROUP BY d.day, h.source, h.status, g.name, g.status_group;

COMMENT ON VIEW modelarts.daily_status_counts IS
    'How many jobs were in each status on each day, built from the version history: a version counts on every day its [valid_from, valid_to) span overlaps, up to today. Days are in the session time zone. A missing row means zero. Filter on day and source: the view expands every version into its days.';
COMMENT ON COLUMN modelarts.daily_status_counts.day IS 'Calendar day, in the session time zone.';
COMMENT ON COLUMN modelarts.daily_status_counts.source IS 'Source of the jobs.';
COMMENT ON COLUMN modelarts.daily_status_counts.status IS 'Status code.';
COMMENT ON COLUMN modelarts.daily_status_counts.status_name IS 'Status name; UNDOCUMENTED_<code> for an undocumented code.';
COMMENT ON COLUMN modelarts.daily_status_counts.status_group IS 'pending, running, completed, failed, stopped or unknown.';
COMMENT ON COLUMN modelarts.daily_status_counts.jobs IS 'Jobs that were in this status at some time during the day (a job that changed status that day counts in each).';
COMMENT ON COLUMN modelarts.daily_status_counts.jobs_at_day_end IS 'Jobs in this status when the day ended (for today: now).';

-- One row per source: how fresh its mirror is.
CREATE VIEW modelarts.sync_health AS
WITH RECURSIVE sources AS (
    -- The distinct sources of the ledger, read from the (source, started_at) index one source at a
    -- time rather than by scanning every run.
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
    SELECT count(*)                                 AS live,
           count(*) FILTER (WHERE j.status = 8)     AS running
    FROM modelarts.visualization_jobs AS j
    WHERE j.source = s.source AND j.deleted_at IS NULL
) AS jobs
WHERE s.source IS NOT NULL;

COMMENT ON VIEW modelarts.sync_health IS
    'One row per source that has run at least once: its last run, its last successful run and how long ago that was (freshness), its last error, and its job counts. Alert on freshness_seconds.';
COMMENT ON COLUMN modelarts.sync_health.source IS 'Source name.';
COMMENT ON COLUMN modelarts.sync_health.last_run_id IS 'Id of the latest run (sync_runs.id), whatever its state.';
COMMENT ON COLUMN modelarts.sync_health.last_run_state IS 'State of the latest run: running, succeeded, partial or failed.';
COMMENT ON COLUMN modelarts.sync_health.last_run_started_at IS 'When the latest run started.';
COMMENT ON COLUMN modelarts.sync_health.last_run_finished_at IS 'When the latest run ended; null while it runs.';
COMMENT ON COLUMN modelarts.sync_health.last_run_error IS 'Error of the latest run; null if it succeeded.';
COMMENT ON COLUMN modelarts.sync_health.last_success_at IS 'When the latest succeeded run (complete, verified walk) ended; null if none ever did.';
COMMENT ON COLUMN modelarts.sync_health.last_success_run_id IS 'Id of that run.';
COMMENT ON COLUMN modelarts.sync_health.freshness IS 'now() minus last_success_at: how old the mirror of this source may be.';
COMMENT ON COLUMN modelarts.sync_health.freshness_seconds IS 'freshness in seconds (for alert thresholds); null if no run ever succeeded.';
COMMENT ON COLUMN modelarts.sync_health.last_error_at IS 'When the latest run that recorded an error (failed or partial) ended.';
COMMENT ON COLUMN modelarts.sync_health.last_error IS 'That error.';
COMMENT ON COLUMN modelarts.sync_health.runs_24h IS 'Runs started in the last 24 hours.';
COMMENT ON COLUMN modelarts.sync_health.failed_runs_24h IS 'Of those, runs that failed.';
COMMENT ON COLUMN modelarts.sync_health.live_jobs IS 'Jobs of the source that exist now (not deleted).';
COMMENT ON COLUMN modelarts.sync_health.running_jobs IS 'Of those, jobs in status JOBSTAT_RUNNING.';

ALTER TABLE modelarts.job_statuses DROP COLUMN is_active, DROP COLUMN is_running;
