package daemon

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/queue"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/testdb"
)

// Two replicas on one database, three sources every second: within 30 s every source is synced many
// times, both replicas take part, and no two runs of one source ever overlap in time.
func TestReplicasNeverOverlap(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	var sources []config.Source
	for i := range 3 {
		// About 0.6 s per run (4 requests of 150 ms): with two replicas ticking every second, runs of
		// one source are attempted while another is in flight.
		_, u := newSimulator(t, 300, int64(i+1), func(h http.Handler) http.Handler {
			return slowHandler(150*time.Millisecond, h)
		})
		sources = append(sources, simSource(fmt.Sprintf("src-%d", i+1), u, "@every 1s"))
	}
	cfg := testConfig(t, sources...)
	cfg.RunAtStart = true
	// Migrated beforehand so that both schedulers start together: "@every" ticks are in phase with
	// the start, and replicas share the work when their ticks coincide (as with wall-clock schedules).
	stA, stB := openStore(t, db), openStore(t, db)
	a := startDaemon(t, cfg, stA, Options{})
	b := startDaemon(t, cfg, stB, Options{})
	c := conn(t, db)
	succeeded := func(source string) int64 {
		return tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE source = $1 AND state = 'succeeded'`, source)
	}
	start := time.Now()
	eventually(t, waitLong, "every source synced at least 5 times, by both replicas", func() bool {
		for _, s := range sources {
			if succeeded(s.Name) < 5 {
				return false
			}
		}
		return a.logs.count(`"msg":"sync ended"`) > 0 && b.logs.count(`"msg":"sync ended"`) > 0
	})
	a.stop(t)
	b.stop(t)
	t.Logf("stopped after %s", time.Since(start).Round(time.Millisecond))

	for _, s := range sources {
		n := succeeded(s.Name)
		t.Logf("%s: %d runs succeeded", s.Name, n)
		if n < 5 {
			t.Errorf("%s: %d runs succeeded in 30 s, want several (at least 5)", s.Name, n)
		}
	}
	if n := queryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE state <> 'succeeded' OR finished_at IS NULL`); n != 0 {
		t.Errorf("%d runs did not succeed or were left unfinished", n)
	}
	overlaps := queryInt(t, c, `
		SELECT count(*) FROM modelarts.sync_runs a JOIN modelarts.sync_runs b
		  ON a.source = b.source AND a.id < b.id
		 AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)`)
	t.Logf("overlapping runs of one source: %d", overlaps)
	if overlaps != 0 {
		t.Errorf("%d pairs of runs of one source overlap in time", overlaps)
	}
	ranA, ranB := a.logs.count(`"msg":"sync ended"`), b.logs.count(`"msg":"sync ended"`)
	skipped := a.logs.count(`"level":"DEBUG"`, "skipped") + b.logs.count(`"level":"DEBUG"`, "skipped")
	t.Logf("replica a ran %d, replica b ran %d, %d runs skipped because the source was busy", ranA, ranB, skipped)
	if ranA == 0 || ranB == 0 {
		t.Errorf("the replicas did not share the work: a ran %d runs, b %d", ranA, ranB)
	}
}

