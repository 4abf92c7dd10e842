-- Per-source figures kept up to date as runs start and finish and as jobs change, so that sync_health,
-- the status page and /metrics read a few rows per source, whatever the length of the ledger or the
-- number of jobs; and a ledger that can be pruned (store.PruneLedger) without losing how many runs there
-- were. Three tables, each written by a trigger, never by hand:
--
--   source_sync_state   one row per source: its latest run of each kind, its last proven-complete run,
--                       the last run that listed every page (partial or not), its last head walk, its
--                       last change and its last error (sync_runs' trigger)
--   sync_run_counts     runs per source, kind and hour, by outcome; pruning a run keeps its count
--                       (sync_runs' trigger)
--   source_job_counts   jobs per source, status, deleted or not and duration bucket; and jobs created per
--                       source and UTC day in source_created_days (visualization_jobs' statement triggers,
--                       which read the statement's changed rows once: a statement that changes nothing
--                       costs nothing)
--
-- sync_runs gains listed_every_page. sync_health reads these tables (same columns, same meaning, four
-- comments brought up to date) and gains columns at the end: last_listed_at (how old what the mirror
-- shows is, for busy sources whose full runs all end partial), last_head_walk_at and last_change_at.

-- +goose Up
ALTER TABLE modelarts.sync_runs ADD COLUMN listed_every_page boolean;
COMMENT ON COLUMN modelarts.sync_runs.listed_every_page IS
    'A walk of the run listed every page of the source, to the end of the listing (full runs; the walk may still be unproven, so the run partial). false for head walks and runs cut short; null for runs recorded before this column existed.';

-- The ledger gains and loses rows all day (a row per run, updated once when it ends, deleted by
-- pruning): vacuum it after 2% of its rows changed rather than PostgreSQL's default 20%, so that dead
-- rows and index entries do not pile up for days on a fleet's ledger (docs/ledger.md).
ALTER TABLE modelarts.sync_runs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02);

-- Partial index for pruning the runs that wrote nothing (store.PruneLedger): only those rows are in it.
CREATE INDEX sync_runs_noop_finished_at_idx ON modelarts.sync_runs (finished_at)
    WHERE state IN ('succeeded', 'partial') AND jobs_inserted = 0 AND jobs_updated = 0 AND jobs_deleted = 0;

CREATE TABLE modelarts.source_sync_state (
    source                text PRIMARY KEY,
    last_full_run_id      bigint,
    last_full_started_at  timestamptz,
    last_head_run_id      bigint,
    last_head_started_at  timestamptz,
    last_success_run_id   bigint,
    last_success_at       timestamptz,
    last_any_success_at   timestamptz,
    last_listed_run_id    bigint,
    last_listed_at        timestamptz,
    last_head_walk_run_id bigint,
    last_head_walk_at     timestamptz,
    last_change_run_id    bigint,
    last_change_at        timestamptz,
    last_error_run_id     bigint,
    last_error_at         timestamptz,
    last_error            text,
    live_jobs             bigint  NOT NULL DEFAULT 0,
    running_jobs          bigint  NOT NULL DEFAULT 0,
    full_run_hours        bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[24]),
    full_runs_by_hour     integer[] NOT NULL DEFAULT array_fill(0, ARRAY[24]),
    full_failed_by_hour   integer[] NOT NULL DEFAULT array_fill(0, ARRAY[24])
) WITH (fillfactor = 50);

COMMENT ON TABLE modelarts.source_sync_state IS
    'One row per source that has a run in the ledger: the runs sync_health and the status page show, kept by a trigger on sync_runs as runs start and finish. store.PruneLedger never deletes a run this table names.';
