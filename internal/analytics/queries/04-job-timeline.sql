-- What happened to one job, and how long did it spend in each status?
-- Every version of the job, oldest first; here the job with the most versions (for yours: WHERE source =
-- '...' AND job_id = ...). Times are when a sync saw each change, so they are as precise as the sync
-- schedule; the current version lasts until now. Status periods with renames merged:
-- job_status_spells.
SELECT version_number, status_name, job_name, valid_from, valid_to,
       date_trunc('second', time_in_version) AS time_in_version, ended_by
FROM modelarts.job_status_history
WHERE (source, job_id) = (SELECT source, job_id FROM modelarts.visualization_job_history
                          GROUP BY source, job_id
                          ORDER BY count(*) DESC, source, job_id
                          LIMIT 1)
ORDER BY version_number;
