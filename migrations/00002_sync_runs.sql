-- The run ledger: one row per sync of one source, whatever its outcome.

-- +goose Up
CREATE TABLE modelarts.sync_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text        NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    state           text        NOT NULL
        CHECK (state IN ('running', 'succeeded', 'partial', 'failed')),
    walks           integer     NOT NULL DEFAULT 0,
    pages           integer     NOT NULL DEFAULT 0,
    requests        integer     NOT NULL DEFAULT 0,
    retries         integer     NOT NULL DEFAULT 0,
    jobs_seen       bigint      NOT NULL DEFAULT 0,
    jobs_inserted   bigint      NOT NULL DEFAULT 0,
    jobs_updated    bigint      NOT NULL DEFAULT 0,
    jobs_deleted    bigint      NOT NULL DEFAULT 0,
    bad_items       bigint      NOT NULL DEFAULT 0,
    api_total_count bigint,
    error           text,
    hostname        text,
    pid             integer,
    CONSTRAINT sync_runs_finished_iff_not_running
        CHECK ((state = 'running') = (finished_at IS NULL))
);

CREATE INDEX sync_runs_source_started_at_idx ON modelarts.sync_runs (source, started_at DESC);

COMMENT ON TABLE modelarts.sync_runs IS
    'One row per sync run of one source: when it ran, how it ended and what it counted. A row still ''running'' after its process died is closed as ''failed'' by the next run of the source.';
COMMENT ON COLUMN modelarts.sync_runs.id IS 'Run id; visualization_job_history.sync_run_id points here.';
COMMENT ON COLUMN modelarts.sync_runs.source IS 'Source (a ModelArts project in a region) the run synced, as named in the configuration.';
COMMENT ON COLUMN modelarts.sync_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN modelarts.sync_runs.finished_at IS 'When the run ended; null while it runs.';
COMMENT ON COLUMN modelarts.sync_runs.state IS
    'running; succeeded (complete, verified walk); partial (upserted what it saw, but the walk could not be verified complete, so no deletion was marked); failed (see error).';
COMMENT ON COLUMN modelarts.sync_runs.walks IS 'Walks over all pages of the list API (more than 1 when a walk had to be retried).';
COMMENT ON COLUMN modelarts.sync_runs.pages IS 'Pages of the list API read, over all walks.';
COMMENT ON COLUMN modelarts.sync_runs.requests IS 'HTTP requests sent to the API, retries included.';
COMMENT ON COLUMN modelarts.sync_runs.retries IS 'HTTP requests that were retries of a failed request.';
COMMENT ON COLUMN modelarts.sync_runs.jobs_seen IS 'Distinct jobs seen by the run.';
COMMENT ON COLUMN modelarts.sync_runs.jobs_inserted IS 'Jobs seen for the first time.';
COMMENT ON COLUMN modelarts.sync_runs.jobs_updated IS 'Known jobs whose stored content changed (including jobs that came back after being marked deleted).';
COMMENT ON COLUMN modelarts.sync_runs.jobs_deleted IS 'Jobs marked deleted because a verified-complete walk no longer listed them.';
COMMENT ON COLUMN modelarts.sync_runs.bad_items IS 'Items of the API answer that could not be decoded and were skipped.';
COMMENT ON COLUMN modelarts.sync_runs.api_total_count IS 'job_total_count reported by the API on the last page read; null when no page was read.';
COMMENT ON COLUMN modelarts.sync_runs.error IS 'Why the run failed or was partial; null when it succeeded.';
COMMENT ON COLUMN modelarts.sync_runs.hostname IS 'Host the run''s process ran on.';
COMMENT ON COLUMN modelarts.sync_runs.pid IS 'Process id of the run''s process on that host.';

-- +goose Down
DROP TABLE modelarts.sync_runs;