COMMENT ON COLUMN modelarts.source_sync_state.source IS 'Source name, as in sync_runs.';
COMMENT ON COLUMN modelarts.source_sync_state.last_full_run_id IS 'The latest full run (sync_runs.id), running or not.';
COMMENT ON COLUMN modelarts.source_sync_state.last_full_started_at IS 'When it started.';
COMMENT ON COLUMN modelarts.source_sync_state.last_head_run_id IS 'The latest head walk, running or not.';
COMMENT ON COLUMN modelarts.source_sync_state.last_head_started_at IS 'When it started.';
COMMENT ON COLUMN modelarts.source_sync_state.last_success_run_id IS 'The latest full run that succeeded: a walk proven complete, every deletion settled.';
COMMENT ON COLUMN modelarts.source_sync_state.last_success_at IS 'When it ended.';
COMMENT ON COLUMN modelarts.source_sync_state.last_any_success_at IS 'When the latest run of either kind that succeeded ended (vizjob_last_success_timestamp_seconds).';
COMMENT ON COLUMN modelarts.source_sync_state.last_listed_run_id IS 'The latest run that listed every page of the source (sync_runs.listed_every_page), succeeded or partial.';
COMMENT ON COLUMN modelarts.source_sync_state.last_listed_at IS 'When it ended: every job of the source that existed before its walk started and still exists was listed and stored by then.';
COMMENT ON COLUMN modelarts.source_sync_state.last_head_walk_run_id IS 'The latest head walk that did not fail.';
COMMENT ON COLUMN modelarts.source_sync_state.last_head_walk_at IS 'When it ended.';
COMMENT ON COLUMN modelarts.source_sync_state.last_change_run_id IS 'The latest run, of any kind, that inserted, updated or deleted a job.';
COMMENT ON COLUMN modelarts.source_sync_state.last_change_at IS 'When it ended.';
COMMENT ON COLUMN modelarts.source_sync_state.last_error_run_id IS 'The latest full run that recorded an error (failed, or partial with its reason).';
COMMENT ON COLUMN modelarts.source_sync_state.last_error_at IS 'When it ended.';
COMMENT ON COLUMN modelarts.source_sync_state.last_error IS 'That error.';
COMMENT ON COLUMN modelarts.source_sync_state.live_jobs IS 'Jobs of the source that exist (not deleted), kept by the statement triggers of visualization_jobs.';
COMMENT ON COLUMN modelarts.source_sync_state.running_jobs IS 'Of those, jobs in a status job_statuses.is_running says is running (as it said when the job changed).';
COMMENT ON COLUMN modelarts.source_sync_state.full_run_hours IS 'A ring of the last 24 UTC hours in which full runs started, as hours since the Unix epoch: slot (hour % 24) + 1; with full_runs_by_hour and full_failed_by_hour it gives sync_health.runs_24h from this row alone.';
COMMENT ON COLUMN modelarts.source_sync_state.full_runs_by_hour IS 'Full runs started in the hour of the same slot of full_run_hours.';
COMMENT ON COLUMN modelarts.source_sync_state.full_failed_by_hour IS 'Of those, runs that failed.';

CREATE TABLE modelarts.sync_run_counts (
    source    text        NOT NULL,
    kind      text        NOT NULL,
    hour      timestamptz NOT NULL,
    runs      integer     NOT NULL DEFAULT 0,
    succeeded integer     NOT NULL DEFAULT 0,
    partial   integer     NOT NULL DEFAULT 0,
    failed    integer     NOT NULL DEFAULT 0,
    changed   integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (source, kind, hour)
) WITH (fillfactor = 70);

COMMENT ON TABLE modelarts.sync_run_counts IS
    'Runs per source, kind and hour in which they started, kept by a trigger on sync_runs; pruning the ledger (store.PruneLedger) leaves these counts, so how many runs there were, and how they ended, outlives the runs.';
COMMENT ON COLUMN modelarts.sync_run_counts.source IS 'Source name.';
COMMENT ON COLUMN modelarts.sync_run_counts.kind IS 'full or head, as sync_runs.kind.';
COMMENT ON COLUMN modelarts.sync_run_counts.hour IS 'The whole UTC hour in which the runs started.';
COMMENT ON COLUMN modelarts.sync_run_counts.runs IS 'Runs started (running ones included).';
COMMENT ON COLUMN modelarts.sync_run_counts.succeeded IS 'Of those, runs that ended succeeded.';
COMMENT ON COLUMN modelarts.sync_run_counts.partial IS 'Runs that ended partial.';
COMMENT ON COLUMN modelarts.sync_run_counts.failed IS 'Runs that ended failed.';
COMMENT ON COLUMN modelarts.sync_run_counts.changed IS 'Runs that ended having inserted, updated or deleted at least one job.';

CREATE TABLE modelarts.source_job_counts (
    source          text     NOT NULL,
    status          integer  NOT NULL,
    deleted         boolean  NOT NULL,
    duration_bucket smallint NOT NULL,
    jobs            bigint   NOT NULL,
    PRIMARY KEY (source, status, deleted, duration_bucket)
) WITH (fillfactor = 70);

COMMENT ON TABLE modelarts.source_job_counts IS
    'How many jobs of modelarts.visualization_jobs each source has, by status, deleted or not, and duration bucket: kept by statement triggers on visualization_jobs, in the same transaction as the change. Read it instead of count(*) over the jobs.';
COMMENT ON COLUMN modelarts.source_job_counts.source IS 'Source name.';
COMMENT ON COLUMN modelarts.source_job_counts.status IS 'Status code (modelarts.job_statuses.code; undocumented codes too).';
COMMENT ON COLUMN modelarts.source_job_counts.deleted IS 'The jobs are marked deleted (deleted_at is set).';
COMMENT ON COLUMN modelarts.source_job_counts.duration_bucket IS
    'For live jobs that have run (duration_ms > 0): 0 under 1 minute, then 1 from 1 minute, 2 from 10 minutes, 3 from 1 hour, 4 from 6 hours, 5 from 1 day, 6 from 3 days, 7 from 7 days (modelarts.job_duration_bucket); -1 for deleted jobs and jobs that have not run.';
