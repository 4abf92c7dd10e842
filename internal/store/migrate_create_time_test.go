package store

import "testing"

// Migration 00007 stores as null the create_time that earlier versions stored as the epoch when the API
// sent none, and clears those jobs' fingerprints so that the next sync compares them in full.
func TestMigrationNullsEpochCreateTime(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	for { // down to version 6, whatever came after 7
		r, err := s.MigrateDown(ctx)
		if err != nil || r.Version < 7 {
			t.Fatalf("MigrateDown = %+v, %v; want down to version 6", r, err)
		}
		if r.Version == 7 {
			break
		}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO modelarts.visualization_jobs
		    (source, job_id, job_name, job_desc, status, create_time, service_url, train_url, raw,
		     content_sha256, first_seen_at, last_seen_at, last_changed_at)
		VALUES ('m', 1, 'epoch', '', 8, 'epoch', '', '', '{}', '\x01', now(), now(), now()),
		       ('m', 2, 'real', '', 8, '2026-11-29 10:00+00', '', '', '{}', '\x02', now(), now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs
		WHERE job_id = 1 AND create_time IS NULL AND content_sha256 IS NULL`); n != 1 {
		t.Errorf("job stored at the epoch: not null after the migration")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM modelarts.visualization_jobs
		WHERE job_id = 2 AND create_time = '2026-11-29 10:00+00' AND content_sha256 = '\x02'`); n != 1 {
		t.Errorf("job with a real create_time changed by the migration")
	}
}
