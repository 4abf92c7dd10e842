-- The model BI tools use as it is (issue 28): a calendar, status spells, job lifecycles, daily counts
-- per status group that can be summed, a sources dimension and data-quality counts, each a view whose
-- comment states its grain (what one row is). And two corrections under the documented questions:
--
-- * visualization_job_history.create_time: the job's create_time as the version's sync saw it. A job id
--   the service reuses after a deletion comes back with another create_time: that starts a new life of
--   the id (job_status_spells.life_number), instead of the old history being read with the new job's
--   create_time (a wait of -38 days). Versions written before this migration get the job's current
--   create_time, the best that is known.
-- * daily_status_counts leaves out zero-length versions (valid_to = valid_from, left when the clock
--   stepped back): the job was never seen in that status, so it was not in it on that day.
--
-- Times are timestamptz; days and weeks are in the session's TimeZone, as in daily_status_counts.

-- +goose Up
ALTER TABLE modelarts.visualization_job_history ADD COLUMN create_time timestamptz;
UPDATE modelarts.visualization_job_history AS h
SET create_time = j.create_time
FROM modelarts.visualization_jobs AS j
WHERE j.source = h.source AND j.job_id = h.job_id AND j.create_time IS NOT NULL;

COMMENT ON COLUMN modelarts.visualization_job_history.create_time IS
    'The job''s create_time as the sync that opened this version saw it (null when the API sent none). A job id that comes back after a deletion with another create_time is another job (a new life in job_status_spells). Versions older than migration 00013 hold the job''s create_time of that day.';

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
WHERE h.valid_to IS NULL OR h.valid_to > h.valid_from
GROUP BY d.day, h.source, h.status, g.name, g.status_group, g.is_running;

COMMENT ON VIEW modelarts.daily_status_counts IS
    'Grain: one row per day, source and status code with at least one job. How many jobs were in each status on each day, built from the version history: a version counts on every day its [valid_from, valid_to) span overlaps, up to today; zero-length versions (a clock that stepped back) count nowhere. Days are in the session time zone. A missing row means zero. Do not sum jobs over several statuses (a job that changed status that day counts in each): use daily_status_group_counts. Filter on day and source: the view expands every version into its days.';

-- A calendar: one row per day, for zero-filled daily series (LEFT JOIN a fact to it on day).
CREATE VIEW modelarts.calendar AS
SELECT d::date                                  AS day,
       date_trunc('week', d)::date              AS week,
       date_trunc('month', d)::date             AS month,
       extract(isoyear FROM d)::integer         AS iso_year,
       extract(week FROM d)::integer            AS iso_week,
       extract(isodow FROM d)::integer          AS iso_day_of_week,
       extract(isodow FROM d) >= 6              AS is_weekend,
       d::timestamptz                           AS day_start,
       (d + interval '1 day')::timestamptz      AS day_end
FROM generate_series(timestamp '2018-01-01', current_date::timestamp, interval '1 day') AS d;

COMMENT ON VIEW modelarts.calendar IS
    'Grain: one row per calendar day, from 2018-01-01 (before ModelArts existed) to today, in the session time zone. LEFT JOIN facts to it for series without gaps: a day with no job is a row with 0.';
COMMENT ON COLUMN modelarts.calendar.day IS 'The day (a date in the session time zone).';
COMMENT ON COLUMN modelarts.calendar.week IS 'Monday of the day''s ISO week.';
COMMENT ON COLUMN modelarts.calendar.month IS 'First day of the day''s month.';
COMMENT ON COLUMN modelarts.calendar.iso_year IS 'ISO 8601 week-numbering year.';
COMMENT ON COLUMN modelarts.calendar.iso_week IS 'ISO 8601 week number (1 to 53).';
COMMENT ON COLUMN modelarts.calendar.iso_day_of_week IS '1 (Monday) to 7 (Sunday).';
COMMENT ON COLUMN modelarts.calendar.is_weekend IS 'True on Saturday and Sunday.';
COMMENT ON COLUMN modelarts.calendar.day_start IS 'Midnight starting the day, as a timestamptz (compare timestamps with day_start <= t < day_end).';
COMMENT ON COLUMN modelarts.calendar.day_end IS 'Midnight ending the day: 23, 24 or 25 hours after day_start on the days the session time zone changes its offset.';