// A source that another replica is syncing is skipped, and that is logged at debug level.
func TestBusySourceSkippedAtDebug(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	st := openStore(t, db)
	_, u := newSimulator(t, 20, 1, nil)
	held, err := st.BeginRun(t.Context(), "busy", store.RunOptions{}) // "another replica"
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, simSource("busy", u, "@every 1s"))
	td := startDaemon(t, cfg, openStore(t, db), Options{})
	// Full walks tick every second and head walks every minute: wait for two full walks skipped,
	// counted (the counter moves after the debug line, and a head walk's skip is another series).
	eventually(t, waitLong, "two full walks skipped and counted", func() bool {
		return scrape(t, td.url)[`vizjob_sync_runs_total{source="busy",state="skipped"}`] >= 2
	})
	if n := td.logs.count(`"level":"DEBUG"`, `"source":"busy"`, `"kind":"full"`, "skipped"); n < 2 {
		t.Errorf("%d skips of a full walk logged at debug, want at least 2:\n%s", n, td.logs)
	}
	if n := td.logs.count(`"level":"WARN"`, "skipped") + td.logs.count(`"level":"ERROR"`); n != 0 {
		t.Errorf("%d warnings or errors logged for a busy source:\n%s", n, td.logs)
	}
	// Once the other run ends, the daemon syncs the source.
	if err := held.Finish(t.Context(), store.RunStats{State: store.StateSucceeded}); err != nil {
		t.Fatal(err)
	}
	c := conn(t, db)
	eventually(t, waitLong, "a run of the daemon", func() bool {
		return tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE source = 'busy' AND state = 'succeeded' AND jobs_seen = 20`) >= 1
	})
}

// Shutdown: a run in flight that outlives the grace period is cancelled and recorded as failed,
// "interrupted by shutdown"; none is left running.
func TestShutdownCancelsRunAfterGrace(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	_, u := newSimulator(t, 1000, 1, func(h http.Handler) http.Handler { return slowHandler(time.Second, h) })
	cfg := testConfig(t, simSource("slow", u, "@every 1h"))
	cfg.RunAtStart = true
	cfg.ShutdownGrace = time.Second
	td := startDaemon(t, cfg, openStore(t, db), Options{Migrate: true})
	c := conn(t, db)
	eventually(t, waitLong, "a run in flight", func() bool {
		return tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE state = 'running'`) == 1
	})
	took := td.stop(t)
	t.Logf("shutdown took %s with a grace of %s", took.Round(time.Millisecond), cfg.ShutdownGrace)
	if took < cfg.ShutdownGrace-100*time.Millisecond || took > cfg.ShutdownGrace+10*time.Second {
		t.Errorf("shutdown took %s, want the grace period (%s) and a little more", took, cfg.ShutdownGrace)
	}
	var state, errText string
	if err := c.QueryRow(t.Context(), `SELECT state, coalesce(error, '') FROM modelarts.sync_runs`).Scan(&state, &errText); err != nil {
		t.Fatal(err)
	}
	t.Logf("run recorded %s: %s", state, errText)
	if state != store.StateFailed || !strings.Contains(errText, "interrupted by shutdown") {
		t.Errorf("run recorded %s, %q; want failed, interrupted by shutdown", state, errText)
	}
	if td.logs.count("grace period over") != 1 {
		t.Errorf("the cancellation is not logged")
	}
}

