package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/testdb"
)

// A BI session left idle in a transaction that read the history (psycopg2's default) holds a lock a
// migration's DDL needs: the migration gives up after its lock_timeout and names that session, and
// applies once the session is gone. The wait is the server's lock_timeout (10 s), not a sleep.
func TestMigrationNamesTheSessionThatBlocksIt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := testdb.New(t)
	s, err := Open(ctx, dbURL, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Back to before 00013, which adds a column to the history.
	for {
		st, err := s.MigrateStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(st, func(m MigrationStatus) bool { return m.Version == 13 }); i < 0 {
			t.Fatal("no migration 13")
		} else if !st[i].Applied {
			break
		}
		if _, err := s.MigrateDown(ctx); err != nil {
			t.Fatal(err)
		}
	}

	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "bi-dashboard")
	u.RawQuery = q.Encode()
	bi, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer bi.Close(context.Background())
	tx, err := bi.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM modelarts.visualization_job_history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}

	started := time.Now()
	_, err = s.MigrateUp(ctx)
	took := time.Since(started)
	if err == nil {
		t.Fatal("migrate up applied 00013 while a session held a lock on the history")
	}
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
	for _, want := range []string{"00013_", fmt.Sprintf("pid %d", pid), `application "bi-dashboard"`,
		"idle in transaction", "pg_terminate_backend", "indexer migrate up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if took < MigrationLockTimeout || took > MigrationLockTimeout+time.Minute {
		t.Errorf("migrate up gave up after %s, want about the lock_timeout %s", took, MigrationLockTimeout)
	}

	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		t.Fatal(err)
	}
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate up once the session is gone: %v", err)
	}
	// The pool's own sessions keep no lock_timeout.
	var lt string
	if err := s.pool.QueryRow(ctx, "SHOW lock_timeout").Scan(&lt); err != nil || lt != "0" {
		t.Errorf("lock_timeout of the pool's sessions = %q, %v; want 0", lt, err)
	}
}
