-- The jobs: their current state, and every version of their tracked attributes (slowly changing
-- dimension, type 2).

-- +goose Up
CREATE TABLE modelarts.visualization_jobs (
    source          text        NOT NULL,
    job_id          bigint      NOT NULL,
    job_name        text        NOT NULL,
    job_desc        text        NOT NULL,
    status          integer     NOT NULL,
    create_time     timestamptz,
    duration_ms     bigint,
    service_url     text        NOT NULL,
    train_url       text        NOT NULL,
    resource_id     text,
    raw             jsonb       NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    last_changed_at timestamptz NOT NULL,
    deleted_at      timestamptz,
    PRIMARY KEY (source, job_id)
);

COMMENT ON TABLE modelarts.visualization_jobs IS
    'Current state of every visualization job ever seen, one row per job and source. Rows are never removed: a job that vanished from the API has deleted_at set.';
COMMENT ON COLUMN modelarts.visualization_jobs.source IS 'Source (a ModelArts project in a region) the job belongs to.';
COMMENT ON COLUMN modelarts.visualization_jobs.job_id IS 'Job id (job_id), unique within a source.';
COMMENT ON COLUMN modelarts.visualization_jobs.job_name IS 'Job name (job_name).';
COMMENT ON COLUMN modelarts.visualization_jobs.job_desc IS 'Job description (job_desc).';
COMMENT ON COLUMN modelarts.visualization_jobs.status IS
    'Status code (status); see modelarts.job_statuses. Undocumented codes are stored as received.';
COMMENT ON COLUMN modelarts.visualization_jobs.create_time IS 'When the job was created (create_time, sent as epoch milliseconds); null if not sent.';
COMMENT ON COLUMN modelarts.visualization_jobs.duration_ms IS 'Run time of the job in milliseconds (duration) at last_seen_at.';
COMMENT ON COLUMN modelarts.visualization_jobs.service_url IS 'URL of the visualization service (service_url).';
COMMENT ON COLUMN modelarts.visualization_jobs.train_url IS 'OBS path the job visualizes (train_url).';
COMMENT ON COLUMN modelarts.visualization_jobs.resource_id IS 'Billing resource id (resource_id, undocumented); null if not sent.';
COMMENT ON COLUMN modelarts.visualization_jobs.raw IS
    'The item as received from the API, unknown fields included (jsonb: key order and white space are not kept).';
COMMENT ON COLUMN modelarts.visualization_jobs.first_seen_at IS 'When the indexer first saw the job.';
COMMENT ON COLUMN modelarts.visualization_jobs.last_seen_at IS
    'When a run last saw the job. For a job that did not change it is refreshed at most once a day (configurable), so that a run that sees nothing new writes nothing.';
COMMENT ON COLUMN modelarts.visualization_jobs.last_changed_at IS 'When any stored column of the job last changed (including deletion and reappearance).';
COMMENT ON COLUMN modelarts.visualization_jobs.deleted_at IS
    'When the job was found missing from a verified-complete walk; null while the job exists. Cleared if the job comes back.';

CREATE TABLE modelarts.visualization_job_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    job_id      bigint      NOT NULL,
    status      integer     NOT NULL,
    job_name    text        NOT NULL,
    job_desc    text        NOT NULL,
    service_url text        NOT NULL,
    train_url   text        NOT NULL,
    duration_ms bigint,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    sync_run_id bigint REFERENCES modelarts.sync_runs (id) ON DELETE SET NULL,
    CONSTRAINT visualization_job_history_job_fkey FOREIGN KEY (source, job_id)
        REFERENCES modelarts.visualization_jobs (source, job_id) ON DELETE CASCADE,
    CONSTRAINT visualization_job_history_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE UNIQUE INDEX visualization_job_history_open_version_idx
    ON modelarts.visualization_job_history (source, job_id) WHERE valid_to IS NULL;
CREATE INDEX visualization_job_history_job_valid_from_idx
    ON modelarts.visualization_job_history (source, job_id, valid_from);
CREATE INDEX visualization_job_history_sync_run_id_idx
    ON modelarts.visualization_job_history (sync_run_id);

COMMENT ON TABLE modelarts.visualization_job_history IS
    'Every version of every job (slowly changing dimension, type 2). A version starts when the job is first seen, when its status, name, description, service URL or train URL changes, or when it comes back after deletion; it ends (valid_to) when the next version starts or the job is marked deleted. A duration change alone starts no version. Versions of one job are contiguous: the closed version''s valid_to equals the next valid_from.';
COMMENT ON COLUMN modelarts.visualization_job_history.id IS 'Version id.';
COMMENT ON COLUMN modelarts.visualization_job_history.source IS 'Source of the job (see visualization_jobs.source).';
COMMENT ON COLUMN modelarts.visualization_job_history.job_id IS 'Job id (see visualization_jobs.job_id).';
COMMENT ON COLUMN modelarts.visualization_job_history.status IS 'Status code during this version; see modelarts.job_statuses.';
COMMENT ON COLUMN modelarts.visualization_job_history.job_name IS 'Job name during this version.';
COMMENT ON COLUMN modelarts.visualization_job_history.job_desc IS 'Job description during this version.';
COMMENT ON COLUMN modelarts.visualization_job_history.service_url IS 'Service URL during this version.';
COMMENT ON COLUMN modelarts.visualization_job_history.train_url IS 'Train URL during this version.';
COMMENT ON COLUMN modelarts.visualization_job_history.duration_ms IS
    'Duration in milliseconds when the version started (not updated afterwards; the current duration is in visualization_jobs).';
COMMENT ON COLUMN modelarts.visualization_job_history.valid_from IS 'When the run that observed this version saw it first (inclusive).';
COMMENT ON COLUMN modelarts.visualization_job_history.valid_to IS
    'When a run first saw the version replaced or the job gone (exclusive); null for the current version of a live job.';
COMMENT ON COLUMN modelarts.visualization_job_history.sync_run_id IS 'Run that opened this version (modelarts.sync_runs.id); null if that run was purged from the ledger.';

-- +goose Down
DROP TABLE modelarts.visualization_job_history;
DROP TABLE modelarts.visualization_jobs;
