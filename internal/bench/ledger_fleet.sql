-- A fleet's database for measuring the ledger's cost and the reads at scale (docs/ledger.md): N
-- sources with the default schedules (a full walk every 5 minutes, a head walk every minute), their
-- jobs with one or two history versions each, and a ledger of two parts:
--
--   dense   the last :dense_days days: every run, as the daemon records them
--   sparse  the :sparse_days days before: only the runs that changed something or failed (what the
--           default retention keeps after 7 days; the no-op runs of those days are counted in
--           sync_run_counts only, as if pruned)
--
-- Run against a migrated, empty database (indexer migrate up), as a superuser (the triggers are off
-- while it loads; it then fills the per-source figures as migration 00017 does):
--
--   psql -v sources=1000 -v jobs=10000 -v dense_days=8 -v sparse_days=112 -f ledger_fleet.sql URL
--
-- Every variable has a default (below). Shares: :full_change of full walks and :head_change of head
-- walks change a job; :fail of runs fail; sources whose number is a multiple of :churning end every
-- full run partial (a busy tenant: the walk never proves complete, but lists every page).

\set ON_ERROR_STOP on
\if :{?sources} \else \set sources 1000 \endif
\if :{?jobs} \else \set jobs 10000 \endif
\if :{?dense_days} \else \set dense_days 8 \endif
\if :{?sparse_days} \else \set sparse_days 112 \endif
\if :{?full_change} \else \set full_change 0.2 \endif
\if :{?head_change} \else \set head_change 0.05 \endif
\if :{?fail} \else \set fail 0.005 \endif
\if :{?churning} \else \set churning 10 \endif

SET synchronous_commit = off;
SET session_replication_role = replica; -- no trigger, no foreign-key check while loading
SELECT setseed(0.27);

CREATE TEMPORARY TABLE fleet AS
SELECT n, format('cn-north-4-proj-%s', lpad(n::text, 5, '0')) AS source, n % :churning = 0 AS churning
FROM generate_series(1, :sources) AS n;

-- Sparse part: per source and day, the changed or failed runs at random instants, oldest first.
\echo sparse ledger
INSERT INTO modelarts.sync_runs (source, kind, state, started_at, finished_at, walks, pages, requests,
    jobs_seen, jobs_inserted, jobs_updated, api_total_count, error, hostname, pid, listed_every_page)
SELECT f.source, r.kind,
       CASE WHEN r.failed THEN 'failed' WHEN r.kind = 'full' AND f.churning THEN 'partial' ELSE 'succeeded' END,
       r.t, r.t + CASE WHEN r.kind = 'full' THEN interval '40 seconds' ELSE interval '2 seconds' END,
       1, CASE WHEN r.kind = 'full' THEN :jobs / 100 ELSE 2 END, CASE WHEN r.kind = 'full' THEN :jobs / 100 + 1 ELSE 3 END,
       CASE WHEN r.kind = 'full' THEN :jobs ELSE 150 END,
       CASE WHEN r.failed THEN 0 ELSE 1 END, CASE WHEN r.failed THEN 0 ELSE 3 END, :jobs,
       CASE WHEN r.failed THEN 'list page 37: 503 Service Unavailable: ModelArts.0001 the service is busy, retried 5 times'
            WHEN r.kind = 'full' AND f.churning THEN 'sync partial: no walk of 3 could be verified complete (last: 2 jobs deleted during the walk)' END,
       'indexer-0', 1, r.kind = 'full' AND NOT r.failed
FROM generate_series(:sparse_days + :dense_days, :dense_days + 1, -1) AS d
CROSS JOIN fleet AS f
CROSS JOIN LATERAL (
    SELECT k.kind, now() - d * interval '1 day' + random() * interval '1 day' AS t, random() < :fail / (:fail + CASE WHEN k.kind = 'full' THEN :full_change ELSE :head_change END) AS failed
    FROM (SELECT 'full' AS kind, g FROM generate_series(1, round(288 * (:full_change + :fail))::int) AS g
          UNION ALL
          SELECT 'head', g FROM generate_series(1, round(1440 * (:head_change + :fail))::int) AS g) AS k
) AS r;

-- Dense part: every run of the last days, in the order they started.
\echo dense ledger
INSERT INTO modelarts.sync_runs (source, kind, state, started_at, finished_at, walks, pages, requests,
    jobs_seen, jobs_inserted, jobs_updated, api_total_count, error, hostname, pid, listed_every_page)