COMMENT ON COLUMN modelarts.source_job_counts.jobs IS 'How many jobs (0 once they all changed away).';

CREATE TABLE modelarts.source_created_days (
    source text   NOT NULL,
    day    date   NOT NULL,
    jobs   bigint NOT NULL,
    PRIMARY KEY (source, day)
) WITH (fillfactor = 70);
-- The status page sums the last 30 days of every source from this index alone (an index-only scan:
-- past days' rows seldom change).
CREATE INDEX source_created_days_day_idx ON modelarts.source_created_days (day) INCLUDE (jobs);

COMMENT ON TABLE modelarts.source_created_days IS
    'Jobs per source and UTC day of their create_time (deleted ones included), kept by statement triggers on visualization_jobs.';
COMMENT ON COLUMN modelarts.source_created_days.source IS 'Source name.';
COMMENT ON COLUMN modelarts.source_created_days.day IS 'UTC day of create_time.';
COMMENT ON COLUMN modelarts.source_created_days.jobs IS 'How many jobs were created that day.';

CREATE FUNCTION modelarts.job_duration_bucket(duration_ms bigint, deleted_at timestamptz) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN deleted_at IS NOT NULL OR duration_ms IS NULL OR duration_ms <= 0 THEN -1
               ELSE width_bucket(duration_ms, ARRAY[60000, 600000, 3600000, 21600000, 86400000, 259200000, 604800000]::bigint[])
          END::smallint $$;
COMMENT ON FUNCTION modelarts.job_duration_bucket(bigint, timestamptz) IS
    'The duration bucket of source_job_counts: -1 for a deleted job or one that has not run, else 0..7 (bounds 1 min, 10 min, 1 h, 6 h, 1 day, 3 days, 7 days).';

-- Applies the rows one statement on visualization_jobs changed to the two count tables: +1 for each row
-- of new_rows, -1 for each row of old_rows, summed per key (an update that moved no count writes
-- nothing), in key order (so two statements never wait on each other in opposite orders). The
-- transition tables are the statement's own: no temporary table, no catalog write.
-- +goose StatementBegin
CREATE FUNCTION modelarts.track_job_counts() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH delta AS (
            SELECT source, status, deleted_at IS NOT NULL AS deleted,
                   modelarts.job_duration_bucket(duration_ms, deleted_at) AS duration_bucket, sum(n) AS n
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, 1 AS n FROM new_rows) AS d
            GROUP BY 1, 2, 3, 4
            HAVING sum(n) <> 0
            ORDER BY 1, 2, 3, 4
        )
        INSERT INTO modelarts.source_job_counts AS c (source, status, deleted, duration_bucket, jobs)
        SELECT source, status, deleted, duration_bucket, n FROM delta
        ON CONFLICT (source, status, deleted, duration_bucket) DO UPDATE SET jobs = c.jobs + excluded.jobs;
        WITH delta AS (
            SELECT source, (create_time AT TIME ZONE 'UTC')::date AS day, sum(n) AS n
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, 1 AS n FROM new_rows) AS d
            WHERE create_time IS NOT NULL
            GROUP BY 1, 2
            HAVING sum(n) <> 0
            ORDER BY 1, 2
        )
        INSERT INTO modelarts.source_created_days AS c (source, day, jobs)
        SELECT source, day, n FROM delta
        ON CONFLICT (source, day) DO UPDATE SET jobs = c.jobs + excluded.jobs;
        WITH delta AS (
            SELECT d.source, sum(d.n) FILTER (WHERE d.deleted_at IS NULL) AS live,
                   sum(d.n) FILTER (WHERE d.deleted_at IS NULL AND coalesce(st.is_running, false)) AS running
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, 1 AS n FROM new_rows) AS d
            LEFT JOIN modelarts.job_statuses AS st ON st.code = d.status
            GROUP BY 1
            ORDER BY 1
        )
        INSERT INTO modelarts.source_sync_state AS s (source, live_jobs, running_jobs)
        SELECT source, coalesce(live, 0), coalesce(running, 0) FROM delta
        WHERE coalesce(live, 0) <> 0 OR coalesce(running, 0) <> 0
        ON CONFLICT (source) DO UPDATE
            SET live_jobs = s.live_jobs + excluded.live_jobs, running_jobs = s.running_jobs + excluded.running_jobs;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH delta AS (
            SELECT source, status, deleted_at IS NOT NULL AS deleted,
                   modelarts.job_duration_bucket(duration_ms, deleted_at) AS duration_bucket, sum(n) AS n
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, 1 AS n FROM new_rows
                  UNION ALL
                  SELECT source, status, deleted_at, duration_ms, create_time, -1 AS n FROM old_rows) AS d
            GROUP BY 1, 2, 3, 4
            HAVING sum(n) <> 0
            ORDER BY 1, 2, 3, 4
        )
        INSERT INTO modelarts.source_job_counts AS c (source, status, deleted, duration_bucket, jobs)
        SELECT source, status, deleted, duration_bucket, n FROM delta
        ON CONFLICT (source, status, deleted, duration_bucket) DO UPDATE SET jobs = c.jobs + excluded.jobs;
        WITH delta AS (
            SELECT source, (create_time AT TIME ZONE 'UTC')::date AS day, sum(n) AS n
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, 1 AS n FROM new_rows
                  UNION ALL
                  SELECT source, status, deleted_at, duration_ms, create_time, -1 AS n FROM old_rows) AS d
            WHERE create_time IS NOT NULL
            GROUP BY 1, 2
            HAVING sum(n) <> 0
            ORDER BY 1, 2
        )
        INSERT INTO modelarts.source_created_days AS c (source, day, jobs)
        SELECT source, day, n FROM delta
        ON CONFLICT (source, day) DO UPDATE SET jobs = c.jobs + excluded.jobs;
        WITH delta AS (
            SELECT d.source, sum(d.n) FILTER (WHERE d.deleted_at IS NULL) AS live,
                   sum(d.n) FILTER (WHERE d.deleted_at IS NULL AND coalesce(st.is_running, false)) AS running
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, 1 AS n FROM new_rows
                  UNION ALL
                  SELECT source, status, deleted_at, duration_ms, create_time, -1 AS n FROM old_rows) AS d
            LEFT JOIN modelarts.job_statuses AS st ON st.code = d.status
            GROUP BY 1
            ORDER BY 1
        )
        INSERT INTO modelarts.source_sync_state AS s (source, live_jobs, running_jobs)
        SELECT source, coalesce(live, 0), coalesce(running, 0) FROM delta
        WHERE coalesce(live, 0) <> 0 OR coalesce(running, 0) <> 0
        ON CONFLICT (source) DO UPDATE
            SET live_jobs = s.live_jobs + excluded.live_jobs, running_jobs = s.running_jobs + excluded.running_jobs;
    ELSE
        WITH delta AS (
            SELECT source, status, deleted_at IS NOT NULL AS deleted,
                   modelarts.job_duration_bucket(duration_ms, deleted_at) AS duration_bucket, sum(n) AS n
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, -1 AS n FROM old_rows) AS d
            GROUP BY 1, 2, 3, 4
            HAVING sum(n) <> 0
            ORDER BY 1, 2, 3, 4
        )
        INSERT INTO modelarts.source_job_counts AS c (source, status, deleted, duration_bucket, jobs)
        SELECT source, status, deleted, duration_bucket, n FROM delta
        ON CONFLICT (source, status, deleted, duration_bucket) DO UPDATE SET jobs = c.jobs + excluded.jobs;
        WITH delta AS (
            SELECT source, (create_time AT TIME ZONE 'UTC')::date AS day, sum(n) AS n
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, -1 AS n FROM old_rows) AS d
            WHERE create_time IS NOT NULL
            GROUP BY 1, 2
            HAVING sum(n) <> 0
            ORDER BY 1, 2
        )
        INSERT INTO modelarts.source_created_days AS c (source, day, jobs)
        SELECT source, day, n FROM delta
        ON CONFLICT (source, day) DO UPDATE SET jobs = c.jobs + excluded.jobs;
        WITH delta AS (
            SELECT d.source, sum(d.n) FILTER (WHERE d.deleted_at IS NULL) AS live,
                   sum(d.n) FILTER (WHERE d.deleted_at IS NULL AND coalesce(st.is_running, false)) AS running
            FROM (SELECT source, status, deleted_at, duration_ms, create_time, -1 AS n FROM old_rows) AS d
            LEFT JOIN modelarts.job_statuses AS st ON st.code = d.status
            GROUP BY 1
            ORDER BY 1
        )
        INSERT INTO modelarts.source_sync_state AS s (source, live_jobs, running_jobs)
        SELECT source, coalesce(live, 0), coalesce(running, 0) FROM delta
        WHERE coalesce(live, 0) <> 0 OR coalesce(running, 0) <> 0
        ON CONFLICT (source) DO UPDATE
            SET live_jobs = s.live_jobs + excluded.live_jobs, running_jobs = s.running_jobs + excluded.running_jobs;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION modelarts.track_job_counts() IS
    'Statement trigger of visualization_jobs: applies the statement''s inserted, updated or deleted rows to source_job_counts and source_created_days.';

