package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/testdb"
)

// Roles are shared by every database of the server, so each test makes names of its own, and drops
// the roles after its database (cleanups run last-registered first: the role cleanup is registered
// before testdb.New's).
func uniqueRoles(t *testing.T, prefixes ...string) []string {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	suffix := "_" + hex.EncodeToString(b[:])
	names := make([]string, len(prefixes))
	for i, p := range prefixes {
		names[i] = p + suffix
	}
	admin := testdb.AdminURL(t)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		for i := len(names) - 1; i >= 0; i-- {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{names[i]}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", names[i], err)
			}
		}
	})
	return names
}

func withUser(t *testing.T, dbURL, user string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)
	return u.String()
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// TestReadOnlyRoleRecipe applies docs/readonly-role.sql as the README says (with this test's role
// names) and checks what a BI login can and cannot do.
func TestReadOnlyRoleRecipe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, dbURL, roles, admin := withRoleRecipe(t)

	// Something the BI login must not see, in another schema.
	exec(t, admin, "CREATE SCHEMA other; CREATE TABLE other.secret (x int); INSERT INTO other.secret VALUES (1)")

	bi := connect(t, withUser(t, dbURL, roles[1]))
	for _, rel := range []string{"jobs_current", "job_status_history", "daily_status_counts", "sync_health",
		"job_status_groups", "visualization_jobs", "visualization_job_history", "sync_runs", "job_statuses"} {
		var n int64
		if err := bi.QueryRow(ctx, "SELECT count(*) FROM modelarts."+rel).Scan(&n); err != nil {
			t.Errorf("BI login cannot read modelarts.%s: %v", rel, err)
		}
	}
	var n int64
	if err := bi.QueryRow(ctx, "SELECT count(*) FROM jobs_current").Scan(&n); err != nil {
		t.Errorf("modelarts is not on the BI login's search_path: %v", err)
	}
	var timeout string
	if err := bi.QueryRow(ctx, "SHOW statement_timeout").Scan(&timeout); err != nil || timeout != "5min" {
		t.Errorf("statement_timeout = %q, %v; want 5min", timeout, err)
	}

	if err := bi.QueryRow(ctx, "SHOW idle_in_transaction_session_timeout").Scan(&timeout); err != nil || timeout != "1min" {
		t.Errorf("idle_in_transaction_session_timeout = %q, %v; want 1min (an idle transaction blocks migrations)", timeout, err)
	}
	// No temporary table, and none of the indexer's advisory locks: a BI session cannot hold a
	// source's lock and make the syncs skip it.
	for _, q := range []string{"SELECT pg_try_advisory_lock(1)",
		"SELECT pg_try_advisory_lock(1, 2)", "SELECT pg_advisory_xact_lock(1)"} {
		if _, err := bi.Exec(ctx, q); sqlState(err) != "42501" {
			t.Errorf("%s as the BI login: %v, want insufficient_privilege (42501)", q, err)
		}
	}
	exec(t, admin, "CREATE TEMP TABLE indexer_staging (x int); SELECT pg_try_advisory_lock(1, 2)")

	writes := []string{
		"INSERT INTO modelarts.job_statuses (code, name, meaning, is_final) VALUES (99, 'X', 'x', false)",
		"UPDATE modelarts.visualization_jobs SET job_name = 'x'",
		"DELETE FROM modelarts.sync_runs",
		"TRUNCATE modelarts.visualization_job_history",
		"CREATE TABLE modelarts.mine (x int)",
		"DROP VIEW modelarts.jobs_current",
		"CREATE TEMP TABLE t (x int)",
	}
	for _, w := range writes { // sessions start read-only
		if _, err := bi.Exec(ctx, w); sqlState(err) != "25006" {
			t.Errorf("%s in a default BI session: %v, want read_only_sql_transaction (25006)", w, err)
		}
	}
	exec(t, bi, "SET default_transaction_read_only = off")
	for _, w := range writes { // and the privileges hold when a session turns that off
		if _, err := bi.Exec(ctx, w); sqlState(err) != "42501" {
			t.Errorf("%s: %v, want insufficient_privilege (42501)", w, err)
		}
	}
	for _, q := range []string{"SELECT count(*) FROM other.secret", "SELECT count(*) FROM public.vizjob_goose_db_version"} {
		if err := bi.QueryRow(ctx, q).Scan(&n); sqlState(err) != "42501" {
			t.Errorf("%s: %v, want insufficient_privilege (42501)", q, err)
		}
	}

	// What later migrations create is readable too: a table made by the migrating role, and views
	// dropped and created again by rolling the last migration back and forth.
	exec(t, admin, "CREATE TABLE modelarts.from_a_later_migration (x int)")
	if _, err := st.MigrateDown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"from_a_later_migration", "jobs_current", "sync_health"} {
		if err := bi.QueryRow(ctx, "SELECT count(*) FROM modelarts."+rel).Scan(&n); err != nil {
			t.Errorf("after a migration, BI login cannot read modelarts.%s: %v", rel, err)
		}
	}
}

