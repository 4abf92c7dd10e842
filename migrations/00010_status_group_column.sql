-- Status groups are data: job_statuses.status_group names the group of each documented code, beside its
-- name and meaning, instead of a CASE on codes inside the view job_status_groups (00004, then 00007).
-- The column is filled with that CASE, so every code keeps its group; job_status_groups reads the
-- column and keeps its columns, their order and its answers. A status code documented later is added
-- with its group (the column is NOT NULL); the groups themselves are the CHECK's list.

-- +goose Up
ALTER TABLE modelarts.job_statuses ADD COLUMN status_group text;

-- The CASE of job_status_groups as 00007 left it.
UPDATE modelarts.job_statuses AS s
SET status_group = CASE
                       WHEN s.is_running THEN 'running'
                       WHEN s.code IN (1, 2, 4, 7, 18, 19, 20) THEN 'pending'
                       WHEN s.code = 9 THEN 'stopping'
                       WHEN s.code = 15 THEN 'scaling'
                       WHEN s.code = 10 THEN 'completed'
                       WHEN s.code IN (12, 13) THEN 'stopped'
                       WHEN s.is_final THEN 'failed'
                       ELSE 'unknown'
                   END;

ALTER TABLE modelarts.job_statuses
    ALTER COLUMN status_group SET NOT NULL,
    ADD CONSTRAINT job_statuses_status_group_check CHECK (status_group IN
        ('pending', 'running', 'stopping', 'scaling', 'completed', 'failed', 'stopped', 'unknown'));

COMMENT ON COLUMN modelarts.job_statuses.status_group IS
    'Coarse group for dashboards: pending (initializing, submitting, waiting, pre-run checks), running (JOBSTAT_RUNNING only, as is_running), stopping (being stopped), scaling, completed, failed (every failure, and lost), stopped (killed or canceled), unknown (JOBSTAT_UNKNOWN). The views read it; an undocumented code is in group unknown.';

CREATE OR REPLACE VIEW modelarts.job_status_groups AS
SELECT s.code,
       s.name,
       s.meaning,
       s.is_final,
       s.status_group,
       s.is_running,
       s.is_active
FROM modelarts.job_statuses AS s;

-- +goose Down
-- job_status_groups as 00007 left it, then the column goes.
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

ALTER TABLE modelarts.job_statuses DROP COLUMN status_group;