-- A transition table may serve one event only: one trigger per event, the same function.
CREATE TRIGGER visualization_jobs_count_insert AFTER INSERT ON modelarts.visualization_jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION modelarts.track_job_counts();
CREATE TRIGGER visualization_jobs_count_update AFTER UPDATE ON modelarts.visualization_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION modelarts.track_job_counts();
CREATE TRIGGER visualization_jobs_count_delete AFTER DELETE ON modelarts.visualization_jobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION modelarts.track_job_counts();

-- TRUNCATE of the jobs empties their counts too.
-- +goose StatementBegin
CREATE FUNCTION modelarts.truncate_job_counts() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    DELETE FROM modelarts.source_job_counts;
    DELETE FROM modelarts.source_created_days;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION modelarts.truncate_job_counts() IS
    'Statement trigger of visualization_jobs: TRUNCATE empties source_job_counts and source_created_days.';
CREATE TRIGGER visualization_jobs_count_truncate AFTER TRUNCATE ON modelarts.visualization_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION modelarts.truncate_job_counts();

-- Keeps source_sync_state and sync_run_counts as a run is recorded (INSERT) and as it ends (its state
-- leaves 'running'). Rows inserted already ended (imports, tests) count as both. Comparisons, not
-- assignments: rows recorded out of order (a fixture, an import) still leave the latest in place.
-- +goose StatementBegin
CREATE FUNCTION modelarts.track_sync_run() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    started boolean := TG_OP = 'INSERT';
    ended   boolean := NEW.state <> 'running' AND (TG_OP = 'INSERT' OR OLD.state = 'running');
    changed boolean := NEW.jobs_inserted + NEW.jobs_updated + NEW.jobs_deleted > 0;
    is_full boolean := NEW.kind = 'full';
    t       timestamptz := NEW.finished_at;
    h       bigint := floor(extract(epoch FROM NEW.started_at) / 3600)::bigint; -- hours since the epoch
    slot    integer := (floor(extract(epoch FROM NEW.started_at) / 3600)::bigint % 24)::integer + 1;