// Shutdown: a run that ends within the grace period ends normally.
func TestShutdownLetsRunFinishWithinGrace(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	_, u := newSimulator(t, 300, 1, func(h http.Handler) http.Handler { return slowHandler(500*time.Millisecond, h) })
	cfg := testConfig(t, simSource("slowish", u, "@every 1h"))
	cfg.RunAtStart = true
	cfg.ShutdownGrace = 30 * time.Second
	td := startDaemon(t, cfg, openStore(t, db), Options{Migrate: true})
	c := conn(t, db)
	eventually(t, waitLong, "a run in flight", func() bool {
		return tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE state = 'running'`) == 1
	})
	took := td.stop(t)
	t.Logf("shutdown took %s (a run of about 2 s was in flight)", took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if n := queryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE state = 'succeeded' AND jobs_seen = 300`); n != 1 {
		t.Errorf("the run in flight did not finish normally")
	}
}

// /metrics exposes the README's series with their labels; /healthz and / answer.
func TestMetrics(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	var failed atomic.Bool
	sim, u := newSimulator(t, 250, 1, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failed.CompareAndSwap(false, true) { // the first request: busy, retried
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"error_code":"ModelArts.0001","error_msg":"busy"}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	sim2, u2 := newSimulator(t, 10, 2, nil)
	cfg := testConfig(t, simSource("a", u, "@every 1h"), simSource("b", u2, "@every 1h"))
	cfg.RunAtStart = true
	cfg.MetricsDetail = true // the series by source and status; TestMetricsCompact has the default
	td := startDaemon(t, cfg, openStore(t, db), Options{Migrate: true})
	c := conn(t, db)
	eventually(t, waitLong, "both runs", func() bool {
		return tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE state = 'succeeded'`) == 2
	})
	// The counters move just after the ledger: wait for them too.
	var m map[string]float64
	eventually(t, waitLong, "both runs counted", func() bool {
		m = scrape(t, td.url)
		return m[`vizjob_sync_runs_total{source="a",state="succeeded"}`] == 1 && m[`vizjob_sync_runs_total{source="b",state="succeeded"}`] == 1
	})
	var statusSum float64
	for k, v := range m {
		if strings.HasPrefix(k, `vizjob_jobs{source="a",status="`) {
			statusSum += v
		}
	}
	if statusSum != 250 {
		t.Errorf("vizjob_jobs of source a sum to %v, want 250", statusSum)
	}
	if _, ok := m[`vizjob_jobs{source="a",status="8",status_name="JOBSTAT_RUNNING"}`]; !ok {
		t.Errorf("no vizjob_jobs series for running jobs of source a")
	}
	want := map[string]float64{
		`vizjob_sync_runs_total{source="a",state="succeeded"}`:          1,
		`vizjob_sync_runs_total{source="a",state="failed"}`:             0,
		`vizjob_sync_runs_total{source="a",state="partial"}`:            0,
		`vizjob_sync_runs_total{source="a",state="skipped"}`:            0,
		`vizjob_sync_runs_total{source="b",state="succeeded"}`:          1,
		`vizjob_sync_run_duration_seconds_count{source="a"}`:            1,
		`vizjob_sync_run_duration_seconds_bucket{source="a",le="+Inf"}`: 1,
		`vizjob_api_requests_total{code="503",source="a"}`:              1,
		`vizjob_api_requests_total{code="200",source="a"}`:              float64(len(sim.Stats().Requests)),
		`vizjob_api_requests_total{code="200",source="b"}`:              float64(len(sim2.Stats().Requests)),
		`vizjob_api_retries_total{source="a"}`:                          1,
		`vizjob_api_retries_total{source="b"}`:                          0,
		`vizjob_database_up`:                                            1,
		`vizjob_deletion_candidates{source="a"}`:                        0,
		`vizjob_deletion_candidate_oldest_age_seconds{source="b"}`:      0,
		`vizjob_deletions_total{evidence="detail",source="a"}`:          0,
		`vizjob_live_jobs{source="a"}`:                                  250,
		`vizjob_live_jobs{source="b"}`:                                  10,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("no series %s", k)
		} else if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, s := range []string{"a", "b"} {
		for _, name := range []string{"vizjob_last_success_timestamp_seconds", "vizjob_last_listed_timestamp_seconds"} {
			ts := m[name+`{source="`+s+`"}`]
			if age := time.Since(time.Unix(int64(ts), 0)); age < -time.Minute || age > time.Minute {
				t.Errorf("%s of %s is %v (%s ago)", name, s, ts, age)
			}
		}
	}
	if age, ok := m["vizjob_database_figures_age_seconds"]; !ok || age < 0 || age > 60 {
		t.Errorf("vizjob_database_figures_age_seconds = %v (present %v), want the few seconds since the last read", age, ok)
	}
	for _, k := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no series %s (Go and process collectors)", k)
		}
	}
	if t.Failed() {
		_, body := get(t, td.url+"/metrics")
		t.Logf("/metrics:\n%s", body)
	}

	if code, body := get(t, td.url+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, td.url+"/"); code != http.StatusOK || !strings.Contains(body, "/metrics") || !strings.Contains(body, "/readyz") {
		t.Errorf("/: %d %q", code, body)
	}
	if code, _ := get(t, td.url+"/nothing-here"); code != http.StatusNotFound {
		t.Errorf("/nothing-here: %d, want 404", code)
	}
}

// Options.Index serves "/" and below; the daemon's endpoints keep their paths.
func TestIndexHandler(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	_, u := newSimulator(t, 1, 1, nil)
	index := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "status page at "+r.URL.Path) })
	td := startDaemon(t, testConfig(t, simSource("s", u, "@every 1h")), openStore(t, db), Options{Index: index})
	for path, want := range map[string]string{"/": "status page at /", "/runs/1": "status page at /runs/1", "/healthz": "ok"} {
		if code, body := get(t, td.url+path); code != http.StatusOK || strings.TrimSpace(body) != want {
			t.Errorf("%s: %d %q, want %q", path, code, body, want)
		}
	}
}

