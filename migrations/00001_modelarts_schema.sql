-- The schema every table of the indexer lives in, and the reference list of job status codes.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS modelarts;
COMMENT ON SCHEMA modelarts IS
    'Mirror of Huawei Cloud ModelArts visualization jobs with full history, kept by the vizjob indexer.';

CREATE TABLE modelarts.job_statuses (
    code     integer PRIMARY KEY,
    name     text    NOT NULL UNIQUE,
    meaning  text    NOT NULL,
    is_final boolean NOT NULL
);

COMMENT ON TABLE modelarts.job_statuses IS
    'Every status code the ModelArts API documents for visualization jobs. Job tables store codes without a foreign key, so an undocumented code is kept: LEFT JOIN this table.';
COMMENT ON COLUMN modelarts.job_statuses.code IS 'Status code as sent by the API (visualization_jobs.status).';
COMMENT ON COLUMN modelarts.job_statuses.name IS 'Symbolic name from the API reference, e.g. JOBSTAT_RUNNING.';
COMMENT ON COLUMN modelarts.job_statuses.meaning IS 'What the status means, in one line.';
COMMENT ON COLUMN modelarts.job_statuses.is_final IS
    'True when the job has ended (completed, failed, killed, canceled or lost) and the status is not expected to change again.';

INSERT INTO modelarts.job_statuses (code, name, meaning, is_final) VALUES
    (0,  'JOBSTAT_UNKNOWN',                 'Status unknown.',                                                   false),
    (1,  'JOBSTAT_INIT',                    'Job is being initialized.',                                         false),
    (2,  'JOBSTAT_IMAGE_CREATING',          'Image of the job is being created.',                                false),
    (3,  'JOBSTAT_IMAGE_FAILED',            'Image of the job could not be created.',                            true),
    (4,  'JOBSTAT_SUBMIT_TRYING',           'Job is being submitted.',                                           false),
    (5,  'JOBSTAT_SUBMIT_FAILED',           'Job could not be submitted.',                                       true),
    (6,  'JOBSTAT_DELETE_FAILED',           'Job could not be deleted.',                                         true),
    (7,  'JOBSTAT_WAITING',                 'Job is queued, waiting for resources.',                             false),
    (8,  'JOBSTAT_RUNNING',                 'Job is running.',                                                   false),
    (9,  'JOBSTAT_KILLING',                 'Job is being stopped.',                                             false),
    (10, 'JOBSTAT_COMPLETED',               'Job completed.',                                                    true),
    (11, 'JOBSTAT_FAILED',                  'Job failed while running.',                                         true),
    (12, 'JOBSTAT_KILLED',                  'Job was stopped.',                                                  true),
    (13, 'JOBSTAT_CANCELED',                'Job was canceled.',                                                 true),
    (14, 'JOBSTAT_LOST',                    'Job was lost by the platform.',                                     true),
    (15, 'JOBSTAT_SCALING',                 'Job is being scaled.',                                              false),
    (16, 'JOBSTAT_SUBMIT_MODEL_FAILED',     'Model of the job could not be submitted.',                          true),
    (17, 'JOBSTAT_DEPLOY_SERVICE_FAILED',   'Service of the job could not be deployed.',                         true),
    (18, 'JOBSTAT_CHECK_INIT',              'Pre-run check is being initialized.',                               false),
    (19, 'JOBSTAT_CHECK_RUNNING',           'Pre-run check is running.',                                         false),
    (20, 'JOBSTAT_CHECK_RUNNING_COMPLETED', 'Pre-run check completed; the job goes on to run.',                 false),
    (21, 'JOBSTAT_CHECK_FAILED',            'Pre-run check failed.',                                             true),
    (22, 'MOUNT_FAILED',                    'Storage could not be mounted (listed in the SDK reference only).', true);

-- +goose Down
DROP TABLE modelarts.job_statuses;
DROP SCHEMA modelarts;