BEGIN
    IF NOT started AND NOT ended THEN
        RETURN NULL;
    END IF;
    INSERT INTO modelarts.sync_run_counts AS c (source, kind, hour, runs, succeeded, partial, failed, changed)
    VALUES (NEW.source, NEW.kind, to_timestamp(floor(extract(epoch FROM NEW.started_at) / 3600) * 3600),
            started::integer,
            (ended AND NEW.state = 'succeeded')::integer,
            (ended AND NEW.state = 'partial')::integer,
            (ended AND NEW.state = 'failed')::integer,
            (ended AND changed)::integer)
    ON CONFLICT (source, kind, hour) DO UPDATE
        SET runs = c.runs + excluded.runs, succeeded = c.succeeded + excluded.succeeded,
            partial = c.partial + excluded.partial, failed = c.failed + excluded.failed,
            changed = c.changed + excluded.changed;

    -- One upsert: the row as this run alone would make it, merged with what the source's row says
    -- (each pair of columns moves only to a later run).
    INSERT INTO modelarts.source_sync_state AS s (source, last_full_run_id, last_full_started_at, last_head_run_id,
        last_head_started_at, last_success_run_id, last_success_at, last_any_success_at, last_listed_run_id,
        last_listed_at, last_head_walk_run_id, last_head_walk_at, last_change_run_id, last_change_at,
        last_error_run_id, last_error_at, last_error)
    SELECT NEW.source,
           CASE WHEN started AND is_full THEN NEW.id END, CASE WHEN started AND is_full THEN NEW.started_at END,
           CASE WHEN started AND NOT is_full THEN NEW.id END, CASE WHEN started AND NOT is_full THEN NEW.started_at END,
           CASE WHEN ok THEN NEW.id END, CASE WHEN ok THEN t END,
           CASE WHEN ended AND NEW.state = 'succeeded' THEN t END,
           CASE WHEN listed THEN NEW.id END, CASE WHEN listed THEN t END,
           CASE WHEN head THEN NEW.id END, CASE WHEN head THEN t END,
           CASE WHEN ended AND changed THEN NEW.id END, CASE WHEN ended AND changed THEN t END,
           CASE WHEN err THEN NEW.id END, CASE WHEN err THEN t END, CASE WHEN err THEN NEW.error END
    FROM (SELECT ended AND is_full AND NEW.state = 'succeeded' AS ok,
                 ended AND coalesce(NEW.listed_every_page OR (is_full AND NEW.state = 'succeeded'), false) AS listed,
                 ended AND NOT is_full AND NEW.state <> 'failed' AS head,
                 ended AND is_full AND NEW.error IS NOT NULL AS err) AS what
    ON CONFLICT (source) DO UPDATE SET
        (last_full_run_id, last_full_started_at) =
            (SELECT CASE WHEN pick THEN excluded.last_full_run_id ELSE s.last_full_run_id END,
                    CASE WHEN pick THEN excluded.last_full_started_at ELSE s.last_full_started_at END
             FROM (SELECT excluded.last_full_run_id IS NOT NULL AND (s.last_full_run_id IS NULL
                       OR (excluded.last_full_started_at, excluded.last_full_run_id) > (s.last_full_started_at, s.last_full_run_id)) AS pick) AS p),
        (last_head_run_id, last_head_started_at) =
            (SELECT CASE WHEN pick THEN excluded.last_head_run_id ELSE s.last_head_run_id END,
                    CASE WHEN pick THEN excluded.last_head_started_at ELSE s.last_head_started_at END
             FROM (SELECT excluded.last_head_run_id IS NOT NULL AND (s.last_head_run_id IS NULL
                       OR (excluded.last_head_started_at, excluded.last_head_run_id) > (s.last_head_started_at, s.last_head_run_id)) AS pick) AS p),
        (last_success_run_id, last_success_at) =
            (SELECT CASE WHEN pick THEN excluded.last_success_run_id ELSE s.last_success_run_id END,
                    CASE WHEN pick THEN excluded.last_success_at ELSE s.last_success_at END
             FROM (SELECT excluded.last_success_at >= s.last_success_at OR (s.last_success_at IS NULL AND excluded.last_success_at IS NOT NULL) AS pick) AS p),
        last_any_success_at = greatest(s.last_any_success_at, excluded.last_any_success_at),
        (last_listed_run_id, last_listed_at) =
            (SELECT CASE WHEN pick THEN excluded.last_listed_run_id ELSE s.last_listed_run_id END,
                    CASE WHEN pick THEN excluded.last_listed_at ELSE s.last_listed_at END
             FROM (SELECT excluded.last_listed_at >= s.last_listed_at OR (s.last_listed_at IS NULL AND excluded.last_listed_at IS NOT NULL) AS pick) AS p),
        (last_head_walk_run_id, last_head_walk_at) =
            (SELECT CASE WHEN pick THEN excluded.last_head_walk_run_id ELSE s.last_head_walk_run_id END,
                    CASE WHEN pick THEN excluded.last_head_walk_at ELSE s.last_head_walk_at END
             FROM (SELECT excluded.last_head_walk_at >= s.last_head_walk_at OR (s.last_head_walk_at IS NULL AND excluded.last_head_walk_at IS NOT NULL) AS pick) AS p),
        (last_change_run_id, last_change_at) =
            (SELECT CASE WHEN pick THEN excluded.last_change_run_id ELSE s.last_change_run_id END,
                    CASE WHEN pick THEN excluded.last_change_at ELSE s.last_change_at END
             FROM (SELECT excluded.last_change_at >= s.last_change_at OR (s.last_change_at IS NULL AND excluded.last_change_at IS NOT NULL) AS pick) AS p),
        (last_error_run_id, last_error_at, last_error) =
            (SELECT CASE WHEN pick THEN excluded.last_error_run_id ELSE s.last_error_run_id END,
                    CASE WHEN pick THEN excluded.last_error_at ELSE s.last_error_at END,
                    CASE WHEN pick THEN excluded.last_error ELSE s.last_error END
             FROM (SELECT excluded.last_error_at >= s.last_error_at OR (s.last_error_at IS NULL AND excluded.last_error_at IS NOT NULL) AS pick) AS p);

    -- Full runs: the ring of the last 24 hours (a slot of an older hour starts again from 0; a run
    -- that ends more than a day after it started no longer counts there).
    IF is_full THEN
        UPDATE modelarts.source_sync_state AS s
        SET full_runs_by_hour[slot] = CASE WHEN s.full_run_hours[slot] = h THEN s.full_runs_by_hour[slot] ELSE 0 END + started::integer,
            full_failed_by_hour[slot] = CASE WHEN s.full_run_hours[slot] = h THEN s.full_failed_by_hour[slot] ELSE 0 END
                                        + (ended AND NEW.state = 'failed')::integer,
            full_run_hours[slot] = h
        WHERE s.source = NEW.source AND s.full_run_hours[slot] <= h;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION modelarts.track_sync_run() IS
    'Row trigger of sync_runs: keeps source_sync_state and sync_run_counts as a run starts and ends.';

