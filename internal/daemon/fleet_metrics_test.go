package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
	"github.com/vizjob/indexer/internal/testdb"
)

// fleetSources are n source names of the given length (a project id is 32 characters).
func fleetSources(n, length int) []string {
	out := make([]string, n)
	for i := range out {
		name := fmt.Sprintf("src-%d", i)
		out[i] = name + strings.Repeat("x", max(length-len(name), 0))
	}
	return out
}

// TestMetricsCompactAtFleetScale: with the default (no INDEXER_METRICS_DETAIL), /metrics for 1 000
// sources with 24-character names, each with runs, jobs in several statuses and deletion candidates,
// stays under 1 MB, with 11 series a source; and when the database stops answering, the figures last
// read are still reported, with vizjob_database_up 0 and their age, not dropped.
func TestMetricsCompactAtFleetScale(t *testing.T) {
	t.Parallel()
	const n = 1000
	db := testdb.NewMigrated(t)
	sources := fleetSources(n, 24)
	c := conn(t, db)
	ctx := t.Context()
	// Every source: a full run and a head walk that succeeded, 5 jobs in 3 statuses, a candidate.
	if _, err := c.Exec(ctx, `
		INSERT INTO modelarts.sync_runs (source, kind, state, started_at, finished_at, jobs_inserted, listed_every_page)
		SELECT s, k, 'succeeded', now() - interval '1 minute', now(), 5, k = 'full'
		FROM unnest($1::text[]) AS s, unnest(ARRAY['full', 'head']) AS k`, sources); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `
		INSERT INTO modelarts.visualization_jobs (source, job_id, job_name, job_desc, status, create_time, duration_ms,
		       service_url, train_url, raw, first_seen_at, last_seen_at, last_changed_at)
		SELECT s, j, 'job', '', (ARRAY[8, 10, 3])[j % 3 + 1], now(), 1000, '', '', '{}', now(), now(), now()
		FROM unnest($1::text[]) AS s, generate_series(1, 5) AS j`, sources); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `
		INSERT INTO modelarts.deletion_candidates (source, job_id, first_missed_at, first_missed_run_id)
		SELECT s, 1, now() - interval '1 hour', 1 FROM unnest($1::text[]) AS s`, sources); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, db)
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, st, sources, false, slog.New(slog.DiscardHandler))
	for i, s := range sources { // what the daemon's runs and requests add
		m.request(s, 200)
		m.observe(s, store.KindFull, syncer.Result{RunID: int64(i + 1), RunStats: store.RunStats{State: store.StateSucceeded}}, 2*time.Second)
	}
	body := scrapeRegistry(t, reg)
	perSource := strings.Count(body, `source="`+sources[7]+`"`)
	series := 0
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	t.Logf("/metrics for %d sources: %d bytes, %d series, %d a source", n, len(body), series, perSource)
	if len(body) >= 1<<20 {
		t.Errorf("/metrics for %d sources is %d bytes, want under 1 MiB", n, len(body))
	}
	if perSource != 11 {
		t.Errorf("%d series of source %s, want 11:\n%s", perSource, sources[7], grepLines(body, sources[7]))
	}
	for _, want := range []string{
		`vizjob_live_jobs{source="` + sources[7] + `"} 5`,
		`vizjob_running_jobs{source="` + sources[7] + `"} 1`,
		`vizjob_deletion_candidates{source="` + sources[7] + `"} 1`,
		`vizjob_api_requests_total{code="200"} 1000`,
		"vizjob_database_up 1",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics has no line %q", want)
		}
	}
	if strings.Contains(body, "vizjob_jobs{") {
		t.Errorf("/metrics has vizjob_jobs by status without INDEXER_METRICS_DETAIL")
	}

	// The database goes away: the figures stay, marked stale.
	st.Close()
	m.db.cache.TTL = time.Nanosecond
	body = scrapeRegistry(t, reg)
	for _, want := range []string{"vizjob_database_up 0", `vizjob_live_jobs{source="` + sources[7] + `"} 5`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("with the database gone, /metrics has no line %q", want)
		}
	}
	if !strings.Contains(body, "vizjob_last_success_timestamp_seconds{source=\""+sources[7]+"\"}") ||
		!strings.Contains(body, "vizjob_database_figures_age_seconds ") {
		t.Errorf("with the database gone, the freshness series or their age are missing:\n%s", grepLines(body, "vizjob_database"))
	}
}

func scrapeRegistry(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(body, sub string) string {
	var out bytes.Buffer
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, sub) {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// TestDaemonPrunesLedger: with the default retention, the daemon's pruning (the queue's maintenance job "prune-ledger") deletes the no-op runs
// older than a week and the others older than 90 days, keeps the latest of each source, folds the
// hourly counts of runs of the days older than 90 days into daily ones, and counts what it deleted
// in vizjob_ledger_pruned_runs_total and what it folded in vizjob_ledger_folded_hours_total.
func TestDaemonPrunesLedger(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	c := conn(t, db)
	if _, err := c.Exec(t.Context(), `
		INSERT INTO modelarts.sync_runs (source, kind, state, started_at, finished_at, jobs_updated)
		SELECT 'a', 'head', 'succeeded', now() - d * interval '1 day', now() - d * interval '1 day', CASE WHEN d % 10 = 0 THEN 1 ELSE 0 END
		FROM generate_series(1, 200) AS d`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, simSource("a", "http://127.0.0.1:1", "@every 1h"))
	d, err := New(cfg, openStore(t, db), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.pruneLedger(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Left: days 1-6 (no-op within a week, day 1 the latest), changes on days 10-80 (8 of them); a
	// run ended exactly 7 or 90 days before the test's insert is just past the limit when pruned.
	if n := queryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs`); n != 6+8 {
		t.Errorf("%d runs left after pruning, want 14", n)
	}
	// One run a day, each in an hour of its own: the 110 of days 91-200 are folded, one day each.
	if n := queryInt(t, c, `SELECT count(*) FROM modelarts.sync_run_daily_counts WHERE runs = 1`); n != 110 {
		t.Errorf("%d daily rows of one run after pruning, want 110", n)
	}
	if n := queryInt(t, c, `SELECT (SELECT sum(runs) FROM modelarts.sync_run_counts) + (SELECT sum(runs) FROM modelarts.sync_run_daily_counts)`); n != 200 {
		t.Errorf("the hourly and daily counts hold %d runs after pruning, want the 200 recorded", n)
	}
	body := scrapeRegistry(t, d.reg)
	for _, want := range []string{`vizjob_ledger_pruned_runs_total{kind="noop"} 174`, `vizjob_ledger_pruned_runs_total{kind="other"} 12`,
		`vizjob_ledger_folded_hours_total 110`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics has no line %q:\n%s", want, grepLines(body, "vizjob_ledger_"))
		}
	}
}
