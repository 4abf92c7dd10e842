-- Records how a run ended. $1 run id; then state, counts, error text, the deletion queue's figures and
-- whether a walk listed every page ($16). Only a row still 'running': one another process closed as
-- abandoned (this process's session was ended by the lease, and the other took the lock) keeps what
-- that process recorded. The trigger sync_runs_track updates source_sync_state and sync_run_counts.
UPDATE modelarts.sync_runs
SET finished_at     = now(),
    state           = $2::text,
    walks           = $3::integer,
    pages           = $4::integer,
    requests        = $5::integer,
    retries         = $6::integer,
    jobs_seen       = $7::bigint,
    jobs_inserted   = $8::bigint,
    jobs_updated    = $9::bigint,
    jobs_deleted    = $10::bigint,
    bad_items       = $11::bigint,
    api_total_count = $12::bigint,
    error           = $13::text,
    deletion_checks   = $14::integer,
    deletions_pending = $15::bigint,
    listed_every_page = $16::boolean
WHERE id = $1::bigint AND state = 'running'