CREATE TRIGGER sync_runs_track AFTER INSERT OR UPDATE OF state ON modelarts.sync_runs
    FOR EACH ROW EXECUTE FUNCTION modelarts.track_sync_run();

-- What the ledger and the jobs hold now. Runs recorded before listed_every_page: a succeeded full run listed
-- every page; of the partial ones nothing is known.
INSERT INTO modelarts.source_job_counts (source, status, deleted, duration_bucket, jobs)
SELECT source, status, deleted_at IS NOT NULL, modelarts.job_duration_bucket(duration_ms, deleted_at), count(*)
FROM modelarts.visualization_jobs
GROUP BY 1, 2, 3, 4;

INSERT INTO modelarts.source_created_days (source, day, jobs)
SELECT source, (create_time AT TIME ZONE 'UTC')::date, count(*)
FROM modelarts.visualization_jobs
WHERE create_time IS NOT NULL
GROUP BY 1, 2;

INSERT INTO modelarts.sync_run_counts (source, kind, hour, runs, succeeded, partial, failed, changed)
SELECT source, kind, to_timestamp(floor(extract(epoch FROM started_at) / 3600) * 3600),
       count(*), count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state = 'partial'),
       count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state <> 'running' AND jobs_inserted + jobs_updated + jobs_deleted > 0)
