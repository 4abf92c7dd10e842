package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/testdb"
)

// harness runs the real commands against an in-process simulator and a fresh database, migrated
// (`migrate up` finds nothing to do; the tests of migrating an empty database use testdb.New).
type harness struct {
	t   *testing.T
	sim *simulator.Simulator
	url string // simulator base URL
	db  string // database URL
	env map[string]string
}

func newHarness(t *testing.T, jobs int, auth string) *harness {
	t.Helper()
	sim := simulator.New(simulator.Options{Jobs: jobs, Seed: 42})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	h := &harness{t: t, sim: sim, url: srv.URL, db: testdb.NewMigrated(t)}
	h.env = map[string]string{
		"INDEXER_DATABASE_URL":       h.db,
		"MODELARTS_ENDPOINT":         srv.URL,
		"HUAWEICLOUD_SDK_PROJECT_ID": simulator.DefaultProjectID,
		"INDEXER_SOURCE":             "sim",
		"INDEXER_LOG_FORMAT":         "json",
		"INDEXER_LOG_LEVEL":          "debug",
		// No pacing: at the default of 5 requests a second, tests spent most of their time waiting
		// on the limiter. Tests of behaviour under a limit set one (the fault matrix: 50).
		"INDEXER_RATE_LIMIT": "0",
	}
	switch auth {
	case "aksk":
		h.env["HUAWEICLOUD_SDK_AK"] = simulator.DefaultAK
		h.env["HUAWEICLOUD_SDK_SK"] = simulator.DefaultSK
	case "token":
		h.env["HUAWEICLOUD_IAM_ENDPOINT"] = srv.URL
		h.env["HUAWEICLOUD_USERNAME"] = simulator.DefaultUsername
		h.env["HUAWEICLOUD_PASSWORD"] = simulator.DefaultPassword
		h.env["HUAWEICLOUD_DOMAIN_NAME"] = simulator.DefaultDomainName
	default:
		t.Fatalf("unknown auth %q", auth)
	}
	return h
}

// run runs one command and returns its exit code, stdout and stderr.
func (h *harness) run(args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb lockedBuffer
	// A bound for a command that hangs, not a measure of speed: under the race detector on a machine
	// loaded to 20 on two cores, a sync of the fault matrix's 1 MiB descriptions took 136 s.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	code := Main(ctx, args, &out, &errb, func(k string) string { return h.env[k] })
	return code, out.String(), errb.String()
}

