package store

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Migration 00010 makes the status groups a column of job_statuses: every documented code keeps the
// group the view's CASE gave it, job_status_groups answers the same before and after (and after the
// migration is rolled back), and the column refuses a group that is not one of the eight.
func TestMigrationStatusGroupColumn(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	want := map[int]string{
		0: "unknown", 1: "pending", 2: "pending", 3: "failed", 4: "pending", 5: "failed", 6: "failed",
		7: "pending", 8: "running", 9: "stopping", 10: "completed", 11: "failed", 12: "stopped",
		13: "stopped", 14: "failed", 15: "scaling", 16: "failed", 17: "failed", 18: "pending",
		19: "pending", 20: "pending", 21: "failed", 22: "failed",
	}
	groups := func(sql string) map[int]string {
		t.Helper()
		rows, err := s.pool.Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		defer rows.Close()
		got := map[int]string{}
		for rows.Next() {
			var code int
			var group string
			if err := rows.Scan(&code, &group); err != nil {
				t.Fatal(err)
			}
			got[code] = group
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(when, sql string) {
		t.Helper()
		got := groups(sql)
		for _, code := range slices.Sorted(maps.Keys(want)) {
			if got[code] != want[code] {
				t.Errorf("%s: status %d in group %q, want %q", when, code, got[code], want[code])
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d codes, want %d", when, len(got), len(want))
		}
	}
	// The view's whole rows, to compare before and after the rollback.
	const viewRows = `SELECT string_agg(format('%s', g), E'\n' ORDER BY g.code) FROM modelarts.job_status_groups AS g`
	var before string
	if err := s.pool.QueryRow(ctx, viewRows).Scan(&before); err != nil {
		t.Fatal(err)
	}

	check("column", `SELECT code, status_group FROM modelarts.job_statuses`)
	check("view", `SELECT code, status_group FROM modelarts.job_status_groups`)

	refused := func(what, sqlstate, sql string) {
		t.Helper()
		_, err := s.pool.Exec(ctx, sql)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != sqlstate {
			t.Errorf("%s: %v, want SQLSTATE %s", what, err, sqlstate)
		}
	}
	refused("a group that is not one of the eight", "23514", // check_violation
		`UPDATE modelarts.job_statuses SET status_group = 'runing' WHERE code = 8`)
	refused("a status without a group", "23502", // not_null_violation
		`INSERT INTO modelarts.job_statuses (code, name, meaning, is_final, is_running, is_active)
		 VALUES (99, 'JOBSTAT_NEW', 'A code documented later.', false, false, false)`)

	for { // down to version 9, whatever came after 10
		r, err := s.MigrateDown(ctx)
		if err != nil || r.Version < 10 {
			t.Fatalf("MigrateDown = %+v, %v; want down to version 9", r, err)
		}
		if r.Version == 10 {
			break
		}
	}
	if n := queryInt(t, s, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = 'modelarts' AND table_name = 'job_statuses' AND column_name = 'status_group'`); n != 0 {
		t.Errorf("job_statuses.status_group still exists after rolling 00010 back")
	}
	check("view after rolling 00010 back", `SELECT code, status_group FROM modelarts.job_status_groups`)
	var rolledBack string
	if err := s.pool.QueryRow(ctx, viewRows).Scan(&rolledBack); err != nil {
		t.Fatal(err)
	}
	if rolledBack != before {
		t.Errorf("job_status_groups differs after rolling 00010 back:\n%s\nwant:\n%s", rolledBack, before)
	}

	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	check("view migrated again", `SELECT code, status_group FROM modelarts.job_status_groups`)
}