FROM modelarts.sync_runs
GROUP BY 1, 2, 3;

INSERT INTO modelarts.source_sync_state AS s (source, last_full_run_id, last_full_started_at, last_head_run_id,
    last_head_started_at, last_success_run_id, last_success_at, last_any_success_at, last_listed_run_id, last_listed_at,
    last_head_walk_run_id, last_head_walk_at, last_change_run_id, last_change_at, last_error_run_id,
    last_error_at, last_error)
SELECT src.source, f.id, f.started_at, h.id, h.started_at, ok.id, ok.finished_at, anyok.finished_at, ok.id, ok.finished_at,
       hw.id, hw.finished_at, ch.id, ch.finished_at, err.id, err.finished_at, err.error
FROM (SELECT DISTINCT source FROM modelarts.sync_runs) AS src
LEFT JOIN LATERAL (SELECT id, started_at FROM modelarts.sync_runs r WHERE r.source = src.source AND r.kind = 'full'
                   ORDER BY started_at DESC, id DESC LIMIT 1) AS f ON true
LEFT JOIN LATERAL (SELECT id, started_at FROM modelarts.sync_runs r WHERE r.source = src.source AND r.kind = 'head'
                   ORDER BY started_at DESC, id DESC LIMIT 1) AS h ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.kind = 'full' AND r.state = 'succeeded'
                   ORDER BY finished_at DESC, id DESC LIMIT 1) AS ok ON true
LEFT JOIN LATERAL (SELECT max(finished_at) AS finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.state = 'succeeded') AS anyok ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.kind = 'head' AND r.state IN ('succeeded', 'partial')
                   ORDER BY finished_at DESC, id DESC LIMIT 1) AS hw ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.state <> 'running' AND r.jobs_inserted + r.jobs_updated + r.jobs_deleted > 0
                   ORDER BY finished_at DESC, id DESC LIMIT 1) AS ch ON true
LEFT JOIN LATERAL (SELECT id, finished_at, error FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.kind = 'full' AND r.error IS NOT NULL AND r.state <> 'running'
                   ORDER BY finished_at DESC, id DESC LIMIT 1) AS err ON true;

UPDATE modelarts.source_sync_state AS s
SET live_jobs = j.live, running_jobs = j.running
FROM (SELECT c.source, sum(c.jobs)::bigint AS live, coalesce(sum(c.jobs) FILTER (WHERE st.is_running), 0)::bigint AS running
      FROM modelarts.source_job_counts AS c LEFT JOIN modelarts.job_statuses AS st ON st.code = c.status
      WHERE NOT c.deleted GROUP BY 1) AS j
WHERE j.source = s.source;

UPDATE modelarts.source_sync_state AS s
SET full_run_hours = r.hours, full_runs_by_hour = r.runs, full_failed_by_hour = r.failed
FROM (SELECT src.source,
             array_agg(coalesce(c.h, 0) ORDER BY slot) AS hours,
             array_agg(coalesce(c.runs, 0) ORDER BY slot) AS runs,
             array_agg(coalesce(c.failed, 0) ORDER BY slot) AS failed
      FROM (SELECT source FROM modelarts.source_sync_state) AS src
      CROSS JOIN generate_series(1, 24) AS slot
      LEFT JOIN LATERAL (
          SELECT floor(extract(epoch FROM rc.hour) / 3600)::bigint AS h, rc.runs, rc.failed
          FROM modelarts.sync_run_counts AS rc
          WHERE rc.source = src.source AND rc.kind = 'full' AND rc.hour >= now() - interval '24 hours'
            AND (floor(extract(epoch FROM rc.hour) / 3600)::bigint % 24)::integer + 1 = slot
          ORDER BY rc.hour DESC
          LIMIT 1) AS c ON true
      GROUP BY src.source) AS r
WHERE r.source = s.source;

-- sync_health from those tables: the same columns, then four more at the end.
CREATE OR REPLACE VIEW modelarts.sync_health AS
SELECT s.source,
       last.id                                                     AS last_run_id,
       last.state                                                  AS last_run_state,
       last.started_at                                             AS last_run_started_at,
       last.finished_at                                            AS last_run_finished_at,
       last.error                                                  AS last_run_error,
       s.last_success_at,
       s.last_success_run_id,
       now() - s.last_success_at                                   AS freshness,
       extract(epoch FROM now() - s.last_success_at)::bigint       AS freshness_seconds,
       s.last_error_at,
       s.last_error,
       day.runs                                                    AS runs_24h,
       day.failed                                                  AS failed_runs_24h,
       s.live_jobs,
       s.running_jobs,
       s.last_listed_at,
       extract(epoch FROM now() - s.last_listed_at)::bigint        AS listed_freshness_seconds,
       s.last_head_walk_at,
       s.last_change_at