func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	code, out, errOut := h.run(args...)
	if code != 0 {
		h.t.Fatalf("indexer %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out + errOut
}

func (h *harness) conn() *pgx.Conn {
	h.t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close(ctx) })
	return c
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// assertMirror checks that visualization_jobs holds exactly what the simulator serves, field by field.
func assertMirror(t *testing.T, c *pgx.Conn, source string, want []fetch.Job) {
	t.Helper()
	ctx := context.Background()
	rows, err := c.Query(ctx, `
		SELECT job_id, job_name, job_desc, status, create_time, duration_ms, service_url, train_url,
		       coalesce(resource_id, ''), raw::text, deleted_at IS NULL,
		       first_seen_at <= last_seen_at AND last_changed_at <= last_seen_at
		FROM modelarts.visualization_jobs WHERE source = $1 AND deleted_at IS NULL ORDER BY job_id`, source)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		fetch.Job
		createTime time.Time
		raw        string
		live, ok   bool
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.ID, &x.Name, &x.Desc, &x.Status, &x.createTime, &x.Duration, &x.ServiceURL, &x.TrainURL,
			&x.ResourceID, &x.raw, &x.live, &x.ok)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("mirror has %d live jobs, the simulator %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Name != w.Name || g.Desc != w.Desc || g.Status != w.Status || g.Duration != w.Duration ||
			g.ServiceURL != w.ServiceURL || g.TrainURL != w.TrainURL || g.ResourceID != w.ResourceID {
			t.Fatalf("job %d differs:\n got %+v\nwant %+v", w.ID, g.Job, w)
		}
		if !g.createTime.Equal(time.UnixMilli(w.CreateTime)) {
			t.Fatalf("job %d create_time %s, want %s", w.ID, g.createTime, time.UnixMilli(w.CreateTime))
		}
		if !jsonEqual(t, g.raw, string(w.Raw)) {
			t.Fatalf("job %d raw differs:\n got %s\nwant %s", w.ID, g.raw, w.Raw)
		}
		if !g.ok {
			t.Fatalf("job %d: first_seen_at/last_changed_at after last_seen_at", w.ID)
		}
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	da, db := json.NewDecoder(strings.NewReader(a)), json.NewDecoder(strings.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if err := da.Decode(&x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := db.Decode(&y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

type runRow struct {
	State                                      string
	Seen, Inserted, Updated, Deleted, APITotal int64
	Error                                      string
	Finished                                   bool
}

func lastRun(t *testing.T, c *pgx.Conn) runRow {
	t.Helper()
	var r runRow
	err := c.QueryRow(context.Background(), `
		SELECT state, coalesce(jobs_seen,0), coalesce(jobs_inserted,0), coalesce(jobs_updated,0), coalesce(jobs_deleted,0),
		       coalesce(api_total_count,0), coalesce(error,''), finished_at IS NOT NULL
		FROM modelarts.sync_runs ORDER BY id DESC LIMIT 1`).Scan(&r.State, &r.Seen, &r.Inserted, &r.Updated, &r.Deleted,
		&r.APITotal, &r.Error, &r.Finished)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tableWrites returns n_tup_ins+n_tup_upd+n_tup_del of the job and history tables,
// waiting until the statistics of finished runs have been flushed.
func tableWrites(t *testing.T, c *pgx.Conn, runs int) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// sync_runs gets one insert and one update per run: once both are visible,
		// the backends of every finished run have flushed their counters.
		if _, err := c.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		rows, err := c.Query(ctx, `SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables
			WHERE schemaname = 'modelarts' AND relname IN ('visualization_jobs', 'visualization_job_history', 'sync_runs')`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				t.Fatal(err)
			}
			m[name] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if m["sync_runs"] >= int64(2*runs) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("statistics for %d runs never flushed: %v", runs, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSyncMirrorsEveryJob(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"aksk", "token"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 537, auth)
			h.mustRun("migrate", "up")
			h.mustRun("sync")
			c := h.conn()
			assertMirror(t, c, "sim", h.sim.Jobs())
			r := lastRun(t, c)
			if r.State != "succeeded" || r.Seen != 537 || r.Inserted != 537 || r.APITotal != 537 || !r.Finished {
				t.Fatalf("first run recorded %+v", r)
			}
			var versions int64
			if err := c.QueryRow(context.Background(), `SELECT count(*) FROM modelarts.visualization_job_history WHERE valid_to IS NULL`).Scan(&versions); err != nil {
				t.Fatal(err)
			}
			if versions != 537 {
				t.Fatalf("%d open history versions, want 537", versions)
			}
			// What BI tools see of the source's settings (modelarts.sources), secrets excluded.
			var project, authMode, endpoint string
			if err := c.QueryRow(context.Background(), `SELECT project_id, auth_mode, endpoint FROM modelarts.sources
				WHERE source = 'sim'`).Scan(&project, &authMode, &endpoint); err != nil {
				t.Fatal(err)
			}
			if project != simulator.DefaultProjectID || authMode != auth || !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
				t.Errorf("sources: project %q, auth mode %q, endpoint %q; want %q, %q and the simulator's URL",
					project, authMode, endpoint, simulator.DefaultProjectID, auth)
			}
			stats := h.sim.Stats()
			if auth == "token" && stats.TokenRequests != 1 {
				t.Errorf("%d IAM token requests for one sync, want 1 (cached)", stats.TokenRequests)
			}
			if stats.ListRequests != 7 { // the probe of the verified walk, then ceil(537/100) pages
				t.Errorf("%d list requests, want 7", stats.ListRequests)
			}
		})
	}
}

func TestResyncWithoutChangeWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 537, "aksk")
	h.mustRun("migrate", "up")
	h.mustRun("sync")
	c := h.conn()
	before := tableWrites(t, c, 1)
	h.mustRun("sync")
	after := tableWrites(t, c, 2)
	for _, table := range []string{"visualization_jobs", "visualization_job_history"} {
		if after[table] != before[table] {
			t.Errorf("%s: %d rows written by a sync with nothing changed", table, after[table]-before[table])
		}
	}
	if r := lastRun(t, c); r.State != "succeeded" || r.Seen != 537 || r.Inserted != 0 || r.Updated != 0 || r.Deleted != 0 {
		t.Fatalf("second run recorded %+v", r)
	}
	assertMirror(t, c, "sim", h.sim.Jobs())
}

func TestWrongSecretKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 50, "aksk")
	h.mustRun("migrate", "up")
	const wrong = "this-is-not-the-secret-key"
	h.env["HUAWEICLOUD_SDK_SK"] = wrong
	code, out, errOut := h.run("sync")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailed, errOut)
	}
	if !strings.Contains(strings.ToLower(errOut), "authentication failed") {
		t.Errorf("output does not say authentication failed:\n%s", errOut)
	}
	if strings.Contains(out+errOut, wrong) {
		t.Errorf("the secret key appears in the output")
	}
	if n := h.sim.Stats().AuthFailures; n != 1 {
		t.Errorf("%d authentication attempts failed, want exactly 1 (keys lock after 5)", n)
	}
	c := h.conn()
	r := lastRun(t, c)
	if r.State != "failed" || !strings.Contains(strings.ToLower(r.Error), "authentication failed") || !r.Finished {
		t.Fatalf("run recorded %+v", r)
	}
	if strings.Contains(r.Error, wrong) {
		t.Errorf("the secret key is stored in sync_runs.error")
	}
}