SELECT f.source, r.kind,
       CASE WHEN r.failed THEN 'failed' WHEN r.kind = 'full' AND f.churning THEN 'partial' ELSE 'succeeded' END,
       r.t, r.t + CASE WHEN r.kind = 'full' THEN interval '40 seconds' ELSE interval '2 seconds' END,
       1, CASE WHEN r.kind = 'full' THEN :jobs / 100 ELSE 2 END, CASE WHEN r.kind = 'full' THEN :jobs / 100 + 1 ELSE 3 END,
       CASE WHEN r.kind = 'full' THEN :jobs ELSE 150 END,
       CASE WHEN r.changed THEN 1 ELSE 0 END, CASE WHEN r.changed THEN 3 ELSE 0 END, :jobs,
       CASE WHEN r.failed THEN 'list page 37: 503 Service Unavailable: ModelArts.0001 the service is busy, retried 5 times'
            WHEN r.kind = 'full' AND f.churning THEN 'sync partial: no walk of 3 could be verified complete (last: 2 jobs deleted during the walk)' END,
       'indexer-0', 1, r.kind = 'full' AND NOT r.failed
FROM generate_series(date_trunc('minute', now()) - :dense_days * interval '1 day', date_trunc('minute', now()) - interval '1 minute',
                     interval '1 minute') AS m(t)
CROSS JOIN fleet AS f
CROSS JOIN LATERAL (
    SELECT k.kind, m.t + (f.n % 50) * interval '1 second' AS t, x < :fail AS failed,
           x >= :fail AND x < :fail + CASE WHEN k.kind = 'full' THEN :full_change ELSE :head_change END AS changed
    FROM (SELECT 'head' AS kind, random() AS x
          UNION ALL
          SELECT 'full', random() WHERE extract(minute FROM m.t)::int % 5 = f.n % 5) AS k
) AS r;

-- Jobs: create times over the last year, most in a final status, 5% deleted; one history version
-- each, a second for one in three (a status change).
\echo jobs
INSERT INTO modelarts.visualization_jobs (source, job_id, job_name, job_desc, status, create_time, duration_ms,
    service_url, train_url, resource_id, raw, first_seen_at, last_seen_at, last_changed_at, deleted_at)
SELECT f.source, j, 'tb-' || md5(f.n::text || ':' || j::text), 'visualization of training run ' || j,
       s.status, c.t, CASE WHEN s.status IN (8, 10, 3, 12) THEN (random() * 86400000)::bigint END,
       format('https://console.example.com/tensorboard/%s/', j), format('/bucket/train/%s/', j), format('res-%s', j),
       jsonb_build_object('job_id', j, 'job_name', 'tb-' || md5(f.n::text || ':' || j::text), 'status', s.status,
                          'create_time', (extract(epoch FROM c.t) * 1000)::bigint, 'duration', 0,
                          'job_desc', 'visualization of training run ' || j, 'resource_id', format('res-%s', j),
                          'service_url', format('https://console.example.com/tensorboard/%s/', j),
                          'train_url', format('/bucket/train/%s/', j), 'remaining_duration', null),
       c.t, now() - random() * interval '1 day', c.t, CASE WHEN random() < 0.05 THEN c.t + interval '30 days' END
FROM fleet AS f
CROSS JOIN generate_series(1, :jobs) AS j
CROSS JOIN LATERAL (SELECT now() - (1 - j::float8 / :jobs) * interval '365 days' AS t) AS c
CROSS JOIN LATERAL (SELECT (ARRAY[10, 10, 10, 10, 10, 3, 12, 13, 8, 1])[1 + (hashint4(j + f.n) & 1023) % 10] AS status) AS s;

\echo history
INSERT INTO modelarts.visualization_job_history (source, job_id, status, job_name, job_desc, service_url, train_url,
    duration_ms, valid_from, valid_to)
SELECT source, job_id, CASE WHEN job_id % 3 = 0 THEN 8 ELSE status END, job_name, job_desc, service_url, train_url,
       duration_ms, create_time, CASE WHEN job_id % 3 = 0 THEN create_time + interval '2 hours' ELSE deleted_at END
FROM modelarts.visualization_jobs;
INSERT INTO modelarts.visualization_job_history (source, job_id, status, job_name, job_desc, service_url, train_url,
    duration_ms, valid_from, valid_to)
SELECT source, job_id, status, job_name, job_desc, service_url, train_url, duration_ms,
       create_time + interval '2 hours', deleted_at
FROM modelarts.visualization_jobs
WHERE job_id % 3 = 0;

-- A few deletion candidates on the churning sources.
INSERT INTO modelarts.deletion_candidates (source, job_id, first_missed_at, first_missed_run_id, walks_missed)
SELECT f.source, j, now() - interval '20 minutes', 1, 2
FROM fleet AS f CROSS JOIN generate_series(1, 3) AS j
WHERE f.churning;