// When the migrating role cannot use pg_trgm (here: it is installed in a schema the role may not
// use; elsewhere: not installed on the server, or not allowed by a managed service), migration 00004
// still applies, without the trigram index, and rolls back cleanly.
func TestMigrationWithoutTrigram(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	migrator := uniqueRoles(t, "migrator")[0]
	admin := connect(t, testdb.AdminURL(t))
	exec(t, admin, "CREATE ROLE "+pgx.Identifier{migrator}.Sanitize()+" LOGIN")
	dbURL := testdb.New(t)

	su := connect(t, dbURL)
	var db string
	if err := su.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	exec(t, su, "CREATE SCHEMA locked; CREATE EXTENSION pg_trgm SCHEMA locked")
	// The migrator owns the database (so it may create the schema, and goose's table in public).
	exec(t, su, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO "+pgx.Identifier{migrator}.Sanitize())
	exec(t, su, "GRANT CREATE ON SCHEMA public TO "+pgx.Identifier{migrator}.Sanitize())

	st, err := store.Open(ctx, withUser(t, dbURL, migrator), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatalf("MigrateUp without a usable pg_trgm: %v", err)
	}
	var views, trgm int
	if err := su.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_views WHERE schemaname = 'modelarts'),
		(SELECT count(*) FROM pg_indexes WHERE schemaname = 'modelarts' AND indexname = 'visualization_jobs_job_name_trgm_idx')`).
		Scan(&views, &trgm); err != nil {
		t.Fatal(err)
	}
	if views != len(modelViews) || trgm != 0 {
		t.Errorf("after MigrateUp: %d views (want %d), %d trigram indexes (want 0)", views, len(modelViews), trgm)
	}
	q := Queries()
	for _, query := range q {
		if _, err := st.QueryTable(ctx, query.SQL); err != nil {
			t.Errorf("query %s without the trigram index: %v", query.Name, err)
		}
	}
	for {
		if _, err := st.MigrateDown(ctx); errors.Is(err, store.ErrNothingToRollBack) {
			break
		} else if err != nil {
			t.Fatalf("MigrateDown: %v", err)
		}
	}
	var ext string
	if err := su.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_trgm'`).Scan(&ext); err != nil || ext != "locked" {
		t.Errorf("pg_trgm installed by someone else: %q, %v after rolling back; want it left in schema locked", ext, err)
	}
}

// withRoleRecipe gives a test a migrated database on which docs/readonly-role.sql was applied as the
// README says, with unique names for its two roles (roles[0] the read-only role, roles[1] the BI
// login) and the connecting role as the indexer's: the store, the database's URL, the roles and an
// admin connection.
func withRoleRecipe(t *testing.T) (*store.Store, string, []string, *pgx.Conn) {
	t.Helper()
	ctx := t.Context()
	roles := uniqueRoles(t, "modelarts_reader", "metabase")
	dbURL := testdb.New(t)
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}

	recipe, err := os.ReadFile("../../docs/readonly-role.sql")
	if err != nil {
		t.Fatal(err)
	}
	admin := connect(t, dbURL)
	var migrator string
	if err := admin.QueryRow(ctx, "SELECT current_user").Scan(&migrator); err != nil {
		t.Fatal(err)
	}
	script := string(recipe)
	for name, with := range map[string]string{"modelarts_reader": roles[0], "metabase": roles[1], "indexer": migrator} {
		script = regexp.MustCompile(`\b`+name+`\b`).ReplaceAllString(script, with)
	}
	exec(t, admin, script) // several statements: the simple protocol runs them as psql would
	return st, dbURL, roles, admin
}