-- Status spells: the versions of a job merged into periods of one status.
CREATE VIEW modelarts.job_status_spells AS
WITH versions AS (
    SELECT h.id, h.source, h.job_id, h.status, h.job_name, h.duration_ms, h.create_time,
           h.valid_from, h.valid_to,
           lag(h.valid_to) OVER w    AS previous_valid_to,
           lag(h.status) OVER w      AS previous_status,
           lag(h.create_time) OVER w AS previous_create_time,
           row_number() OVER w       AS n
    FROM modelarts.visualization_job_history AS h
    WHERE h.valid_to IS NULL OR h.valid_to > h.valid_from
    WINDOW w AS (PARTITION BY h.source, h.job_id ORDER BY h.valid_from, h.id)
), numbered AS (
    SELECT v.*,
           1 + count(*) FILTER (WHERE v.n > 1 AND v.previous_valid_to < v.valid_from
                                  AND coalesce(v.create_time <> v.previous_create_time, false)) OVER w AS life_number,
           count(*) FILTER (WHERE v.n = 1 OR v.previous_valid_to < v.valid_from
                              OR v.status <> v.previous_status) OVER w                             AS spell_key
    FROM versions AS v
    WINDOW w AS (PARTITION BY v.source, v.job_id ORDER BY v.valid_from, v.id)
), spells AS (
    SELECT n.source, n.job_id, n.life_number, n.spell_key, n.status,
           min(n.valid_from)                                                        AS started_at,
           CASE WHEN bool_or(n.valid_to IS NULL) THEN NULL ELSE max(n.valid_to) END AS ended_at,
           (array_agg(n.job_name ORDER BY n.valid_from, n.id))[1]                   AS job_name,
           (array_agg(n.job_name ORDER BY n.valid_from DESC, n.id DESC))[1]         AS last_job_name,
           (array_agg(n.duration_ms ORDER BY n.valid_from DESC, n.id DESC))[1]      AS duration_ms,
           min(n.create_time)                                                       AS create_time,
           count(*)                                                                 AS versions
    FROM numbered AS n
    GROUP BY n.source, n.job_id, n.life_number, n.spell_key, n.status
)
SELECT s.source,
       s.job_id,
       s.life_number,
       row_number() OVER life                                       AS spell_number,
       s.status,
       coalesce(g.name, 'UNDOCUMENTED_' || s.status)                AS status_name,
       coalesce(g.status_group, 'unknown')                          AS status_group,
       coalesce(g.is_final, false)                                  AS is_final,
       coalesce(g.is_running, false)                                AS is_running,
       lag(s.status) OVER life                                      AS previous_status,
       lag(coalesce(g.status_group, 'unknown')) OVER life           AS previous_status_group,
       s.started_at,
       s.ended_at,
       s.ended_at IS NULL                                           AS is_current,
       CASE
           WHEN s.ended_at IS NULL THEN NULL
           WHEN lead(s.started_at) OVER job = s.ended_at THEN 'status_change'
           ELSE 'deleted'
       END                                                          AS ended_by,
       lead(s.started_at) OVER job                                  AS next_started_at,
       coalesce(s.ended_at, now()) - s.started_at                   AS duration,
       extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 3600 AS hours,
       s.job_name,
       s.last_job_name,
       s.create_time,
       s.duration_ms,
       s.versions
FROM spells AS s
LEFT JOIN modelarts.job_statuses AS g ON g.code = s.status
WINDOW life AS (PARTITION BY s.source, s.job_id, s.life_number ORDER BY s.started_at),
       job AS (PARTITION BY s.source, s.job_id ORDER BY s.started_at);

COMMENT ON VIEW modelarts.job_status_spells IS
    'Grain: one row per job, life and status period (spell). Consecutive versions in the same status are one spell: a rename or a new description does not split it. A deletion ends a spell; a job that comes back starts a new one. Zero-length versions (a clock that stepped back) are left out. Times are when syncs saw the changes, as precise as the sync schedule. Filter on source (and job_id): the view reads the whole history otherwise.';