FROM modelarts.source_sync_state AS s
LEFT JOIN modelarts.sync_runs AS last ON last.id = s.last_full_run_id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(u.runs), 0) AS runs, coalesce(sum(u.failed), 0) AS failed
    FROM unnest(s.full_run_hours, s.full_runs_by_hour, s.full_failed_by_hour) AS u(hour, runs, failed)
    WHERE u.hour >= floor(extract(epoch FROM now()) / 3600)::bigint - 23
) AS day
WHERE s.last_full_run_id IS NOT NULL;

COMMENT ON VIEW modelarts.sync_health IS
    'One row per source that has a full run: its latest full run, how old what the mirror shows is (last_listed_at: the last run that listed every page; last_success_at: the last run also proven complete), its last head walk and change, its last error, its runs of the last day and its job counts. Read from figures kept as runs finish (source_sync_state, sync_run_counts, source_job_counts): a few rows per source, whatever the ledger''s length. Alert on listed_freshness_seconds (busy sources may never prove a walk complete) and on freshness_seconds where sources are quiet.';
COMMENT ON COLUMN modelarts.sync_health.last_run_id IS 'Id of the latest full run (sync_runs.id), whatever its state. Head walks are not shown here, except in last_head_walk_at.';
COMMENT ON COLUMN modelarts.sync_health.last_run_state IS 'State of the latest full run: running, succeeded, partial or failed.';
COMMENT ON COLUMN modelarts.sync_health.last_run_started_at IS 'When the latest full run started.';
COMMENT ON COLUMN modelarts.sync_health.last_run_finished_at IS 'When the latest full run ended; null while it runs.';
COMMENT ON COLUMN modelarts.sync_health.last_run_error IS 'Error of the latest full run; null if it succeeded.';
COMMENT ON COLUMN modelarts.sync_health.last_success_at IS 'When the latest succeeded full run (a walk proven complete, every deletion settled) ended; null if none ever did. A busy source may have none for long: see last_listed_at.';
COMMENT ON COLUMN modelarts.sync_health.freshness IS 'now() minus last_success_at: how long ago the mirror of this source was last proven complete.';
COMMENT ON COLUMN modelarts.sync_health.last_error_at IS 'When the latest full run that recorded an error (failed or partial) ended.';
COMMENT ON COLUMN modelarts.sync_health.runs_24h IS 'Full runs started in the current UTC hour and the 23 before it (counted by hour: a window of 23 to 24 hours); pruned runs still count.';
COMMENT ON COLUMN modelarts.sync_health.failed_runs_24h IS 'Of those, runs that failed.';
COMMENT ON COLUMN modelarts.sync_health.last_listed_at IS 'When the latest run that listed every page of the source ended, proven complete or not (partial): every job that existed before its walk and still exists was stored by then. How old what the mirror shows is; null if no run has listed every page since the ledger recorded it.';
COMMENT ON COLUMN modelarts.sync_health.listed_freshness_seconds IS 'now() minus last_listed_at, in seconds (for alert thresholds); null if none.';
COMMENT ON COLUMN modelarts.sync_health.last_head_walk_at IS 'When the latest head walk that did not fail ended (the newest jobs and those not in a final status are at most this old); null if none.';
COMMENT ON COLUMN modelarts.sync_health.last_change_at IS 'When the latest run of any kind that inserted, updated or deleted a job ended; null if none.';

-- +goose Down
-- sync_health as 00009 left it (its added columns go with a DROP and CREATE), then the rest.
DROP VIEW modelarts.sync_health;
CREATE VIEW modelarts.sync_health AS
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

DROP TRIGGER sync_runs_track ON modelarts.sync_runs;
DROP TRIGGER visualization_jobs_count_insert ON modelarts.visualization_jobs;
DROP TRIGGER visualization_jobs_count_update ON modelarts.visualization_jobs;
DROP TRIGGER visualization_jobs_count_delete ON modelarts.visualization_jobs;
DROP TRIGGER visualization_jobs_count_truncate ON modelarts.visualization_jobs;
DROP FUNCTION modelarts.truncate_job_counts();
DROP FUNCTION modelarts.track_sync_run();
DROP FUNCTION modelarts.track_job_counts();
DROP FUNCTION modelarts.job_duration_bucket(bigint, timestamptz);
DROP TABLE modelarts.source_created_days, modelarts.source_job_counts, modelarts.sync_run_counts,
    modelarts.source_sync_state;
DROP INDEX modelarts.sync_runs_noop_finished_at_idx;
ALTER TABLE modelarts.sync_runs RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor,
    autovacuum_analyze_scale_factor);
ALTER TABLE modelarts.sync_runs DROP COLUMN listed_every_page;
