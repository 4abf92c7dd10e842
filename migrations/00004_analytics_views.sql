-- The analytics layer: views for BI tools (Metabase, Grafana, Superset, psql) on top of the mirror,
-- and indexes for the filters they use most. View names and columns are a public contract, like the
-- tables': add columns at the end, never rename or drop one.
--
-- Works on PostgreSQL 13 to 17 (nothing newer than 13: no date_bin, range_agg, security_invoker).
-- Views that read the clock use now(), which is the start of the current transaction: every view and
-- query of one transaction sees the same "now".
--
-- Days are calendar days in the session's TimeZone setting (SET TimeZone = 'UTC', or the BI tool's
-- report time zone): date_trunc and ::date follow it.

-- +goose Up

-- Status codes grouped for dashboards. Undocumented codes are not in job_statuses; the views below
-- report them as status_name 'UNDOCUMENTED_<code>' in group 'unknown'.
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

-- One row per job ever seen, with readable status and duration.
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

-- Indexes for the common filters. Plain CREATE INDEX (goose runs each migration in a transaction):
-- writes to the table wait while each builds, which takes seconds for a few hundred thousand jobs.
CREATE INDEX visualization_jobs_status_source_idx ON modelarts.visualization_jobs (status, source);
CREATE INDEX visualization_jobs_create_time_idx ON modelarts.visualization_jobs (create_time);
CREATE INDEX visualization_jobs_deleted_at_idx ON modelarts.visualization_jobs (deleted_at)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX visualization_job_history_status_valid_from_idx
    ON modelarts.visualization_job_history (status, valid_from);
CREATE INDEX visualization_job_history_valid_from_idx ON modelarts.visualization_job_history (valid_from);
CREATE INDEX sync_runs_source_succeeded_idx ON modelarts.sync_runs (source, finished_at DESC)
    WHERE state = 'succeeded';
CREATE INDEX sync_runs_source_error_idx ON modelarts.sync_runs (source, finished_at DESC)
    WHERE error IS NOT NULL;

-- Name search (job_name ILIKE '%bert%') uses a trigram index when pg_trgm can be had. It is optional:
-- without it the same queries work, by scanning the table. Creating the extension needs CREATE on the
-- database (pg_trgm is a trusted extension since PostgreSQL 13) and the contrib files on the server;
-- a migration that failed for want of either would block every later migration for the sake of one
-- index, so this one creates the index only when it can and says so otherwise (a WARNING, which also
-- lands in the server log). An existing pg_trgm is used wherever it is installed; otherwise it is
-- installed into schema modelarts, which the migrating role owns whatever the privileges on public,
-- and the Down section removes it again. To add the index later, as a role that may:
--   CREATE EXTENSION pg_trgm;  -- then
--   CREATE INDEX visualization_jobs_job_name_trgm_idx ON modelarts.visualization_jobs USING gin (job_name gin_trgm_ops);
-- +goose StatementBegin
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    BEGIN
        IF trgm_schema IS NULL THEN
            CREATE EXTENSION pg_trgm SCHEMA modelarts;
            trgm_schema := 'modelarts';
        END IF;
        EXECUTE format('CREATE INDEX visualization_jobs_job_name_trgm_idx ON modelarts.visualization_jobs '
                       'USING gin (job_name %I.gin_trgm_ops)', trgm_schema);
    EXCEPTION
        WHEN insufficient_privilege OR undefined_file OR undefined_object OR feature_not_supported THEN
            RAISE WARNING 'modelarts: no trigram index on visualization_jobs.job_name (name searches will scan the table): %', SQLERRM
                USING HINT = 'As a role with CREATE on the database: CREATE EXTENSION pg_trgm; CREATE INDEX visualization_jobs_job_name_trgm_idx ON modelarts.visualization_jobs USING gin (job_name gin_trgm_ops);';
    END;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP VIEW modelarts.sync_health;
DROP VIEW modelarts.daily_status_counts;
DROP VIEW modelarts.job_status_history;
DROP VIEW modelarts.jobs_current;
DROP VIEW modelarts.job_status_groups;

DROP INDEX IF EXISTS modelarts.visualization_jobs_job_name_trgm_idx;
DROP INDEX modelarts.visualization_jobs_status_source_idx;
DROP INDEX modelarts.visualization_jobs_create_time_idx;
DROP INDEX modelarts.visualization_jobs_deleted_at_idx;
DROP INDEX modelarts.visualization_job_history_status_valid_from_idx;
DROP INDEX modelarts.visualization_job_history_valid_from_idx;
DROP INDEX modelarts.sync_runs_source_succeeded_idx;
DROP INDEX modelarts.sync_runs_source_error_idx;

-- pg_trgm goes only if Up installed it into modelarts (a pg_trgm installed elsewhere is not ours). It
-- fails, rather than cascading, if something else has come to depend on it.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
               WHERE e.extname = 'pg_trgm' AND n.nspname = 'modelarts') THEN
        DROP EXTENSION pg_trgm;
    END IF;
END
$$;
-- +goose StatementEnd
