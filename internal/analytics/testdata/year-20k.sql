-- A synthetic year of 20 000 jobs over three sources, for timing the views (EXPLAIN ANALYZE) and trying
-- trend analyses on them. Run it in a database migrated with `indexer migrate up` and no jobs:
--
--   psql "$DB" -v ON_ERROR_STOP=1 -f internal/analytics/testdata/year-20k.sql
--
-- Each job is created at a random time of the last 365 days and first seen up to 30 minutes later,
-- waiting; it runs after a wait of up to 4 hours, for up to 20 hours (a fifth are renamed while
-- running), then completes (80 %), fails (15 %) or is killed (5 %); a tenth are deleted a day after they
-- end. Versions that would start in the future are left out. setseed makes it the same every time.
SELECT setseed(0.28);

CREATE TEMP TABLE gen AS
SELECT g                                                            AS job_id,
       (ARRAY['alpha', 'beta', 'gamma'])[1 + g % 3]                 AS source,
       c                                                            AS created,
       c + random() * interval '30 minutes'                         AS seen,
       random() * interval '4 hours'                                AS wait,
       random() * interval '20 hours'                               AS run,
       random() < 0.2                                               AS renamed,
       CASE WHEN r < 0.80 THEN 10 WHEN r < 0.95 THEN 11 ELSE 12 END AS final_status,
       random() < 0.1                                               AS deleted
FROM (SELECT g, now() - random() * interval '365 days' AS c, random() AS r
      FROM generate_series(1, 20000) AS g) AS s;

CREATE TEMP TABLE gen_versions AS
SELECT * FROM (
    SELECT source, job_id, 7 AS status, 'job-' || job_id AS job_name, seen AS valid_from FROM gen
    UNION ALL
    SELECT source, job_id, 8, 'job-' || job_id, seen + wait FROM gen
    UNION ALL
    SELECT source, job_id, 8, 'job-' || job_id || '-v2', seen + wait + run / 2 FROM gen WHERE renamed
    UNION ALL
    SELECT source, job_id, final_status, CASE WHEN renamed THEN 'job-' || job_id || '-v2' ELSE 'job-' || job_id END,
           seen + wait + run FROM gen
) AS v
WHERE valid_from < now();

INSERT INTO modelarts.visualization_jobs
    (source, job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url, raw,
     first_seen_at, last_seen_at, last_changed_at, deleted_at)
SELECT g.source, g.job_id, last.job_name, '', last.status, g.created,
       (extract(epoch FROM least(now() - (g.seen + g.wait), g.run)) * 1000)::bigint,
       '', '/bucket/', '{}', g.seen, last.valid_from, last.valid_from,
       CASE WHEN g.deleted AND g.seen + g.wait + g.run + interval '1 day' < now()
            THEN g.seen + g.wait + g.run + interval '1 day' END
FROM gen AS g
CROSS JOIN LATERAL (SELECT v.job_name, v.status, v.valid_from FROM gen_versions AS v
                    WHERE v.source = g.source AND v.job_id = g.job_id
                    ORDER BY v.valid_from DESC LIMIT 1) AS last;

INSERT INTO modelarts.visualization_job_history
    (source, job_id, status, job_name, job_desc, service_url, train_url, duration_ms, valid_from, valid_to, create_time)
SELECT v.source, v.job_id, v.status, v.job_name, '', '', '/bucket/', j.duration_ms, v.valid_from,
       coalesce(lead(v.valid_from) OVER w, j.deleted_at), j.create_time
FROM gen_versions AS v
JOIN modelarts.visualization_jobs AS j ON j.source = v.source AND j.job_id = v.job_id
WINDOW w AS (PARTITION BY v.source, v.job_id ORDER BY v.valid_from);

INSERT INTO modelarts.sync_runs (source, state, kind, started_at, finished_at)
SELECT s, 'succeeded', 'full', now() - interval '5 minutes', now() - interval '4 minutes'
FROM unnest(ARRAY['alpha', 'beta', 'gamma']) AS s;

ANALYZE modelarts.visualization_jobs, modelarts.visualization_job_history, modelarts.sync_runs;
SELECT (SELECT count(*) FROM modelarts.visualization_jobs) AS jobs,
       (SELECT count(*) FROM modelarts.visualization_job_history) AS versions;
