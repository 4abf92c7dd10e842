package testdb

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/store/pgadmin"
)

// written fills the tables a test writes to, advances their sequences and leaves a session open that
// holds an advisory lock, as a test that ends without closing its pool would.
const written = `
INSERT INTO modelarts.sync_runs (source, state, finished_at) VALUES ('a', 'running', NULL), ('a', 'failed', now());
INSERT INTO modelarts.visualization_jobs (source, job_id, job_name, job_desc, status, service_url, train_url, raw,
    first_seen_at, last_seen_at, last_changed_at)
VALUES ('a', 1, 'n', '', 7, '', '', '{}', now(), now(), now());
INSERT INTO modelarts.visualization_job_history (source, job_id, status, job_name, job_desc, service_url, train_url, valid_from, sync_run_id)
VALUES ('a', 1, 7, 'n', '', '', '', now(), 1);
SELECT pg_advisory_lock(42);`

// A database a test wrote rows to, with a session still open, is reset to what a fresh copy of
// the template is: no rows but the seeded ones, sequences unused, statistics empty (where the role may
// reset them), nobody connected.
func TestPooledDatabaseResetToFresh(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin, url, fresh := freshCopy(t)
	name := databaseOf(t, url)
	if len(fresh.seeded) != 3 {
		t.Errorf("seeded tables of a fresh copy: %v, want job_statuses, goose_db_version and River's river_migration", slices.Sorted(maps.Keys(fresh.seeded)))
	}

	left, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer left.Close(context.Background())
	if _, err := left.Exec(ctx, written); err != nil {
		t.Fatal(err)
	}
	if err := resetPooled(ctx, admin, url, name, fresh); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := left.Ping(ctx); err == nil {
		t.Error("the session left open still answers after the reset")
	}

	after, err := readState(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if after.fingerprint != fresh.fingerprint || !maps.Equal(after.seeded, fresh.seeded) || !maps.EqualFunc(after.sequences, fresh.sequences, sameLast) {
		t.Errorf("after the reset: %+v, want a fresh copy's %+v", after, fresh)
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var rows, runID, inserted int64
	if err := c.QueryRow(ctx, `SELECT (SELECT count(*) FROM modelarts.sync_runs) + (SELECT count(*) FROM modelarts.visualization_jobs)
		+ (SELECT count(*) FROM modelarts.visualization_job_history)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `INSERT INTO modelarts.sync_runs (source, state) VALUES ('b', 'running') RETURNING id`).Scan(&runID); err != nil {
		t.Fatal(err)
	}
	var statsReset bool // only a superuser, or a role granted pg_stat_reset, resets them
	if err := c.QueryRow(ctx, `SELECT coalesce(sum(n_tup_ins), 0), has_function_privilege('pg_stat_reset()', 'EXECUTE')
		FROM pg_stat_user_tables WHERE relname <> 'sync_runs'`).Scan(&inserted, &statsReset); err != nil {
		t.Fatal(err)
	}
	if !statsReset {
		t.Logf("role may not reset statistics: %d rows inserted by the earlier test still counted", inserted)
		inserted = 0
	}
	if rows != 0 || runID != 1 || inserted != 0 {
		t.Errorf("after the reset: %d rows in the job and run tables, the next run id %d, %d rows inserted in statistics; want 0, 1, 0", rows, runID, inserted)
	}
	var locked bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock(42)`).Scan(&locked); err != nil || !locked {
		t.Errorf("the advisory lock of the session left open is still held (%v)", err)
	}
}

// A database whose definition or seeded rows a test changed is not reused: the reset says what
// changed, and the pool drops the database instead.
func TestPooledDatabaseChangedIsNotReused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql, want string
	}{
		{name: "column added", sql: `ALTER TABLE modelarts.sync_runs ADD COLUMN x integer`, want: "definition changed"},
		{name: "view replaced", sql: `CREATE OR REPLACE VIEW modelarts.jobs_current AS SELECT * FROM modelarts.jobs_current WHERE false`, want: "definition changed"},
		{name: "grant", sql: `GRANT SELECT ON modelarts.visualization_jobs TO PUBLIC`, want: "definition changed"},
		{name: "comment", sql: `COMMENT ON TABLE modelarts.sync_runs IS 'changed'`, want: "definition changed"},
		{name: "database setting", sql: `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = ''8MB''', current_database()); END $$`, want: "definition changed"},
		{name: "seeded rows", sql: `UPDATE modelarts.job_statuses SET meaning = meaning || '.' WHERE code = 7`, want: "rows of modelarts.job_statuses changed"},
		{name: "migration undone", sql: `DELETE FROM goose_db_version WHERE id = (SELECT max(id) FROM goose_db_version)`, want: "rows of goose_db_version changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			admin, url, fresh := freshCopy(t)
			if err := pgadmin.Exec(ctx, url, tc.sql); err != nil {
				t.Fatal(err)
			}
			err := resetPooled(ctx, admin, url, databaseOf(t, url), fresh)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("reset: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// Tests that run one after the other share a pooled database, and each finds it empty.
func TestPoolHandsBackTheDatabaseEmpty(t *testing.T) { // not parallel: no other test takes the database in between
	var first string
	t.Run("writes", func(t *testing.T) {
		first = NewMigrated(t)
		if err := pgadmin.Exec(t.Context(), first, written); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reads", func(t *testing.T) {
		url := NewMigrated(t)
		if url != first {
			t.Errorf("second test got %s, want the first's database back: %s", url, first)
		}
		s, err := pgadmin.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		var rows int64
		if err := s.QueryRow(t.Context(), []any{&rows}, `SELECT count(*) FROM modelarts.sync_runs`); err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Errorf("%d runs in the database handed back, want 0", rows)
		}
	})
}

// freshCopy creates a copy of the migrated template for t, outside the pool, and reads its state.
func freshCopy(t *testing.T) (admin, url string, fresh *state) {
	t.Helper()
	admin = AdminURL(t)
	tmpl, err := migratedTemplate(admin)
	if err != nil {
		t.Fatal(err)
	}
	url = create(t, admin, tmpl)
	if fresh, err = readState(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	return admin, url, fresh
}

func databaseOf(t *testing.T, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

func sameLast(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