COMMENT ON COLUMN modelarts.job_status_spells.source IS 'Source of the job.';
COMMENT ON COLUMN modelarts.job_status_spells.job_id IS 'Job id, unique within a source at a time (the service may reuse it after a deletion: see life_number).';
COMMENT ON COLUMN modelarts.job_status_spells.life_number IS '1 for the first job seen under this id; 2, 3, ... for a job that came back after a deletion with another create_time (the id reused for a new job).';
COMMENT ON COLUMN modelarts.job_status_spells.spell_number IS '1, 2, ... in time order within the life.';
COMMENT ON COLUMN modelarts.job_status_spells.status IS 'Status code during the spell.';
COMMENT ON COLUMN modelarts.job_status_spells.status_name IS 'Status name; UNDOCUMENTED_<code> for an undocumented code.';
COMMENT ON COLUMN modelarts.job_status_spells.status_group IS 'pending, running, stopping, scaling, completed, failed, stopped or unknown (see job_status_groups).';
COMMENT ON COLUMN modelarts.job_status_spells.is_final IS 'True when the status is final (the job has ended).';
COMMENT ON COLUMN modelarts.job_status_spells.is_running IS 'True for JOBSTAT_RUNNING (8), the one meaning of running.';
COMMENT ON COLUMN modelarts.job_status_spells.previous_status IS 'Status of the previous spell of the same life; null for the life''s first spell.';
COMMENT ON COLUMN modelarts.job_status_spells.previous_status_group IS 'Group of the previous spell of the same life; null for the life''s first spell. A spell whose group equals it (FAILED then LOST, or a job back after a deletion in the same group) did not enter the group.';
COMMENT ON COLUMN modelarts.job_status_spells.started_at IS 'When a sync first saw the job in this status (inclusive).';
COMMENT ON COLUMN modelarts.job_status_spells.ended_at IS 'When a sync first saw it in another status or gone (exclusive); null for the current spell of a live job.';
COMMENT ON COLUMN modelarts.job_status_spells.is_current IS 'True for the open spell of a live job.';
COMMENT ON COLUMN modelarts.job_status_spells.ended_by IS 'status_change (the next spell starts when this one ends), deleted (the job vanished), or null for the current spell.';
COMMENT ON COLUMN modelarts.job_status_spells.next_started_at IS 'When the job''s next spell started (after a deletion: when the job came back); null for the last spell.';
COMMENT ON COLUMN modelarts.job_status_spells.duration IS 'Time in the spell: ended_at (or now(), for the current spell) minus started_at.';
COMMENT ON COLUMN modelarts.job_status_spells.hours IS 'duration in hours, not rounded (round only the final answer).';
COMMENT ON COLUMN modelarts.job_status_spells.job_name IS 'Job name when the spell started.';
COMMENT ON COLUMN modelarts.job_status_spells.last_job_name IS 'Job name when the spell ended (or now).';
COMMENT ON COLUMN modelarts.job_status_spells.create_time IS 'The create_time of the life, as the syncs saw it; null when the API sent none.';
COMMENT ON COLUMN modelarts.job_status_spells.duration_ms IS 'Run time reported at the start of the spell''s last version.';
COMMENT ON COLUMN modelarts.job_status_spells.versions IS 'History versions merged into the spell (more than 1 after renames or other changes of tracked attributes).';

-- Job lifecycles: one row per job (per life of a job id).
CREATE VIEW modelarts.job_lifecycles AS
WITH lives AS (
    SELECT s.source, s.job_id, s.life_number,
           min(s.create_time)                                                     AS create_time,
           min(s.started_at)                                                      AS first_seen_at,
           (array_agg(s.status_group ORDER BY s.started_at))[1]                   AS first_status_group,
           min(s.started_at) FILTER (WHERE s.is_running)                          AS first_running_at,
           min(s.started_at) FILTER (WHERE s.is_final)                            AS ended_at,
           sum(extract(epoch FROM s.duration)) FILTER (WHERE s.is_running) / 3600 AS hours_seen_running,
           (array_agg(s.status ORDER BY s.started_at DESC))[1]                    AS status,
           (array_agg(s.ended_by ORDER BY s.started_at DESC))[1]                  AS last_ended_by,
           (array_agg(s.ended_at ORDER BY s.started_at DESC))[1]                  AS last_ended_at,
           (array_agg(s.last_job_name ORDER BY s.started_at DESC))[1]             AS job_name,
           (array_agg(s.duration_ms ORDER BY s.started_at DESC))[1]               AS last_duration_ms,
           count(*)                                                               AS spells
    FROM modelarts.job_status_spells AS s
    GROUP BY s.source, s.job_id, s.life_number
), latest AS (
    SELECT l.*, l.life_number = max(l.life_number) OVER (PARTITION BY l.source, l.job_id) AS is_latest_life
    FROM lives AS l
)
SELECT l.source,
       l.job_id,
       l.life_number,
       l.is_latest_life,
       l.job_name,
       l.create_time,
       l.first_seen_at,
       l.first_status_group,
       l.first_running_at,
       l.ended_at,
       CASE
           WHEN l.first_status_group = 'pending' AND l.first_seen_at < l.create_time + interval '24 hours'
               THEN l.first_running_at - least(l.create_time, l.first_seen_at)
       END                                                              AS wait_before_running,
       CASE WHEN l.is_latest_life THEN j.duration_ms ELSE l.last_duration_ms END AS run_time_ms,
       l.hours_seen_running,
       l.status,
       coalesce(g.name, 'UNDOCUMENTED_' || l.status)                    AS status_name,
       coalesce(g.status_group, 'unknown')                              AS status_group,
       coalesce(g.is_final, false)                                      AS is_final,
       CASE WHEN l.last_ended_by = 'deleted' THEN l.last_ended_at END   AS deleted_at,
       l.spells