// /readyz: 503 while migrations are pending, 200 once applied, 503 while the database is unreachable,
// 200 once it is back.
func TestReadyz(t *testing.T) {
	t.Parallel()
	proxy, through := testdb.NewProxy(t, testdb.New(t))
	st := openStore(t, through)
	_, sim := newSimulator(t, 1, 1, nil)
	td := startDaemon(t, testConfig(t, simSource("s", sim, "@every 1h")), st, Options{})

	ready := func(want int, why string) {
		t.Helper()
		var code int
		var body string
		eventually(t, waitLong, fmt.Sprintf("/readyz %d (%s)", want, why), func() bool {
			code, body = get(t, td.url+"/readyz")
			return code == want
		})
		t.Logf("/readyz %d %s: %s", code, why, strings.TrimSpace(body))
	}
	ready(http.StatusServiceUnavailable, "migrations pending")
	if _, err := st.MigrateUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	ready(http.StatusServiceUnavailable, "the job queue's tables missing")
	if _, err := queue.MigrateUp(t.Context(), st.Pool(), queue.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	ready(http.StatusOK, "migrated")
	proxy.Refuse(true)
	proxy.CutAll()
	ready(http.StatusServiceUnavailable, "database unreachable")
	if code, _ := get(t, td.url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d while the database is unreachable: the process is alive", code)
	}
	proxy.Refuse(false)
	ready(http.StatusOK, "database back")
}

// Head walks run on their own schedule between full walks, never at the same time as one of the same
// source, are recorded with kind 'head' and counted apart.
func TestHeadWalksScheduled(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	_, u := newSimulator(t, 300, 3, nil)
	cfg := testConfig(t, simSource("h", u, "@every 1h"))
	cfg.RunAtStart = true
	cfg.HeadSchedule = "@every 1s"
	td := startDaemon(t, cfg, openStore(t, db), Options{Migrate: true})
	c := conn(t, db)
	eventually(t, waitLong, "a full walk and two head walks", func() bool {
		return tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE kind = 'full' AND state = 'succeeded'`) == 1 &&
			tryInt(t, c, `SELECT count(*) FROM modelarts.sync_runs WHERE kind = 'head' AND state = 'succeeded'`) >= 2
	})
	if n := tryInt(t, c, `
		SELECT count(*) FROM modelarts.sync_runs AS a JOIN modelarts.sync_runs AS b
		  ON a.source = b.source AND a.id < b.id AND b.started_at < coalesce(a.finished_at, now()) AND a.started_at < coalesce(b.finished_at, now())`); n != 0 {
		t.Errorf("%d pairs of runs of one source overlapped", n)
	}
	// The counters move just after the ledger: wait for them too.
	var m map[string]float64
	eventually(t, waitLong, "the full walk and the head walks counted", func() bool {
		m = scrape(t, td.url)
		return m[`vizjob_head_walks_total{source="h",state="succeeded"}`] >= 2 &&
			m[`vizjob_sync_runs_total{source="h",state="succeeded"}`] >= 1
	})
	if m[`vizjob_head_walks_total{source="h",state="succeeded"}`] < 2 || m[`vizjob_sync_runs_total{source="h",state="succeeded"}`] != 1 {
		t.Errorf("head walks %v, full walks %v", m[`vizjob_head_walks_total{source="h",state="succeeded"}`],
			m[`vizjob_sync_runs_total{source="h",state="succeeded"}`])
	}
}
