package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/testdb"
)

// Restarting the demo on the same database must not rewrite the recorded
// history: the simulator resumes from the jobs the database holds, so the
// first sync after a restart finds nothing changed (with no churn), and no
// job's status ever goes back to one it had left.
func TestDemoRestartKeepsHistory(t *testing.T) {
	db := testdb.New(t)
	env := map[string]string{"INDEXER_DATABASE_URL": db, "INDEXER_LOG_FORMAT": "json", "INDEXER_RATE_LIMIT": "0"}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// demo runs the demo until its source has `runs` finished runs.
	demo := func(runs int, args ...string) string {
		t.Helper()
		dctx, cancel := context.WithCancel(ctx)
		var out, errb lockedBuffer
		done := make(chan int)
		go func() {
			done <- Main(dctx, append([]string{"demo", "--http-addr", "127.0.0.1:0", "--jobs", "120", "--schedule", "@every 1s"}, args...),
				&out, &errb, func(k string) string { return env[k] })
		}()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var n int
			_ = conn.QueryRow(ctx, `SELECT count(*) FROM modelarts.sync_runs WHERE source = 'demo' AND state <> 'running'`).Scan(&n)
			if n >= runs {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("demo: %d runs after 60 s\nstdout: %s\nstderr: %s", n, out.String(), errb.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("demo: exit %d\nstderr: %s", code, errb.String())
		}
		return out.String()
	}

	first := demo(3, "--churn", "3") // history moves on for a few runs
	if !strings.Contains(first, "120 jobs generated") {
		t.Errorf("first start: guide lacks %q:\n%s", "120 jobs generated", first)
	}
	var before int
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM modelarts.sync_runs WHERE source = 'demo'`).Scan(&before)

	second := demo(before+1, "--churn", "0")
	if !strings.Contains(second, "resumed from the database") {
		t.Errorf("restart: guide lacks %q:\n%s", "resumed from the database", second)
	}
	var inserted, updated, deleted int64
	if err := conn.QueryRow(ctx, `SELECT jobs_inserted, jobs_updated, jobs_deleted FROM modelarts.sync_runs
		WHERE source = 'demo' ORDER BY id OFFSET $1 LIMIT 1`, before).Scan(&inserted, &updated, &deleted); err != nil {
		t.Fatal(err)
	}
	if inserted != 0 || updated != 0 || deleted != 0 {
		t.Errorf("first run after the restart: inserted %d, updated %d, deleted %d; want nothing changed", inserted, updated, deleted)
	}
	// Durations only grow (churn adds to them): a version whose duration is
	// below its predecessor's is history going backwards.
	var back int
	if err := conn.QueryRow(ctx, backwardsSQL).Scan(&back); err != nil {
		t.Fatal(err)
	}
	if back != 0 {
		t.Errorf("%d history versions went backwards (duration below the previous version's)", back)
	}
}

// backwardsSQL counts the versions of a job whose duration is below the previous version's.
const backwardsSQL = `
	SELECT count(*) FROM (
		SELECT duration_ms < lag(duration_ms) OVER (PARTITION BY source, job_id ORDER BY valid_from) AS back
		FROM modelarts.visualization_job_history) v
	WHERE back`