FROM latest AS l
LEFT JOIN modelarts.visualization_jobs AS j ON l.is_latest_life AND j.source = l.source AND j.job_id = l.job_id
LEFT JOIN modelarts.job_statuses AS g ON g.code = l.status;

COMMENT ON VIEW modelarts.job_lifecycles IS
    'Grain: one row per job: per source, job id and life (a job id the service reused after a deletion is two jobs). When it was created, first seen, first seen running, ended; its wait before running, run time, last status and deletion. Built from job_status_spells: filter on source for speed.';
COMMENT ON COLUMN modelarts.job_lifecycles.source IS 'Source of the job.';
COMMENT ON COLUMN modelarts.job_lifecycles.job_id IS 'Job id.';
COMMENT ON COLUMN modelarts.job_lifecycles.life_number IS '1 for the first job seen under this id, 2, 3, ... for jobs that reused it after a deletion.';
COMMENT ON COLUMN modelarts.job_lifecycles.is_latest_life IS 'True for the job that holds the id now (the row of jobs_current).';
COMMENT ON COLUMN modelarts.job_lifecycles.job_name IS 'Last name seen.';
COMMENT ON COLUMN modelarts.job_lifecycles.create_time IS 'When the job was created, as the API reports it; null when the API sent none.';
COMMENT ON COLUMN modelarts.job_lifecycles.first_seen_at IS 'When a sync first saw the job.';
COMMENT ON COLUMN modelarts.job_lifecycles.first_status_group IS 'Status group when first seen (pending: the indexer saw it before it started).';
COMMENT ON COLUMN modelarts.job_lifecycles.first_running_at IS 'When a sync first saw it running (JOBSTAT_RUNNING); null if never.';
COMMENT ON COLUMN modelarts.job_lifecycles.ended_at IS 'When a sync first saw it in a final status; null while it has not ended.';
COMMENT ON COLUMN modelarts.job_lifecycles.wait_before_running IS 'first_running_at minus its creation (create_time, or first_seen_at if earlier: clocks disagree), for a job first seen pending less than 24 hours after create_time; null otherwise (seen too late to know its wait, no create_time, or never ran). Never negative.';
COMMENT ON COLUMN modelarts.job_lifecycles.run_time_ms IS 'Run time in milliseconds as the API last reported it (duration_ms); it may shrink between syncs, the last value counts.';
COMMENT ON COLUMN modelarts.job_lifecycles.hours_seen_running IS 'Hours the syncs saw it in JOBSTAT_RUNNING (to now for a running job); null if never.';
COMMENT ON COLUMN modelarts.job_lifecycles.status IS 'Last status code.';
COMMENT ON COLUMN modelarts.job_lifecycles.status_name IS 'Last status name; UNDOCUMENTED_<code> for an undocumented code.';
COMMENT ON COLUMN modelarts.job_lifecycles.status_group IS 'Group of the last status.';
COMMENT ON COLUMN modelarts.job_lifecycles.is_final IS 'True when the last status is final: the job has ended.';
COMMENT ON COLUMN modelarts.job_lifecycles.deleted_at IS 'When the job was found gone; null while it exists.';
COMMENT ON COLUMN modelarts.job_lifecycles.spells IS 'Number of status spells.';

