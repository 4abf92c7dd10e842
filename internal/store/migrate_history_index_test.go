package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// historyIndexes lists the indexes of visualization_job_history on valid_from first, each as
// "name(columns) valid" or "... INVALID".
func historyIndexes(t *testing.T, s *Store) string {
	t.Helper()
	var out string
	err := s.pool.QueryRow(t.Context(), `
		SELECT coalesce(string_agg(format('%s(%s) %s', c.relname,
		           (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
		            JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
		           CASE WHEN i.indisvalid THEN 'valid' ELSE 'INVALID' END), ' ' ORDER BY c.relname), '')
		FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'modelarts.visualization_job_history'::regclass AND c.relname LIKE '%valid_from%'
		  AND c.relname NOT IN ('visualization_job_history_job_valid_from_idx', 'visualization_job_history_status_valid_from_idx')`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStatusChangesReadTheNewestVersionsFromAnIndex: migration 00022 replaces the index on
// visualization_job_history (valid_from) by one on (valid_from, id), so that the status page's status
// changes (ORDER BY valid_from DESC, id DESC LIMIT n) are a backward index scan with no sort, however
// many versions share a valid_from (every job of a page does). Down puts the old index back. A
// concurrent build that fails (here: on the lock_timeout, while an older snapshot is held) names the
// session it waited for and leaves an INVALID index, which the next migrate up drops and builds again
// rather than taking it for a built one.
func TestStatusChangesReadTheNewestVersionsFromAnIndex(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	ctx := t.Context()
	const migrated = "visualization_job_history_valid_from_id_idx(valid_from,id) valid"
	if got := historyIndexes(t, s); got != migrated {
		t.Fatalf("indexes on valid_from after migrate up: %q, want %q", got, migrated)
	}

	// 4 000 jobs seen by pages of 100 (each page's first versions share their valid_from), a quarter
	// of them changed status since, by pages of 100 too.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO modelarts.visualization_jobs (source, job_id, job_name, job_desc, status, service_url, train_url,
		    raw, first_seen_at, last_seen_at, last_changed_at)
		SELECT 'p', j, 'job ' || j, '', CASE WHEN j % 4 = 0 THEN 10 ELSE 8 END, '', '', '{}', now(), now(), now()
		FROM generate_series(1, 4000) AS j;
		INSERT INTO modelarts.visualization_job_history (source, job_id, status, job_name, job_desc, service_url, train_url,
		    valid_from, valid_to)
		SELECT 'p', j, 8, 'job ' || j, '', '', '', '2026-01-01'::timestamptz + (j / 100) * interval '5 minutes',
		       CASE WHEN j % 4 = 0 THEN '2026-02-01'::timestamptz + (j / 400) * interval '5 minutes' END
		FROM generate_series(1, 4000) AS j;
		INSERT INTO modelarts.visualization_job_history (source, job_id, status, job_name, job_desc, service_url, train_url,
		    valid_from)
		SELECT 'p', j, 10, 'job ' || j, '', '', '', '2026-02-01'::timestamptz + (j / 400) * interval '5 minutes'
		FROM generate_series(4, 4000, 4) AS j;
		ANALYZE modelarts.visualization_jobs, modelarts.visualization_job_history`); err != nil {
		t.Fatal(err)
	}
	plan := explainStatusChanges(t, s)
	if !strings.Contains(plan, "Index Scan Backward using visualization_job_history_valid_from_id_idx on visualization_job_history h") ||
		strings.Contains(plan, "Sort") {
		t.Errorf("status changes: want a backward scan of visualization_job_history_valid_from_id_idx and no sort, got\n%s", plan)
	}
	rep, err := s.StatusReport(ctx, StatusOptions{Changes: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.StatusChanges) != 5 || rep.StatusChanges[0].JobID != 4000 || rep.StatusChanges[4].JobID != 3984 {
		t.Errorf("status changes: %+v, want jobs 4000, 3996, ..., 3984 (the newest versions, by id within a valid_from)", rep.StatusChanges)
	}

	for { // down to version 21, whatever came after 22
		r, err := s.MigrateDown(ctx)
		if err != nil || r.Version < 22 {
			t.Fatalf("MigrateDown = %+v, %v; want down to version 21", r, err)
		}
		if r.Version == 22 {
			break
		}
	}
	if got, want := historyIndexes(t, s), "visualization_job_history_valid_from_idx(valid_from) valid"; got != want {
		t.Errorf("indexes on valid_from after migrate down: %q, want %q", got, want)
	}

	// A session that holds a snapshot older than the build (a long report, a repeatable read
	// transaction such as pg_dump's), whatever it reads: the concurrent build waits for it, up to the
	// migration's lock_timeout (the server's wait, not a sleep), then fails and says who it waited for.
	u, err := url.Parse(s.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "nightly-report")
	u.RawQuery = q.Encode()
	report, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer report.Close(context.Background())
	tx, err := report.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	_, err = s.MigrateUp(ctx)
	if err == nil {
		t.Fatal("migrate up built the index while an older snapshot was held")
	}
	t.Logf("migrate up: %v", err)
	for _, want := range []string{"00022_", "lock timeout", fmt.Sprintf("pid %d", pid), `application "nightly-report"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	left := "visualization_job_history_valid_from_id_idx(valid_from,id) INVALID visualization_job_history_valid_from_idx(valid_from) valid"
	if got := historyIndexes(t, s); got != left {
		t.Fatalf("indexes after the failed build: %q, want %q", got, left)
	}

	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := historyIndexes(t, s); got != migrated {
		t.Errorf("indexes on valid_from after migrate up over an invalid leftover: %q, want %q", got, migrated)
	}
	if plan := explainStatusChanges(t, s); strings.Contains(plan, "Sort") {
		t.Errorf("status changes after migrating again: a sort in\n%s", plan)
	}
}

// explainStatusChanges returns the plan of the status page's status changes (10 of them).
func explainStatusChanges(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "EXPLAIN (COSTS OFF) "+statusChangesSQL, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
