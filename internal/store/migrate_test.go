package store

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/vizjob/indexer/migrations"
)

func TestMigrateRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := t.Context()

	pending, err := s.MigrationsPending(ctx)
	if err != nil || !pending {
		t.Fatalf("MigrationsPending on an empty database = %v, %v; want true", pending, err)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) < 3 {
		t.Fatalf("migration files: %v, %v", files, err)
	}
	n := len(files)
	up, err := s.MigrateUp(ctx)
	if err != nil {
		t.Fatalf("MigrateUp: %v", err)
	}
	if len(up) != n {
		t.Fatalf("MigrateUp applied %d migrations, want %d: %v", len(up), n, up)
	}
	for i, r := range up {
		// In version order; numbers may have gaps (reserved for other branches).
		if (i > 0 && r.Version <= up[i-1].Version) || !strings.HasPrefix(r.Name, fmt.Sprintf("%05d_", r.Version)) ||
			r.Direction != "up" || !strings.HasSuffix(r.Name, ".sql") {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if pending, err := s.MigrationsPending(ctx); err != nil || pending {
		t.Fatalf("MigrationsPending after up = %v, %v; want false", pending, err)
	}
	if again, err := s.MigrateUp(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second MigrateUp = %v, %v; want nothing to do", again, err)
	}

	status, err := s.MigrateStatus(ctx)
	if err != nil {
		t.Fatalf("MigrateStatus: %v", err)
	}
	if len(status) != n {
		t.Fatalf("MigrateStatus: %d migrations, want %d", len(status), n)
	}
	for _, m := range status {
		if !m.Applied || m.AppliedAt.IsZero() || !strings.Contains(m.String(), m.Name) {
			t.Errorf("status %+v (%s): want applied with a time", m, m)
		}
	}

	for i := len(status) - 1; i >= 0; i-- { // versions may have gaps (numbers reserved for other branches)
		want := status[i].Version
		r, err := s.MigrateDown(ctx)
		if err != nil {
			t.Fatalf("MigrateDown: %v", err)
		}
		if r.Version != want || r.Direction != "down" {
			t.Fatalf("MigrateDown rolled back %+v, want version %d", r, want)
		}
	}
	if _, err := s.MigrateDown(ctx); !errors.Is(err, ErrNothingToRollBack) {
		t.Fatalf("MigrateDown with nothing applied: %v, want ErrNothingToRollBack", err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM pg_namespace WHERE nspname = 'modelarts'`); n != 0 {
		t.Fatalf("schema modelarts still exists after rolling everything back")
	}
	status, err = s.MigrateStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(status, func(m MigrationStatus) bool { return m.Applied }) {
		t.Fatalf("status after down: %v", status)
	}

	if up, err := s.MigrateUp(ctx); err != nil || len(up) != n {
		t.Fatalf("MigrateUp after down = %v, %v", up, err)
	}
}

// The schema names are a public contract (docs/schema.md): check them, and that BI tools get a comment on
// every table and column.
func TestSchemaContract(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	want := map[string][]string{
		"visualization_jobs": {"source", "job_id", "job_name", "job_desc", "status", "create_time", "duration_ms",
			"service_url", "train_url", "resource_id", "raw", "first_seen_at", "last_seen_at", "last_changed_at", "deleted_at"},
		"visualization_job_history": {"source", "job_id", "status", "job_name", "job_desc", "service_url", "train_url",
			"duration_ms", "valid_from", "valid_to", "sync_run_id"},
		"sync_runs": {"id", "source", "started_at", "finished_at", "state", "jobs_seen", "jobs_inserted",
			"jobs_updated", "jobs_deleted", "api_total_count", "error"},
		"job_statuses": {"code", "name", "meaning", "is_final", "status_group"},
	}
	for table, cols := range want {
		for _, c := range cols {
			n := queryInt(t, s, `SELECT count(*) FROM information_schema.columns
				WHERE table_schema = 'modelarts' AND table_name = $1 AND column_name = $2`, table, c)
			if n != 1 {
				t.Errorf("column modelarts.%s.%s missing", table, c)
			}
		}
	}

	rows, err := s.pool.Query(t.Context(), `
		SELECT c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'modelarts' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL
		UNION ALL
		SELECT c.relname || '.' || a.attname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = 'modelarts' AND c.relkind = 'r' AND col_description(c.oid, a.attnum) IS NULL
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		t.Errorf("no COMMENT on modelarts.%s", name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestJobStatusesSeeded(t *testing.T) {
	t.Parallel()
	s := migratedStore(t)
	rows, err := s.pool.Query(t.Context(), `SELECT code, name, meaning, is_final FROM modelarts.job_statuses ORDER BY code`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	final := map[int]bool{3: true, 5: true, 6: true, 10: true, 11: true, 12: true, 13: true, 14: true,
		16: true, 17: true, 21: true, 22: true}
	names := map[int]string{0: "JOBSTAT_UNKNOWN", 8: "JOBSTAT_RUNNING", 10: "JOBSTAT_COMPLETED",
		20: "JOBSTAT_CHECK_RUNNING_COMPLETED", 22: "MOUNT_FAILED"}
	next := 0
	for rows.Next() {
		var (
			code          int
			name, meaning string
			isFinal       bool
		)
		if err := rows.Scan(&code, &name, &meaning, &isFinal); err != nil {
			t.Fatal(err)
		}
		if code != next {
			t.Fatalf("codes not 0..22 in order: got %d, want %d", code, next)
		}
		next++
		if isFinal != final[code] {
			t.Errorf("status %d %s: is_final = %v", code, name, isFinal)
		}
		if want, ok := names[code]; ok && name != want {
			t.Errorf("status %d: name %q, want %q", code, name, want)
		}
		if meaning == "" || (code != 22 && !strings.HasPrefix(name, "JOBSTAT_")) {
			t.Errorf("status %d: name %q, meaning %q", code, name, meaning)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if next != 23 {
		t.Fatalf("%d statuses, want 23", next)
	}
}

// A copy of testdb's migrated template is what MigrateUp leaves on an empty database: nothing is
// pending, and the schema (tables, columns, indexes, views, functions, extensions) is the same.
func TestMigratedTemplateIsCurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fromTemplate := migratedStore(t)
	if pending, err := fromTemplate.MigrationsPending(ctx); err != nil || pending {
		t.Fatalf("MigrationsPending on the template's copy = %v, %v; want false", pending, err)
	}
	if up, err := fromTemplate.MigrateUp(ctx); err != nil || len(up) != 0 {
		t.Fatalf("MigrateUp on the template's copy = %v, %v; want nothing to do", up, err)
	}
	migrated := openStore(t)
	if _, err := migrated.MigrateUp(ctx); err != nil {
		t.Fatalf("MigrateUp: %v", err)
	}
	const schema = `
		SELECT coalesce(string_agg(d, E'\n' ORDER BY d), '') FROM (
		  SELECT format('column %s.%s.%s %s %s %s', table_schema, table_name, column_name, data_type, is_nullable, column_default) AS d
		    FROM information_schema.columns WHERE table_schema IN ('public', 'modelarts')
		  UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname IN ('public', 'modelarts')
		  UNION ALL SELECT format('view %s.%s %s', schemaname, viewname, definition) FROM pg_views WHERE schemaname IN ('public', 'modelarts')
		  UNION ALL SELECT format('function %s %s', p.oid::regprocedure, md5(p.prosrc)) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'modelarts'
		  UNION ALL SELECT 'extension ' || extname FROM pg_extension
		  UNION ALL SELECT format('version %s %s', version_id, is_applied) FROM vizjob_goose_db_version
		) AS s`
	var want, got string
	if err := migrated.pool.QueryRow(ctx, schema).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if err := fromTemplate.pool.QueryRow(ctx, schema).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want || want == "" {
		t.Errorf("the template's copy differs from a database MigrateUp migrated:\ntemplate:\n%s\nMigrateUp:\n%s", got, want)
	}
}