-- Daily counts per status group, built from the spells. Spells in a group that is not final (pending,
-- running, stopping, scaling, unknown: hours or days long) are expanded into their days and their jobs
-- counted distinct; spells in a final group (completed, failed, stopped) last until the job is deleted,
-- so expanding them would cost every job once per day since it ended: their counts are running sums
-- of the days their periods in the group start and end instead (a job is in one period at a time).
CREATE VIEW modelarts.daily_status_group_counts AS
WITH spells AS (
    SELECT s.source, s.job_id, s.life_number, s.status_group, s.started_at, s.ended_at,
           s.previous_status_group IS DISTINCT FROM s.status_group AS entered,
           s.status_group IN ('completed', 'failed', 'stopped')     AS final_group,
           lag(s.ended_at) OVER (PARTITION BY s.source, s.job_id, s.life_number ORDER BY s.started_at) AS previous_ended_at
    FROM modelarts.job_status_spells AS s
), final_spells AS (
    -- Consecutive spells of one final group (FAILED then LOST) are one period in the group; so are two
    -- spells around a deletion whose gap starts and ends on the same day (the job is counted once).
    SELECT g.source, g.job_id, g.life_number, g.status_group,
           min(g.started_at) AS started_at,
           CASE WHEN bool_or(g.ended_at IS NULL) THEN NULL ELSE max(g.ended_at) END AS ended_at,
           bool_or(g.entered) AS entered
    FROM (
        SELECT s.*,
               count(*) FILTER (WHERE s.entered OR s.previous_ended_at IS NULL
                                      OR s.previous_ended_at::date <> s.started_at::date)
                   OVER (PARTITION BY s.source, s.job_id, s.life_number ORDER BY s.started_at) AS period
        FROM spells AS s
        WHERE s.final_group
    ) AS g
    GROUP BY g.source, g.job_id, g.life_number, g.status_group, g.period
), active AS (
    SELECT d.day,
           s.source,
           s.status_group,
           count(DISTINCT (s.job_id, s.life_number)) AS jobs_during_day,
           count(DISTINCT (s.job_id, s.life_number)) FILTER (
               WHERE s.started_at < least((d.day + 1)::timestamptz, now())
                 AND (s.ended_at IS NULL OR s.ended_at >= least((d.day + 1)::timestamptz, now()))
           )                                          AS jobs_at_day_end,
           count(*) FILTER (WHERE s.started_at >= d.day::timestamptz AND s.entered) AS jobs_entered
    FROM spells AS s
    CROSS JOIN LATERAL (
        SELECT x::date AS day
        FROM generate_series(s.started_at::date::timestamp,
                             greatest(s.started_at, coalesce(s.ended_at, now()) - interval '1 microsecond')::date::timestamp,
                             interval '1 day') AS x
    ) AS d
    WHERE NOT s.final_group
    GROUP BY d.day, s.source, s.status_group
), final_events AS (
    SELECT e.source, e.status_group, e.day,
           sum(e.started) AS started, sum(e.entered) AS entered,
           sum(e.ended_by_day_end) AS ended_by_day_end, sum(e.ended_during) AS ended_during
    FROM (
        SELECT s.source, s.status_group, s.started_at::date AS day, 1 AS started, s.entered::integer AS entered,
               0 AS ended_by_day_end, 0 AS ended_during
        FROM final_spells AS s
        UNION ALL
        SELECT s.source, s.status_group, s.ended_at::date, 0, 0, 1, 0
        FROM final_spells AS s WHERE s.ended_at IS NOT NULL
        UNION ALL
        SELECT s.source, s.status_group, (s.ended_at - interval '1 microsecond')::date, 0, 0, 0, 1
        FROM final_spells AS s WHERE s.ended_at IS NOT NULL
    ) AS e
    GROUP BY e.source, e.status_group, e.day
), final_days AS (
    SELECT k.source, k.status_group, x::date AS day,
           coalesce(f.started, 0) AS started, coalesce(f.entered, 0) AS entered,
           coalesce(f.ended_by_day_end, 0) AS ended_by_day_end, coalesce(f.ended_during, 0) AS ended_during
    FROM (SELECT source, status_group, min(day) AS first_day FROM final_events GROUP BY source, status_group) AS k
    CROSS JOIN LATERAL generate_series(k.first_day::timestamp, greatest(k.first_day, current_date)::timestamp, interval '1 day') AS x
    LEFT JOIN final_events AS f ON f.source = k.source AND f.status_group = k.status_group AND f.day = x::date
), final AS (
    SELECT f.day, f.source, f.status_group,
           -- in the group some time that day: started by its end, minus ended before it began
           sum(f.started) OVER w - sum(f.ended_during) OVER w + f.ended_during AS jobs_during_day,
           -- in the group when it ended: started by then, minus ended by then
           sum(f.started) OVER w - sum(f.ended_by_day_end) OVER w            AS jobs_at_day_end,
           f.entered                                                         AS jobs_entered
    FROM final_days AS f
    WINDOW w AS (PARTITION BY f.source, f.status_group ORDER BY f.day)
)
SELECT day, source, status_group, jobs_during_day, jobs_at_day_end, jobs_entered FROM active
UNION ALL
SELECT day, source, status_group, jobs_during_day::bigint, jobs_at_day_end::bigint, jobs_entered::bigint
FROM final
WHERE jobs_during_day > 0;

