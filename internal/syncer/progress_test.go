package syncer_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/syncer"
)

// A long run is visible while it runs: the Progress callback sees pages and
// jobs go up against the total, and the run's ledger row (still 'running')
// carries its pages, requests and jobs seen so far.
func TestProgressIsReportedAndRecordedWhileRunning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "progress", simulator.Options{Jobs: 537, Seed: 7}, fetch.AuthAKSK)
	opts := options(s.name)
	opts.PerPage = 50
	opts.ProgressEvery = time.Nanosecond // every batch
	var mu sync.Mutex
	var seen []syncer.Progress
	type row struct {
		State           string
		Pages, Requests int
		JobsSeen        int64
	}
	var rows []row
	opts.Progress = func(p syncer.Progress) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
		var r row
		if err := f.db.QueryRow(context.Background(), `SELECT state, pages, requests, jobs_seen FROM modelarts.sync_runs WHERE id = $1`,
			p.RunID).Scan(&r.State, &r.Pages, &r.Requests, &r.JobsSeen); err != nil {
			t.Error(err)
		}
		rows = append(rows, r)
	}
	f.mustSync(t, s.client, opts, nil)
	if len(seen) < 2 {
		t.Fatalf("%d progress reports for an 11-page walk, want several", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Pages != 11 || last.PagesTotal != 11 || last.Jobs != 537 || last.Total != 537 || last.Requests < 11 {
		t.Errorf("last progress %+v, want 11 of 11 pages, 537 of 537 jobs", last)
	}
	// The row read during the run lags the callback by at most one batch.
	r := rows[len(rows)-1]
	if r.State != "running" || r.Pages == 0 || r.Requests == 0 || r.JobsSeen == 0 {
		t.Errorf("sync_runs row while running: %+v, want pages, requests and jobs_seen above 0", r)
	}
}

// Without a Progress callback (JSON logs, the daemon), progress is logged,
// and a walk that takes long at the rate limit is announced with what to raise.
func TestProgressIsLoggedAndLongWalksAnnounced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "progress-log", simulator.Options{Jobs: 537, Seed: 7}, fetch.AuthAKSK)
	var logs bytes.Buffer
	opts := options(s.name)
	opts.PerPage = 50
	opts.ProgressLogEvery = time.Nanosecond
	opts.RateLimit = 0.1 // 11 pages: 1m50s
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	f.mustSync(t, s.client, opts, nil)
	out := logs.String()
	for _, want := range []string{`"msg":"sync progress"`, `"pages_total":11`, `"msg":"long walk ahead"`, `"estimate_at_starting_rate":"1m50s"`, `--rate-limit`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

// An interrupted run records the jobs it saw, not 0 beside thousands inserted;
// a run of several walks counts each job once: jobs_inserted <= jobs_seen.
func TestCountersAgreeWhenInterrupted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "interrupted", simulator.Options{Jobs: 537, Seed: 7}, fetch.AuthAKSK)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.sim.OnList(func(c simulator.ListCall) {
		if c.Page == 4 && !c.Desc {
			cancel()
		}
	})
	opts := options(s.name)
	opts.PageConcurrency = 1
	res, err := syncer.Sync(ctx, s.client, f.st, opts)
	if err == nil {
		t.Fatal("the interrupted run succeeded")
	}
	r, err := lastRun(context.Background(), f.db, s.name)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != "failed" || r.Inserted == 0 || r.Seen < r.Inserted || r.Seen != res.JobsSeen {
		t.Errorf("interrupted run recorded %+v (result %+v): want jobs_seen >= jobs_inserted > 0", r, res.RunStats)
	}
}
