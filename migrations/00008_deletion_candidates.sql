-- Deletions on evidence: the jobs a run did not see wait here until the ModelArts service itself says
-- they do not exist (then they are marked deleted) or shows them (then they leave the queue).

-- +goose Up
CREATE TABLE modelarts.deletion_candidates (
    source              text        NOT NULL,
    job_id              bigint      NOT NULL,
    first_missed_at     timestamptz NOT NULL,
    first_missed_run_id bigint      NOT NULL,
    walks_missed        integer     NOT NULL DEFAULT 0,
    checks              integer     NOT NULL DEFAULT 0,
    last_checked_at     timestamptz,
    last_answer         text,
    PRIMARY KEY (source, job_id)
);

COMMENT ON TABLE modelarts.deletion_candidates IS
    'Live jobs of the mirror that a run did not see, waiting for evidence. A job is marked deleted only when the ModelArts service itself says it does not exist (the detail call''s not-found answer, or a trusted name search); a job seen again, or shown by the detail call, leaves the queue. Checked least recently checked first, within a per-run budget.';
COMMENT ON COLUMN modelarts.deletion_candidates.source IS 'Source of the job, as in visualization_jobs.';
COMMENT ON COLUMN modelarts.deletion_candidates.job_id IS 'The job, live in visualization_jobs, that the last walk did not list.';
COMMENT ON COLUMN modelarts.deletion_candidates.first_missed_at IS 'When a run first missed the job (the end of that run''s walks).';
COMMENT ON COLUMN modelarts.deletion_candidates.first_missed_run_id IS 'The run (modelarts.sync_runs.id) that first missed it.';
COMMENT ON COLUMN modelarts.deletion_candidates.walks_missed IS 'Walks over every page that did not list the job since it became a candidate.';
COMMENT ON COLUMN modelarts.deletion_candidates.checks IS 'Times the service was asked about the job without a conclusive answer.';
COMMENT ON COLUMN modelarts.deletion_candidates.last_checked_at IS 'When the service was last asked; null: not yet.';
COMMENT ON COLUMN modelarts.deletion_candidates.last_answer IS 'Why the last check was not conclusive (e.g. the detail call answered 404 APIG.0101, a gateway error).';

ALTER TABLE modelarts.sync_runs
    ADD COLUMN deletion_checks   integer NOT NULL DEFAULT 0,
    ADD COLUMN deletions_pending bigint;

COMMENT ON COLUMN modelarts.sync_runs.deletion_checks IS 'Requests the run spent asking the service about deletion candidates (detail calls and name searches).';
COMMENT ON COLUMN modelarts.sync_runs.deletions_pending IS 'Deletion candidates still waiting for evidence when the run ended (see modelarts.deletion_candidates); null when the run ended before counting them.';
COMMENT ON COLUMN modelarts.sync_runs.jobs_deleted IS 'Jobs marked deleted by the run: missing from its walks, and confirmed gone by the service itself (detail call or trusted name search).';
COMMENT ON COLUMN modelarts.sync_runs.state IS
    'running; succeeded (a walk was verified complete and every deletion candidate was settled); partial (upserted what it saw, but no walk could be verified complete or some deletion candidates still wait for evidence; deletions confirmed by the service were marked anyway); failed (see error).';

COMMENT ON COLUMN modelarts.visualization_jobs.deleted_at IS
    'When the job was marked deleted: it was missing from a walk and the ModelArts service itself said it does not exist (detail call, trusted name search, or the whole listing in one page; see deletion_candidates). Null while it exists; cleared if it comes back.';

-- +goose Down
COMMENT ON COLUMN modelarts.visualization_jobs.deleted_at IS
    'When the job was found missing from a verified-complete walk; null while the job exists. Cleared if the job comes back.';
ALTER TABLE modelarts.sync_runs DROP COLUMN deletion_checks, DROP COLUMN deletions_pending;
DROP TABLE modelarts.deletion_candidates;