-- The per-source figures, as migration 00017 fills them from what is there.
\echo figures
SET session_replication_role = DEFAULT;
TRUNCATE modelarts.source_job_counts, modelarts.source_created_days, modelarts.sync_run_counts, modelarts.source_sync_state;
INSERT INTO modelarts.source_job_counts (source, status, deleted, duration_bucket, jobs)
SELECT source, status, deleted_at IS NOT NULL, modelarts.job_duration_bucket(duration_ms, deleted_at), count(*)
FROM modelarts.visualization_jobs
GROUP BY 1, 2, 3, 4;
INSERT INTO modelarts.source_created_days (source, day, jobs)
SELECT source, (create_time AT TIME ZONE 'UTC')::date, count(*)
FROM modelarts.visualization_jobs
WHERE create_time IS NOT NULL
GROUP BY 1, 2;
-- The runs there, and the no-op runs the sparse part left out, as the counts pruning leaves.
INSERT INTO modelarts.sync_run_counts AS c (source, kind, hour, runs, succeeded, partial, failed, changed)
SELECT source, kind, to_timestamp(floor(extract(epoch FROM started_at) / 3600) * 3600),
       count(*), count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state = 'partial'),
       count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state <> 'running' AND jobs_inserted + jobs_updated + jobs_deleted > 0)
FROM modelarts.sync_runs
GROUP BY 1, 2, 3;
INSERT INTO modelarts.sync_run_counts AS c (source, kind, hour, runs, succeeded, partial, failed, changed)
SELECT f.source, k.kind, h, k.per_hour, CASE WHEN f.churning AND k.kind = 'full' THEN 0 ELSE k.per_hour END,
       CASE WHEN f.churning AND k.kind = 'full' THEN k.per_hour ELSE 0 END, 0, 0
FROM fleet AS f
CROSS JOIN generate_series(to_timestamp(floor(extract(epoch FROM now() - (:sparse_days + :dense_days) * interval '1 day') / 3600) * 3600),
                           now() - :dense_days * interval '1 day' - interval '1 hour', interval '1 hour') AS h
CROSS JOIN (VALUES ('full', round(12 * (1 - :full_change - :fail))::int), ('head', round(60 * (1 - :head_change - :fail))::int)) AS k(kind, per_hour)
ON CONFLICT (source, kind, hour) DO UPDATE
    SET runs = c.runs + excluded.runs, succeeded = c.succeeded + excluded.succeeded, partial = c.partial + excluded.partial;

INSERT INTO modelarts.source_sync_state AS s (source, last_full_run_id, last_full_started_at, last_head_run_id,
    last_head_started_at, last_success_run_id, last_success_at, last_any_success_at, last_listed_run_id, last_listed_at,
    last_head_walk_run_id, last_head_walk_at, last_change_run_id, last_change_at, last_error_run_id,
    last_error_at, last_error)
SELECT src.source, f.id, f.started_at, h.id, h.started_at, ok.id, ok.finished_at, anyok.finished_at, li.id, li.finished_at,
       hw.id, hw.finished_at, ch.id, ch.finished_at, err.id, err.finished_at, err.error
FROM fleet AS src
LEFT JOIN LATERAL (SELECT id, started_at FROM modelarts.sync_runs r WHERE r.source = src.source AND r.kind = 'full'
                   ORDER BY started_at DESC, id DESC LIMIT 1) AS f ON true
LEFT JOIN LATERAL (SELECT id, started_at FROM modelarts.sync_runs r WHERE r.source = src.source AND r.kind = 'head'
                   ORDER BY started_at DESC, id DESC LIMIT 1) AS h ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.kind = 'full' AND r.state = 'succeeded'
                   ORDER BY started_at DESC LIMIT 1) AS ok ON true
LEFT JOIN LATERAL (SELECT finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.state = 'succeeded'
                   ORDER BY started_at DESC LIMIT 1) AS anyok ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.listed_every_page
                   ORDER BY started_at DESC LIMIT 1) AS li ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.kind = 'head' AND r.state IN ('succeeded', 'partial')
                   ORDER BY started_at DESC LIMIT 1) AS hw ON true
LEFT JOIN LATERAL (SELECT id, finished_at FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.state <> 'running' AND r.jobs_inserted + r.jobs_updated + r.jobs_deleted > 0
                   ORDER BY started_at DESC LIMIT 1) AS ch ON true
LEFT JOIN LATERAL (SELECT id, finished_at, error FROM modelarts.sync_runs r
                   WHERE r.source = src.source AND r.kind = 'full' AND r.error IS NOT NULL
                   ORDER BY started_at DESC LIMIT 1) AS err ON true;

\echo analyze
VACUUM (ANALYZE) modelarts.sync_runs, modelarts.visualization_jobs, modelarts.visualization_job_history,
    modelarts.source_sync_state, modelarts.sync_run_counts, modelarts.source_job_counts, modelarts.source_created_days,
    modelarts.deletion_candidates;
