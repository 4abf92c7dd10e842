-- The BI model at 10 M jobs (issue 28): job_status_spells, job_lifecycles and daily_status_group_counts
-- were views computing every job's whole history on each read (seconds at 20 000 jobs, minutes at
-- 10 M). Their rows are now kept in tables that the sync maintains as it writes history: a statement
-- trigger of visualization_job_history recomputes the spells, the lifecycle and the day events of the
-- jobs the statement touched (a page's jobs), in the sync's own transaction. The three view names and
-- their columns stay as they were (users' SQL depends on them); they read the tables.
--
-- In schema modelarts_internal (out of the model's list; the views read them as their owner):
--   spell_facts              one row per job, life and status spell: what job_status_spells shows but
--                            its clock-dependent columns (duration, hours, is_current)
--   lifecycle_facts          one row per job life: what job_lifecycles shows but the clock-dependent
--                            and jobs-table columns
--   status_group_day_facts   per source, status group and day (in the report time zone): spells that
--                            started, ended, entered the group and jobs that joined it that day; the
--                            view's counts are running sums over these days
-- In schema modelarts:
--   report_settings          the report time zone: days of status_group_day_facts are in it
--
-- Days depend on a time zone, and the documented views count days in the session's. The day events
-- are kept for one zone (report_settings.time_zone: the zone of the session that ran this migration,
-- normally the server's default, which BI sessions inherit); a session in another zone gets the same
-- answer computed from spell_facts (correct, slower). modelarts.set_report_time_zone(zone) changes it.

-- +goose Up
-- What the views read and the triggers keep, apart from the model BI tools list (schema modelarts).
CREATE SCHEMA modelarts_internal;
COMMENT ON SCHEMA modelarts_internal IS
    'Tables and functions of the indexer that back the public views of schema modelarts; read those views.';

CREATE TABLE modelarts.report_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone text    NOT NULL
);
INSERT INTO modelarts.report_settings (time_zone) VALUES (current_setting('TimeZone'));

COMMENT ON TABLE modelarts.report_settings IS
    'Grain: one row. The report time zone: daily_status_group_counts is read from status_group_day_facts, kept in this zone, by sessions whose TimeZone setting is this name (UTC under any of its names: UTC, Etc/UTC, GMT, Zulu, ...); other sessions get it computed from spell_facts (same answer, slower). Change it with SELECT modelarts.set_report_time_zone(''Europe/Berlin'').';
COMMENT ON COLUMN modelarts.report_settings.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN modelarts.report_settings.time_zone IS 'Time zone name as SET TimeZone takes it (e.g. Etc/UTC, Asia/Shanghai); at first the TimeZone of the session that migrated the database (normally the server''s default).';

-- The name a session's TimeZone is compared by with the report time zone: UTC under its many names
-- (Debian's servers default to Etc/UTC, drivers and BI tools often set UTC) is one zone; any other
-- name is itself (two names of one zone elsewhere only cost the computed, slower answer).
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.zone_key(zone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN lower(zone) IN ('utc', 'etc/utc', 'uct', 'etc/uct', 'universal', 'etc/universal', 'zulu',
                                    'etc/zulu', 'gmt', 'etc/gmt', 'gmt0', 'etc/gmt0', 'gmt+0', 'gmt-0', 'etc/gmt+0',
                                    'etc/gmt-0', 'greenwich', 'etc/greenwich')
                   THEN 'UTC'
               ELSE zone
           END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.zone_key(text) IS
    'UTC for every name of UTC, the name itself otherwise: how daily_status_group_counts compares the session''s TimeZone with the report time zone.';

-- The spells of every job, computed from the history: the body job_status_spells had (migration 00013)
-- without its clock-dependent columns. Filtered on source and job_id, it reads only those jobs'
-- versions (every window is partitioned by them).
CREATE VIEW modelarts_internal.spells_computed AS
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
       lag(s.status) OVER life                                      AS previous_status,
       s.started_at,
       s.ended_at,
       CASE
           WHEN s.ended_at IS NULL THEN NULL
           WHEN lead(s.started_at) OVER job = s.ended_at THEN 'status_change'
           ELSE 'deleted'
       END                                                          AS ended_by,
       lead(s.started_at) OVER job                                  AS next_started_at,
       s.job_name,
       s.last_job_name,
       s.create_time,
       s.duration_ms,
       s.versions
FROM spells AS s
WINDOW life AS (PARTITION BY s.source, s.job_id, s.life_number ORDER BY s.started_at),
       job AS (PARTITION BY s.source, s.job_id ORDER BY s.started_at);

COMMENT ON VIEW modelarts_internal.spells_computed IS
    'Internal: the status spells computed from visualization_job_history, as the sync stores them in spell_facts. Read job_status_spells instead.';

CREATE TABLE modelarts_internal.spell_facts (
    source          text        NOT NULL,
    job_id          bigint      NOT NULL,
    life_number     bigint      NOT NULL,
    spell_number    bigint      NOT NULL,
    status          integer     NOT NULL,
    previous_status integer,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    ended_by        text,
    next_started_at timestamptz,
    job_name        text        NOT NULL,
    last_job_name   text        NOT NULL,
    create_time     timestamptz,
    duration_ms     bigint,
    versions        bigint      NOT NULL,
    PRIMARY KEY (source, job_id, life_number, spell_number)
);
CREATE INDEX spell_facts_started_at_idx ON modelarts_internal.spell_facts (started_at);
CREATE INDEX spell_facts_ended_at_idx ON modelarts_internal.spell_facts (ended_at) WHERE ended_at IS NOT NULL;

COMMENT ON TABLE modelarts_internal.spell_facts IS
    'Grain: one row per job, life and status spell. The stored part of job_status_spells (read the view: it adds the status names and groups and the time spent to now), kept by the sync: each statement that writes visualization_job_history recomputes the spells of the jobs it touched.';
COMMENT ON COLUMN modelarts_internal.spell_facts.source IS 'Source of the job.';
COMMENT ON COLUMN modelarts_internal.spell_facts.job_id IS 'Job id.';
COMMENT ON COLUMN modelarts_internal.spell_facts.life_number IS 'As job_status_spells.life_number.';
COMMENT ON COLUMN modelarts_internal.spell_facts.spell_number IS 'As job_status_spells.spell_number.';
COMMENT ON COLUMN modelarts_internal.spell_facts.status IS 'Status code during the spell.';
COMMENT ON COLUMN modelarts_internal.spell_facts.previous_status IS 'Status code of the previous spell of the life; null for its first.';
COMMENT ON COLUMN modelarts_internal.spell_facts.started_at IS 'As job_status_spells.started_at.';
COMMENT ON COLUMN modelarts_internal.spell_facts.ended_at IS 'As job_status_spells.ended_at.';
COMMENT ON COLUMN modelarts_internal.spell_facts.ended_by IS 'As job_status_spells.ended_by.';
COMMENT ON COLUMN modelarts_internal.spell_facts.next_started_at IS 'As job_status_spells.next_started_at.';
COMMENT ON COLUMN modelarts_internal.spell_facts.job_name IS 'As job_status_spells.job_name.';
COMMENT ON COLUMN modelarts_internal.spell_facts.last_job_name IS 'As job_status_spells.last_job_name.';
COMMENT ON COLUMN modelarts_internal.spell_facts.create_time IS 'As job_status_spells.create_time.';
COMMENT ON COLUMN modelarts_internal.spell_facts.duration_ms IS 'As job_status_spells.duration_ms.';
COMMENT ON COLUMN modelarts_internal.spell_facts.versions IS 'As job_status_spells.versions.';

-- The lifecycles, computed from spell_facts: the body job_lifecycles had (migration 00013) without
-- its clock-dependent columns and the jobs table's run time.
CREATE VIEW modelarts_internal.lifecycles_computed AS
WITH spells AS (
    SELECT f.*, coalesce(g.status_group, 'unknown') AS status_group,
           coalesce(g.is_final, false) AS is_final, coalesce(g.is_running, false) AS is_running
    FROM modelarts_internal.spell_facts AS f
    LEFT JOIN modelarts.job_statuses AS g ON g.code = f.status
), lives AS (
    SELECT s.source, s.job_id, s.life_number,
           min(s.create_time)                                                     AS create_time,
           min(s.started_at)                                                      AS first_seen_at,
           (array_agg(s.status_group ORDER BY s.started_at))[1]                   AS first_status_group,
           min(s.started_at) FILTER (WHERE s.is_running)                          AS first_running_at,
           min(s.started_at) FILTER (WHERE s.is_final)                            AS ended_at,
           coalesce(sum(extract(epoch FROM s.ended_at - s.started_at))
                    FILTER (WHERE s.is_running AND s.ended_at IS NOT NULL), 0)     AS running_seconds_ended,
           max(s.started_at) FILTER (WHERE s.is_running AND s.ended_at IS NULL)   AS running_since,
           (array_agg(s.status ORDER BY s.started_at DESC))[1]                    AS status,
           (array_agg(s.ended_by ORDER BY s.started_at DESC))[1]                  AS last_ended_by,
           (array_agg(s.ended_at ORDER BY s.started_at DESC))[1]                  AS last_ended_at,
           (array_agg(s.last_job_name ORDER BY s.started_at DESC))[1]             AS job_name,
           (array_agg(s.duration_ms ORDER BY s.started_at DESC))[1]               AS last_duration_ms,
           count(*)                                                               AS spells
    FROM spells AS s
    GROUP BY s.source, s.job_id, s.life_number
)
SELECT l.source,
       l.job_id,
       l.life_number,
       l.life_number = max(l.life_number) OVER (PARTITION BY l.source, l.job_id) AS is_latest_life,
       l.job_name,
       l.create_time,
       l.first_seen_at,
       l.first_status_group,
       l.first_running_at,
       l.ended_at,
       l.running_seconds_ended,
       l.running_since,
       l.status,
       l.last_duration_ms,
       CASE WHEN l.last_ended_by = 'deleted' THEN l.last_ended_at END AS deleted_at,
       l.spells
FROM lives AS l;

COMMENT ON VIEW modelarts_internal.lifecycles_computed IS
    'Internal: the job lifecycles computed from spell_facts, as the sync stores them in lifecycle_facts. Read job_lifecycles instead.';

CREATE TABLE modelarts_internal.lifecycle_facts (
    source                text        NOT NULL,
    job_id                bigint      NOT NULL,
    life_number           bigint      NOT NULL,
    is_latest_life        boolean     NOT NULL,
    job_name              text        NOT NULL,
    create_time           timestamptz,
    first_seen_at         timestamptz NOT NULL,
    first_status_group    text        NOT NULL,
    first_running_at      timestamptz,
    ended_at              timestamptz,
    running_seconds_ended numeric     NOT NULL,
    running_since         timestamptz,
    status                integer     NOT NULL,
    last_duration_ms      bigint,
    deleted_at            timestamptz,
    spells                bigint      NOT NULL,
    PRIMARY KEY (source, job_id, life_number)
);
CREATE INDEX lifecycle_facts_first_seen_at_idx ON modelarts_internal.lifecycle_facts (first_seen_at);
CREATE INDEX lifecycle_facts_ended_at_idx ON modelarts_internal.lifecycle_facts (ended_at) WHERE ended_at IS NOT NULL;

COMMENT ON TABLE modelarts_internal.lifecycle_facts IS
    'Grain: one row per job life (source, job id, life). The stored part of job_lifecycles (read the view: it adds the wait, the run time, the hours running to now and the status names), kept by the sync with spell_facts.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.source IS 'Source of the job.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.job_id IS 'Job id.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.life_number IS 'As job_lifecycles.life_number.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.is_latest_life IS 'As job_lifecycles.is_latest_life.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.job_name IS 'As job_lifecycles.job_name.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.create_time IS 'As job_lifecycles.create_time.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.first_seen_at IS 'As job_lifecycles.first_seen_at.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.first_status_group IS 'As job_lifecycles.first_status_group.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.first_running_at IS 'As job_lifecycles.first_running_at.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.ended_at IS 'As job_lifecycles.ended_at.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.running_seconds_ended IS 'Seconds of the life''s ended spells in JOBSTAT_RUNNING (0 if none).';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.running_since IS 'Start of its current spell when that is JOBSTAT_RUNNING; null otherwise.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.status IS 'Last status code.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.last_duration_ms IS 'Run time the last spell''s last version reported (job_lifecycles.run_time_ms of an earlier life).';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.deleted_at IS 'As job_lifecycles.deleted_at.';
COMMENT ON COLUMN modelarts_internal.lifecycle_facts.spells IS 'As job_lifecycles.spells.';

-- A spell's day events in the session time zone: the day it started (and whether it entered the group
-- or brought the job into it that day), the day it ended, and the last day it covered.
CREATE VIEW modelarts_internal.spell_day_events AS
WITH spells AS (
    SELECT f.source, f.job_id, f.life_number, f.started_at, f.ended_at,
           coalesce(g.status_group, 'unknown') AS status_group,
           f.previous_status IS NULL
               OR coalesce(p.status_group, 'unknown') <> coalesce(g.status_group, 'unknown') AS entered
    FROM modelarts_internal.spell_facts AS f
    LEFT JOIN modelarts.job_statuses AS g ON g.code = f.status
    LEFT JOIN modelarts.job_statuses AS p ON p.code = f.previous_status
), ordered AS (
    SELECT s.*,
           s.started_at::date                      AS start_day,
           s.started_at::date::timestamptz         AS start_day_begins,
           lag(s.started_at) OVER same_group      AS previous_started_at,
           lag(s.ended_at) OVER same_group        AS previous_ended_at
    FROM spells AS s
    WINDOW same_group AS (PARTITION BY s.source, s.job_id, s.life_number, s.status_group ORDER BY s.started_at)
)
SELECT o.source, o.job_id, o.status_group, e.day, e.starts, e.ends, e.ends_last_day, e.entered, e.joined
FROM ordered AS o
CROSS JOIN LATERAL (VALUES
    -- joined: the job's first spell in the group that day, and it was not in the group as the day began
    -- (its previous spell in the group, if any, ended by then): it adds one to jobs_during_day.
    (o.start_day, 1, 0, 0, o.entered::integer,
     CASE
         WHEN o.previous_started_at IS NULL THEN 1
         WHEN o.previous_started_at >= o.start_day_begins THEN 0
         WHEN o.previous_ended_at <= o.start_day_begins THEN 1
         ELSE 0
     END),
    (o.ended_at::date, 0, 1, 0, 0, 0),
    ((o.ended_at - interval '1 microsecond')::date, 0, 0, 1, 0, 0)
) AS e (day, starts, ends, ends_last_day, entered, joined)
WHERE e.day IS NOT NULL;

COMMENT ON VIEW modelarts_internal.spell_day_events IS
    'Internal: per spell (spell_facts) its events by day in the session time zone, summed into status_group_day_facts by the sync. Read daily_status_group_counts instead.';

CREATE TABLE modelarts_internal.status_group_day_facts (
    source        text    NOT NULL,
    status_group  text    NOT NULL,
    day           date    NOT NULL,
    starts        bigint  NOT NULL,
    ends          bigint  NOT NULL,
    ends_last_day bigint  NOT NULL,
    entered       bigint  NOT NULL,
    joined        bigint  NOT NULL,
    PRIMARY KEY (source, status_group, day)
);

COMMENT ON TABLE modelarts_internal.status_group_day_facts IS
    'Grain: one row per source, status group and day (in report_settings.time_zone) on which a spell of the group started or ended. The sums daily_status_group_counts is computed from (read the view), kept by the sync with spell_facts: jobs in the group at a day''s end are the spells started by then less those ended by then.';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.source IS 'Source of the jobs.';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.status_group IS 'Status group of the spells.';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.day IS 'Day in the report time zone.';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.starts IS 'Spells of the group that started that day.';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.ends IS 'Spells of the group that ended that day (ended_at on the day).';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.ends_last_day IS 'Spells of the group whose last moment was on that day (an end at midnight ends the day before).';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.entered IS 'Spells that started that day and entered the group (daily_status_group_counts.jobs_entered).';
COMMENT ON COLUMN modelarts_internal.status_group_day_facts.joined IS 'Jobs (lives) that came into the group that day not being in it as the day began: jobs_during_day is the jobs in it as the day began plus these.';

-- Adds the day events of the jobs p_job_ids of source p_source, as their spell_facts give them, to
-- status_group_day_facts, times p_sign (-1 takes them out), in the report time zone; returns the
-- first day it changed. The one place the kept sums change a job at a time.
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.add_day_events(p_source text, p_job_ids bigint[], p_sign integer) RETURNS date
LANGUAGE plpgsql AS $$
DECLARE
    session_zone text := current_setting('TimeZone');
    first_day    date;
BEGIN
    PERFORM set_config('TimeZone', (SELECT r.time_zone FROM modelarts.report_settings AS r), true);
    WITH changed AS (
        INSERT INTO modelarts_internal.status_group_day_facts AS d
            (source, status_group, day, starts, ends, ends_last_day, entered, joined)
        SELECT e.source, e.status_group, e.day, p_sign * sum(e.starts), p_sign * sum(e.ends),
               p_sign * sum(e.ends_last_day), p_sign * sum(e.entered), p_sign * sum(e.joined)
        FROM modelarts_internal.spell_day_events AS e
        WHERE e.source = p_source AND e.job_id = ANY (p_job_ids)
        GROUP BY e.source, e.status_group, e.day
        ON CONFLICT (source, status_group, day) DO UPDATE
            SET starts = d.starts + excluded.starts, ends = d.ends + excluded.ends,
                ends_last_day = d.ends_last_day + excluded.ends_last_day,
                entered = d.entered + excluded.entered, joined = d.joined + excluded.joined
        RETURNING d.day
    )
    SELECT min(day) INTO first_day FROM changed;
    PERFORM set_config('TimeZone', session_zone, true);
    RETURN first_day;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.add_day_events(text, bigint[], integer) IS
    'Adds (p_sign 1) or takes out (-1) the day events of the given jobs of a source in status_group_day_facts, in the report time zone; returns the first day changed.';

-- Recomputes the facts of the jobs p_job_ids of source p_source. The day events are taken out as the
-- old spells give them and put back as the new ones do. (One source a call: an index probe per job,
-- where a condition on arrays of sources and ids would read whole sources.)
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.refresh_job_facts(p_source text, p_job_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    first_day date;
BEGIN
    first_day := modelarts_internal.add_day_events(p_source, p_job_ids, -1);

    DELETE FROM modelarts_internal.spell_facts AS f WHERE f.source = p_source AND f.job_id = ANY (p_job_ids);
    INSERT INTO modelarts_internal.spell_facts
    SELECT * FROM modelarts_internal.spells_computed AS s WHERE s.source = p_source AND s.job_id = ANY (p_job_ids);

    DELETE FROM modelarts_internal.lifecycle_facts AS f WHERE f.source = p_source AND f.job_id = ANY (p_job_ids);
    INSERT INTO modelarts_internal.lifecycle_facts
    SELECT * FROM modelarts_internal.lifecycles_computed AS l WHERE l.source = p_source AND l.job_id = ANY (p_job_ids);

    PERFORM modelarts_internal.add_day_events(p_source, p_job_ids, 1);

    -- Days whose events all went away (a job forgotten, a version removed).
    IF first_day IS NOT NULL THEN
        DELETE FROM modelarts_internal.status_group_day_facts AS d
        WHERE d.source = p_source AND d.day >= first_day
          AND d.starts = 0 AND d.ends = 0 AND d.ends_last_day = 0 AND d.entered = 0 AND d.joined = 0;
    END IF;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.refresh_job_facts(text, bigint[]) IS
    'Recomputes spell_facts, lifecycle_facts and status_group_day_facts for the given jobs of a source. Called by the triggers of visualization_job_history.';

-- Rebuilds status_group_day_facts from spell_facts in the report time zone.
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.rebuild_status_group_day_facts() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    session_zone text := current_setting('TimeZone');
BEGIN
    PERFORM set_config('TimeZone', (SELECT r.time_zone FROM modelarts.report_settings AS r), true);
    DELETE FROM modelarts_internal.status_group_day_facts;
    INSERT INTO modelarts_internal.status_group_day_facts (source, status_group, day, starts, ends, ends_last_day, entered, joined)
    SELECT e.source, e.status_group, e.day, sum(e.starts), sum(e.ends), sum(e.ends_last_day), sum(e.entered), sum(e.joined)
    FROM modelarts_internal.spell_day_events AS e
    GROUP BY e.source, e.status_group, e.day;
    PERFORM set_config('TimeZone', session_zone, true);
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.rebuild_status_group_day_facts() IS
    'Recomputes status_group_day_facts from spell_facts in the report time zone (set_report_time_zone calls it).';

-- +goose StatementBegin
CREATE FUNCTION modelarts.set_report_time_zone(zone text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF zone IS NULL OR zone = '' THEN
        RAISE EXCEPTION 'set_report_time_zone: give a time zone name as SET TimeZone takes it, e.g. Etc/UTC or Europe/Berlin';
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'set_report_time_zone: unknown time zone "%"; nothing changed', zone
            USING HINT = 'SELECT name FROM pg_timezone_names lists the names this server knows, e.g. Etc/UTC or Asia/Shanghai';
    END;
    LOCK TABLE modelarts_internal.status_group_day_facts IN SHARE ROW EXCLUSIVE MODE; -- syncs wait while it rebuilds
    UPDATE modelarts.report_settings SET time_zone = zone;
    PERFORM modelarts_internal.rebuild_status_group_day_facts();
    RETURN zone;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts.set_report_time_zone(text) IS
    'Sets the report time zone (report_settings) and rebuilds status_group_day_facts in it. Syncs wait for the rebuild (seconds a million jobs).';

-- The facts of jobs a statement added versions to. New jobs, whose one version is all their history,
-- get one spell each, taken from the row as spells_computed would compute it, without its window sorts
-- (an initial sync writes thousands of them a second; facts_drift checks they agree); the others are
-- recomputed.
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.add_job_facts(p_source text, p_job_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    new_jobs     bigint[];
    other_jobs   bigint[];
BEGIN
    SELECT array_agg(v.job_id) FILTER (WHERE v.versions = 1), array_agg(v.job_id) FILTER (WHERE v.versions > 1)
    INTO new_jobs, other_jobs
    FROM (SELECT h.job_id, count(*) AS versions
          FROM modelarts.visualization_job_history AS h
          WHERE h.source = p_source AND h.job_id = ANY (p_job_ids)
          GROUP BY h.job_id) AS v;

    IF other_jobs IS NOT NULL THEN
        PERFORM modelarts_internal.refresh_job_facts(p_source, other_jobs);
    END IF;
    IF new_jobs IS NULL THEN
        RETURN;
    END IF;

    INSERT INTO modelarts_internal.spell_facts
        (source, job_id, life_number, spell_number, status, previous_status, started_at, ended_at, ended_by,
         next_started_at, job_name, last_job_name, create_time, duration_ms, versions)
    SELECT h.source, h.job_id, 1, 1, h.status, NULL, h.valid_from, h.valid_to,
           CASE WHEN h.valid_to IS NOT NULL THEN 'deleted' END, NULL,
           h.job_name, h.job_name, h.create_time, h.duration_ms, 1
    FROM modelarts.visualization_job_history AS h
    WHERE h.source = p_source AND h.job_id = ANY (new_jobs) AND (h.valid_to IS NULL OR h.valid_to > h.valid_from);

    INSERT INTO modelarts_internal.lifecycle_facts
    SELECT * FROM modelarts_internal.lifecycles_computed AS l WHERE l.source = p_source AND l.job_id = ANY (new_jobs);

    PERFORM modelarts_internal.add_day_events(p_source, new_jobs, 1);
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.add_job_facts(text, bigint[]) IS
    'Adds or recomputes the facts of jobs a statement added history versions to. Called by the insert trigger of visualization_job_history.';

-- Each statement of these functions is planned for its call: a plan kept from a call on the nearly
-- empty tables of a first sync (a sequential scan) would be run again on every page as they grow.
ALTER FUNCTION modelarts_internal.add_job_facts(text, bigint[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION modelarts_internal.refresh_job_facts(text, bigint[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION modelarts_internal.add_day_events(text, bigint[], integer) SET plan_cache_mode = force_custom_plan;

-- The jobs a statement on the history touched; an update that only sets sync_run_id (a pruned run)
-- touches none.
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.track_history_facts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR touched IN SELECT n.source, array_agg(DISTINCT n.job_id) AS job_ids FROM new_rows AS n GROUP BY n.source LOOP
            PERFORM modelarts_internal.add_job_facts(touched.source, touched.job_ids);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR touched IN SELECT o.source, array_agg(DISTINCT o.job_id) AS job_ids FROM old_rows AS o GROUP BY o.source LOOP
            PERFORM modelarts_internal.refresh_job_facts(touched.source, touched.job_ids);
        END LOOP;
    ELSE
        FOR touched IN
            SELECT x.source, array_agg(DISTINCT x.job_id) AS job_ids
            FROM (SELECT n.source, n.job_id
                  FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
                  WHERE (n.source, n.job_id, n.status, n.job_name, n.duration_ms, n.create_time, n.valid_from, n.valid_to)
                        IS DISTINCT FROM (o.source, o.job_id, o.status, o.job_name, o.duration_ms, o.create_time, o.valid_from, o.valid_to)
                  UNION ALL
                  SELECT o.source, o.job_id
                  FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
                  WHERE (n.source, n.job_id) IS DISTINCT FROM (o.source, o.job_id)) AS x
            GROUP BY x.source
        LOOP
            PERFORM modelarts_internal.refresh_job_facts(touched.source, touched.job_ids);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.track_history_facts() IS
    'Statement trigger of visualization_job_history: recomputes the BI facts of the jobs the statement touched.';

-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.truncate_history_facts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE modelarts_internal.spell_facts, modelarts_internal.lifecycle_facts, modelarts_internal.status_group_day_facts;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- What differs between the kept facts and the facts recomputed from the history (zero rows
-- everywhere, unless a bug or a hand edit made them drift); rebuild_facts() repairs them.
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.facts_drift(p_source text DEFAULT NULL)
RETURNS TABLE (facts text, rows_differing bigint)
LANGUAGE plpgsql AS $$
DECLARE
    session_zone text := current_setting('TimeZone');
BEGIN
    RETURN QUERY
    SELECT 'spell_facts', count(*) FROM (
        (SELECT * FROM modelarts_internal.spell_facts AS f WHERE p_source IS NULL OR f.source = p_source
         EXCEPT ALL
         SELECT * FROM modelarts_internal.spells_computed AS c WHERE p_source IS NULL OR c.source = p_source)
        UNION ALL
        (SELECT * FROM modelarts_internal.spells_computed AS c WHERE p_source IS NULL OR c.source = p_source
         EXCEPT ALL
         SELECT * FROM modelarts_internal.spell_facts AS f WHERE p_source IS NULL OR f.source = p_source)) AS d;
    RETURN QUERY
    SELECT 'lifecycle_facts', count(*) FROM (
        (SELECT * FROM modelarts_internal.lifecycle_facts AS f WHERE p_source IS NULL OR f.source = p_source
         EXCEPT ALL
         SELECT * FROM modelarts_internal.lifecycles_computed AS c WHERE p_source IS NULL OR c.source = p_source)
        UNION ALL
        (SELECT * FROM modelarts_internal.lifecycles_computed AS c WHERE p_source IS NULL OR c.source = p_source
         EXCEPT ALL
         SELECT * FROM modelarts_internal.lifecycle_facts AS f WHERE p_source IS NULL OR f.source = p_source)) AS d;
    PERFORM set_config('TimeZone', (SELECT r.time_zone FROM modelarts.report_settings AS r), true);
    RETURN QUERY
    WITH computed AS (
        SELECT e.source, e.status_group, e.day, sum(e.starts) AS starts, sum(e.ends) AS ends,
               sum(e.ends_last_day) AS ends_last_day, sum(e.entered) AS entered, sum(e.joined) AS joined
        FROM modelarts_internal.spell_day_events AS e
        WHERE p_source IS NULL OR e.source = p_source
        GROUP BY e.source, e.status_group, e.day
    ), kept AS (
        SELECT f.source, f.status_group, f.day, f.starts, f.ends, f.ends_last_day, f.entered, f.joined
        FROM modelarts_internal.status_group_day_facts AS f
        WHERE p_source IS NULL OR f.source = p_source
    )
    SELECT 'status_group_day_facts', count(*) FROM (
        (SELECT * FROM kept EXCEPT ALL SELECT * FROM computed)
        UNION ALL
        (SELECT * FROM computed EXCEPT ALL SELECT * FROM kept)) AS d;
    PERFORM set_config('TimeZone', session_zone, true);
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.facts_drift(text) IS
    'Rows that differ between the kept BI facts of a source (all sources: null) and the facts recomputed from the history: zero for every table unless something went wrong; modelarts_internal.rebuild_facts() repairs them.';

-- Recomputes every fact from the history (after a repair of the history by hand, or a drift).
-- +goose StatementBegin
CREATE FUNCTION modelarts_internal.rebuild_facts() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE modelarts_internal.spell_facts, modelarts_internal.lifecycle_facts,
               modelarts_internal.status_group_day_facts IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM modelarts_internal.spell_facts;
    INSERT INTO modelarts_internal.spell_facts SELECT * FROM modelarts_internal.spells_computed;
    DELETE FROM modelarts_internal.lifecycle_facts;
    INSERT INTO modelarts_internal.lifecycle_facts SELECT * FROM modelarts_internal.lifecycles_computed;
    PERFORM modelarts_internal.rebuild_status_group_day_facts();
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION modelarts_internal.rebuild_facts() IS
    'Recomputes spell_facts, lifecycle_facts and status_group_day_facts from the history (minutes at 10 M jobs; syncs wait).';

-- The facts of the history there now. Writers of the history wait until this migration commits (about
-- 16 minutes at 10 M jobs and 13 M versions on 2 cores: docs/ledger.md): a version written between the
-- backfill's snapshot and the triggers' creation would be missing from the facts for good. Readers do
-- not wait.
LOCK TABLE modelarts.visualization_job_history IN SHARE ROW EXCLUSIVE MODE;
SELECT modelarts_internal.rebuild_facts();
ANALYZE modelarts_internal.spell_facts, modelarts_internal.lifecycle_facts, modelarts_internal.status_group_day_facts;

CREATE TRIGGER visualization_job_history_facts_insert AFTER INSERT ON modelarts.visualization_job_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION modelarts_internal.track_history_facts();
CREATE TRIGGER visualization_job_history_facts_update AFTER UPDATE ON modelarts.visualization_job_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION modelarts_internal.track_history_facts();
CREATE TRIGGER visualization_job_history_facts_delete AFTER DELETE ON modelarts.visualization_job_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION modelarts_internal.track_history_facts();
CREATE TRIGGER visualization_job_history_facts_truncate AFTER TRUNCATE ON modelarts.visualization_job_history
    FOR EACH STATEMENT EXECUTE FUNCTION modelarts_internal.truncate_history_facts();

-- The public views, on the tables: the same columns as 00013 gave them.
CREATE OR REPLACE VIEW modelarts.job_status_spells AS
SELECT f.source,
       f.job_id,
       f.life_number,
       f.spell_number,
       f.status,
       coalesce(g.name, 'UNDOCUMENTED_' || f.status)                           AS status_name,
       coalesce(g.status_group, 'unknown')                                     AS status_group,
       coalesce(g.is_final, false)                                             AS is_final,
       coalesce(g.is_running, false)                                           AS is_running,
       f.previous_status,
       CASE WHEN f.previous_status IS NOT NULL THEN coalesce(p.status_group, 'unknown') END AS previous_status_group,
       f.started_at,
       f.ended_at,
       f.ended_at IS NULL                                                      AS is_current,
       f.ended_by,
       f.next_started_at,
       coalesce(f.ended_at, now()) - f.started_at                              AS duration,
       extract(epoch FROM coalesce(f.ended_at, now()) - f.started_at) / 3600   AS hours,
       f.job_name,
       f.last_job_name,
       f.create_time,
       f.duration_ms,
       f.versions
FROM modelarts_internal.spell_facts AS f
LEFT JOIN modelarts.job_statuses AS g ON g.code = f.status
LEFT JOIN modelarts.job_statuses AS p ON p.code = f.previous_status;

COMMENT ON VIEW modelarts.job_status_spells IS
    'Grain: one row per job, life and status period (spell). Consecutive versions in the same status are one spell: a rename or a new description does not split it. A deletion ends a spell; a job that comes back starts a new one. Zero-length versions (a clock that stepped back) are left out. Times are when syncs saw the changes, as precise as the sync schedule. Read from spell_facts, which the sync keeps as it writes the history (indexed on source and job_id, started_at and ended_at).';

CREATE OR REPLACE VIEW modelarts.job_lifecycles AS
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
       CASE
           WHEN l.first_running_at IS NOT NULL
               THEN (l.running_seconds_ended + coalesce(extract(epoch FROM now() - l.running_since), 0)) / 3600
       END                                                              AS hours_seen_running,
       l.status,
       coalesce(g.name, 'UNDOCUMENTED_' || l.status)                    AS status_name,
       coalesce(g.status_group, 'unknown')                              AS status_group,
       coalesce(g.is_final, false)                                      AS is_final,
       l.deleted_at,
       l.spells
FROM modelarts_internal.lifecycle_facts AS l
LEFT JOIN modelarts.visualization_jobs AS j ON l.is_latest_life AND j.source = l.source AND j.job_id = l.job_id
LEFT JOIN modelarts.job_statuses AS g ON g.code = l.status;

COMMENT ON VIEW modelarts.job_lifecycles IS
    'Grain: one row per job: per source, job id and life (a job id the service reused after a deletion is two jobs). When it was created, first seen, first seen running, ended; its wait before running, run time, last status and deletion. Read from lifecycle_facts, which the sync keeps as it writes the history (indexed on source and job_id, first_seen_at and ended_at).';

CREATE OR REPLACE VIEW modelarts.daily_status_group_counts AS
WITH kept AS (
    -- The sessions in the report time zone read the kept sums; the others compute them from the spells.
    SELECT f.source, f.status_group, f.day, f.starts, f.ends, f.ends_last_day, f.entered, f.joined
    FROM modelarts_internal.status_group_day_facts AS f
    WHERE (SELECT modelarts_internal.zone_key(r.time_zone) FROM modelarts.report_settings AS r)
          = modelarts_internal.zone_key(current_setting('TimeZone'))
    UNION ALL
    SELECT e.source, e.status_group, e.day, sum(e.starts), sum(e.ends), sum(e.ends_last_day), sum(e.entered), sum(e.joined)
    FROM modelarts_internal.spell_day_events AS e
    WHERE (SELECT modelarts_internal.zone_key(r.time_zone) FROM modelarts.report_settings AS r)
          IS DISTINCT FROM modelarts_internal.zone_key(current_setting('TimeZone'))
    GROUP BY e.source, e.status_group, e.day
), sums AS (
    -- Running sums over the days with events; a filter on source reaches the tables through them.
    SELECT k.source, k.status_group, k.day, k.joined, k.entered,
           -- in the group as the day began: spells started before it, less those whose last day was before it
           sum(k.starts - k.ends_last_day) OVER w - (k.starts - k.ends_last_day) AS at_start,
           -- in the group as the next day began, and as each day without events until the next one did
           sum(k.starts - k.ends_last_day) OVER w                            AS at_next_start,
           -- in the group as the day ended (today: now), and each day until the next one with events
           sum(k.starts - k.ends) OVER w                                     AS at_end,
           lead(k.day) OVER w                                                AS next_day
    FROM kept AS k
    WINDOW w AS (PARTITION BY k.source, k.status_group ORDER BY k.day)
)
SELECT d.day,
       s.source,
       s.status_group,
       d.during::bigint  AS jobs_during_day,
       s.at_end::bigint  AS jobs_at_day_end,
       d.entered::bigint AS jobs_entered
FROM sums AS s
CROSS JOIN LATERAL (
    SELECT s.day, s.at_start + s.joined, s.entered
    UNION ALL
    SELECT x::date, s.at_next_start, 0
    FROM generate_series(s.day::timestamp + interval '1 day',
                         coalesce(s.next_day - 1, current_date)::timestamp, interval '1 day') AS x
) AS d (day, during, entered)
WHERE d.during > 0 AND d.day <= current_date;

COMMENT ON VIEW modelarts.daily_status_group_counts IS
    'Grain: one row per day, source and status group with at least one job. Sum jobs_at_day_end over groups, sources or both (a job is in one group at a time), and jobs_entered over days too; jobs_during_day counts a job once per group, so sum it over sources only. Days are in the session time zone; a missing row means zero (join calendar for zeros). Read from status_group_day_facts when the session''s TimeZone is report_settings.time_zone, computed from spell_facts otherwise (slower): filter on source.';

-- +goose Down
DROP TRIGGER visualization_job_history_facts_insert ON modelarts.visualization_job_history;
DROP TRIGGER visualization_job_history_facts_update ON modelarts.visualization_job_history;
DROP TRIGGER visualization_job_history_facts_delete ON modelarts.visualization_job_history;
DROP TRIGGER visualization_job_history_facts_truncate ON modelarts.visualization_job_history;
DROP FUNCTION modelarts_internal.track_history_facts();
DROP FUNCTION modelarts_internal.truncate_history_facts();
DROP FUNCTION modelarts.set_report_time_zone(text);
DROP FUNCTION modelarts_internal.rebuild_status_group_day_facts();
DROP FUNCTION modelarts_internal.refresh_job_facts(text, bigint[]);
DROP FUNCTION modelarts_internal.add_day_events(text, bigint[], integer);
DROP FUNCTION modelarts_internal.facts_drift(text);
DROP FUNCTION modelarts_internal.add_job_facts(text, bigint[]);
DROP FUNCTION modelarts_internal.rebuild_facts();

-- The public views as migration 00013 made them, on the history.
CREATE OR REPLACE VIEW modelarts.job_status_spells AS
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

CREATE OR REPLACE VIEW modelarts.job_lifecycles AS
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

CREATE OR REPLACE VIEW modelarts.daily_status_group_counts AS
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

DROP VIEW modelarts_internal.spell_day_events;
DROP TABLE modelarts_internal.status_group_day_facts;
DROP VIEW modelarts_internal.lifecycles_computed;
DROP TABLE modelarts_internal.lifecycle_facts;
DROP TABLE modelarts_internal.spell_facts;
DROP VIEW modelarts_internal.spells_computed;
DROP FUNCTION modelarts_internal.zone_key(text);
DROP TABLE modelarts.report_settings;
DROP SCHEMA modelarts_internal;