COMMENT ON VIEW modelarts.daily_status_group_counts IS
    'Grain: one row per day, source and status group with at least one job. Sum jobs_at_day_end over groups, sources or both (a job is in one group at a time), and jobs_entered over days too; jobs_during_day counts a job once per group, so sum it over sources only. Days are in the session time zone; a missing row means zero (join calendar for zeros).';
COMMENT ON COLUMN modelarts.daily_status_group_counts.day IS 'Calendar day, in the session time zone.';
COMMENT ON COLUMN modelarts.daily_status_group_counts.source IS 'Source of the jobs.';
COMMENT ON COLUMN modelarts.daily_status_group_counts.status_group IS 'pending, running, stopping, scaling, completed, failed, stopped or unknown.';
COMMENT ON COLUMN modelarts.daily_status_group_counts.jobs_during_day IS 'Distinct jobs in the group at some time during the day (a job counts once, however many statuses of the group it went through).';
COMMENT ON COLUMN modelarts.daily_status_group_counts.jobs_at_day_end IS 'Jobs in the group when the day ended (for today: now). Additive over groups and sources.';
COMMENT ON COLUMN modelarts.daily_status_group_counts.jobs_entered IS 'Entries into the group that day: from another group, or a job first seen in it (a job back after a deletion in the same group, or FAILED then LOST, did not enter; running, scaling, running again entered running twice). Additive over days, groups and sources.';

-- What the configuration said of each source when it last ran (no secret: no key, token or password).
CREATE TABLE modelarts.source_settings (
    source        text        PRIMARY KEY,
    project_id    text        NOT NULL,
    region        text        NOT NULL,
    endpoint      text        NOT NULL,
    auth_mode     text        NOT NULL CHECK (auth_mode IN ('aksk', 'token')),
    workspace_id  text        NOT NULL,
    full_schedule text        NOT NULL,
    head_schedule text        NOT NULL,
    recorded_at   timestamptz NOT NULL
);

COMMENT ON TABLE modelarts.source_settings IS
    'Grain: one row per source that ran since migration 00013. Its settings as the configuration gave them at its latest run, written by that run when they changed. Never a secret.';
COMMENT ON COLUMN modelarts.source_settings.source IS 'Source name (sync_runs.source).';
COMMENT ON COLUMN modelarts.source_settings.project_id IS 'ModelArts project id.';
COMMENT ON COLUMN modelarts.source_settings.region IS 'Region, e.g. cn-north-4; empty when only an endpoint was configured.';
COMMENT ON COLUMN modelarts.source_settings.endpoint IS 'ModelArts base URL, without any user information.';
COMMENT ON COLUMN modelarts.source_settings.auth_mode IS 'aksk (signed requests with an access key) or token (IAM user token).';
COMMENT ON COLUMN modelarts.source_settings.workspace_id IS 'ModelArts workspace listed; empty: the API''s default workspace.';
COMMENT ON COLUMN modelarts.source_settings.full_schedule IS 'Cron schedule of full walks for indexer run.';
COMMENT ON COLUMN modelarts.source_settings.head_schedule IS 'Cron schedule of head walks for indexer run; off: none.';
COMMENT ON COLUMN modelarts.source_settings.recorded_at IS 'When a run last recorded a change of these settings.';

-- The sources: what the configuration, the ledger and the jobs table know of each.
CREATE VIEW modelarts.sources AS
WITH names AS (
    SELECT source FROM modelarts.sync_runs
    UNION
    SELECT source FROM modelarts.visualization_jobs
    UNION
    SELECT source FROM modelarts.source_settings
)
SELECT n.source,
       cfg.project_id,
       cfg.region,
       cfg.endpoint,
       cfg.auth_mode,
       cfg.workspace_id,
       cfg.full_schedule,
       cfg.head_schedule,
       runs.first_run_at,
       runs.last_run_at,
       runs.last_full_run_at,
       runs.last_head_run_at,
       runs.last_success_at,
       runs.runs,
       runs.failed_runs,
       runs.partial_runs,
       jobs.jobs,
       jobs.live_jobs,
       jobs.deleted_jobs,
       jobs.first_seen_at,
       jobs.last_changed_at
FROM names AS n
LEFT JOIN modelarts.source_settings AS cfg ON cfg.source = n.source
LEFT JOIN LATERAL (
    SELECT min(r.started_at)                                                  AS first_run_at,
           max(r.started_at)                                                  AS last_run_at,
           max(r.started_at) FILTER (WHERE r.kind = 'full')                   AS last_full_run_at,
           max(r.started_at) FILTER (WHERE r.kind = 'head')                   AS last_head_run_at,
           max(r.finished_at) FILTER (WHERE r.kind = 'full' AND r.state = 'succeeded') AS last_success_at,
           count(*)                                                           AS runs,
           count(*) FILTER (WHERE r.state = 'failed')                         AS failed_runs,
           count(*) FILTER (WHERE r.state = 'partial')                        AS partial_runs
    FROM modelarts.sync_runs AS r
    WHERE r.source = n.source
) AS runs ON true
LEFT JOIN LATERAL (
    SELECT count(*)                                    AS jobs,
           count(*) FILTER (WHERE j.deleted_at IS NULL) AS live_jobs,
           count(*) FILTER (WHERE j.deleted_at IS NOT NULL) AS deleted_jobs,
           min(j.first_seen_at)                        AS first_seen_at,
           max(j.last_changed_at)                      AS last_changed_at
    FROM modelarts.visualization_jobs AS j
    WHERE j.source = n.source
) AS jobs ON true;

COMMENT ON VIEW modelarts.sources IS
    'Grain: one row per source (a ModelArts project in a region, by its name in the configuration) that has a run, a job or recorded settings. Its settings at its latest run (source_settings), its runs and its jobs in a few numbers. Freshness and errors: sync_health.';
COMMENT ON COLUMN modelarts.sources.source IS 'Source name.';
COMMENT ON COLUMN modelarts.sources.project_id IS 'ModelArts project id; null before the source ran with a version that records it.';
COMMENT ON COLUMN modelarts.sources.region IS 'Region; empty when only an endpoint was configured.';
COMMENT ON COLUMN modelarts.sources.endpoint IS 'ModelArts base URL.';
COMMENT ON COLUMN modelarts.sources.auth_mode IS 'aksk or token.';
COMMENT ON COLUMN modelarts.sources.workspace_id IS 'ModelArts workspace listed; empty: the default one.';
COMMENT ON COLUMN modelarts.sources.full_schedule IS 'Cron schedule of full walks (indexer run).';
COMMENT ON COLUMN modelarts.sources.head_schedule IS 'Cron schedule of head walks (indexer run); off: none.';
COMMENT ON COLUMN modelarts.sources.first_run_at IS 'When its first run in the ledger started.';
COMMENT ON COLUMN modelarts.sources.last_run_at IS 'When its latest run started (full or head).';
COMMENT ON COLUMN modelarts.sources.last_full_run_at IS 'When its latest full walk started.';
COMMENT ON COLUMN modelarts.sources.last_head_run_at IS 'When its latest head walk started; null if it has none.';
COMMENT ON COLUMN modelarts.sources.last_success_at IS 'When its latest succeeded full walk ended.';
COMMENT ON COLUMN modelarts.sources.runs IS 'Runs in the ledger.';
COMMENT ON COLUMN modelarts.sources.failed_runs IS 'Of those, failed.';
COMMENT ON COLUMN modelarts.sources.partial_runs IS 'Of those, partial (the walk could not be verified complete).';
COMMENT ON COLUMN modelarts.sources.jobs IS 'Jobs ever seen (one per id; see job_lifecycles for reused ids).';
COMMENT ON COLUMN modelarts.sources.live_jobs IS 'Jobs that exist now.';
COMMENT ON COLUMN modelarts.sources.deleted_jobs IS 'Jobs marked deleted.';
COMMENT ON COLUMN modelarts.sources.first_seen_at IS 'When its first job was first seen.';
COMMENT ON COLUMN modelarts.sources.last_changed_at IS 'When any of its jobs last changed.';

-- Data quality: what the answers leave out, per source.
CREATE VIEW modelarts.data_quality AS
SELECT s.source,
       (SELECT count(*) FROM modelarts.visualization_jobs AS j
        WHERE j.source = s.source AND j.create_time IS NULL)                                 AS jobs_without_create_time,
       (SELECT count(DISTINCT h.job_id) FROM modelarts.visualization_job_history AS h
        WHERE h.source = s.source AND h.create_time > h.valid_from)                          AS jobs_created_after_first_seen,
       (SELECT count(*) FROM modelarts.visualization_jobs AS j
        LEFT JOIN modelarts.job_statuses AS g ON g.code = j.status
        WHERE j.source = s.source AND g.code IS NULL)                                        AS jobs_in_undocumented_status,
       (SELECT count(*) FROM modelarts.visualization_job_history AS h
        WHERE h.source = s.source AND h.valid_to = h.valid_from)                             AS zero_length_versions,
       (SELECT count(*) FROM modelarts.bad_items AS b WHERE b.source = s.source)             AS bad_items,
       (SELECT max(b.last_seen_at) FROM modelarts.bad_items AS b WHERE b.source = s.source)  AS bad_items_last_seen_at,
       (SELECT count(*) FROM modelarts.deletion_candidates AS c WHERE c.source = s.source)   AS pending_deletion_candidates
FROM modelarts.sources AS s;

COMMENT ON VIEW modelarts.data_quality IS
    'Grain: one row per source. Counts of what the documented answers leave out or treat specially: jobs without a create_time, jobs whose create_time is later than their first sighting (clocks disagree), jobs in an undocumented status, zero-length versions, malformed items the API sent, and jobs missing from a walk whose deletion is not confirmed yet.';
COMMENT ON COLUMN modelarts.data_quality.source IS 'Source name.';
COMMENT ON COLUMN modelarts.data_quality.jobs_without_create_time IS 'Jobs the API sent without a create_time (left out of per-creation-day and wait answers).';
COMMENT ON COLUMN modelarts.data_quality.jobs_created_after_first_seen IS 'Jobs whose create_time is later than a sync that saw them (a version valid from before it): the service''s and the indexer''s clocks disagree.';
COMMENT ON COLUMN modelarts.data_quality.jobs_in_undocumented_status IS 'Jobs whose last status code the API reference does not list (status group unknown).';
COMMENT ON COLUMN modelarts.data_quality.zero_length_versions IS 'History versions with valid_to = valid_from (a clock that stepped back): left out of spells and daily counts.';
COMMENT ON COLUMN modelarts.data_quality.bad_items IS 'Distinct malformed items the API sent (modelarts.bad_items).';
COMMENT ON COLUMN modelarts.data_quality.bad_items_last_seen_at IS 'When a run last received one.';
COMMENT ON COLUMN modelarts.data_quality.pending_deletion_candidates IS 'Jobs missing from a walk whose deletion the service has not confirmed yet (modelarts.deletion_candidates).';

-- +goose Down
DROP VIEW modelarts.data_quality;
DROP VIEW modelarts.sources;
DROP TABLE modelarts.source_settings;
DROP VIEW modelarts.daily_status_group_counts;
DROP VIEW modelarts.job_lifecycles;
DROP VIEW modelarts.job_status_spells;
DROP VIEW modelarts.calendar;

-- daily_status_counts as 00007 left it.
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

COMMENT ON VIEW modelarts.daily_status_counts IS
    'How many jobs were in each status on each day, built from the version history: a version counts on every day its [valid_from, valid_to) span overlaps, up to today. Days are in the session time zone. A missing row means zero. Filter on day and source: the view expands every version into its days.';

ALTER TABLE modelarts.visualization_job_history DROP COLUMN create_time;
