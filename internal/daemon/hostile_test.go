package daemon

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/statuspage"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/testdb"
)

func getWith(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPToken: with INDEXER_HTTP_TOKEN set, / and /metrics need the bearer token; /healthz and
// /readyz stay open.
func TestHTTPToken(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token-0123456789"
	db := testdb.NewMigrated(t)
	_, u := newSimulator(t, 1, 1, nil)
	cfg := testConfig(t, simSource("s", u, "@every 1h"))
	cfg.HTTPToken = token
	td := startDaemon(t, cfg, openStore(t, db), Options{})
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{path: "/", token: "", want: http.StatusUnauthorized},
		{path: "/", token: "wrong-token-0123456789", want: http.StatusUnauthorized},
		{path: "/", token: token, want: http.StatusOK},
		{path: "/metrics", token: "", want: http.StatusUnauthorized},
		{path: "/metrics", token: token[:len(token)-1], want: http.StatusUnauthorized},
		{path: "/metrics", token: token, want: http.StatusOK},
		{path: "/healthz", token: "", want: http.StatusOK},
		{path: "/readyz", token: "", want: http.StatusOK},
	} {
		code, body := getWith(t, td.url+tc.path, tc.token)
		if code != tc.want {
			t.Errorf("%s with token %q: %d, want %d: %s", tc.path, tc.token, code, tc.want, body)
		}
		if code == http.StatusUnauthorized && strings.Contains(body, token) {
			t.Errorf("%s: the answer carries the token", tc.path)
		}
	}
}

// TestReadyzRevealsNothing: /readyz says "not ready" without the database's host, name or user.
func TestReadyzRevealsNothing(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy, through := testdb.NewProxy(t, db)
	st := openStore(t, through)
	_, sim := newSimulator(t, 1, 1, nil)
	td := startDaemon(t, testConfig(t, simSource("s", sim, "@every 1h")), st, Options{})
	proxy.Refuse(true)
	proxy.CutAll()
	var body string
	eventually(t, waitLong, "/readyz 503", func() bool {
		var code int
		code, body = get(t, td.url+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	dbName := strings.TrimPrefix(u.Path, "/")
	for _, secret := range []string{dbName, u.Hostname(), u.Query().Get("host") /* a Unix socket's directory */, u.User.Username(), proxy.Addr(), "database", "SQLSTATE"} {
		if secret != "" && strings.Contains(body, secret) {
			t.Errorf("/readyz reveals %q: %q", secret, body)
		}
	}
	proxy.Refuse(false)
}

// TestServerTimeouts: the daemon's server cuts slow readers, slow writers and idle connections.
func TestServerTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("timeouts: header %s read %s write %s idle %s, max header %d bytes: want them all set",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// TestDefaultListenAddressIsLoopback: without INDEXER_HTTP_ADDR the daemon listens on 127.0.0.1 only.
func TestDefaultListenAddressIsLoopback(t *testing.T) {
	cfg, _ := config.Load(func(string) string { return "" })
	if cfg.HTTPAddr != "127.0.0.1:8080" {
		t.Errorf("default listen address %q, want 127.0.0.1:8080", cfg.HTTPAddr)
	}
}

// TestFloodDuringSync: twelve clients looping on /, /metrics and /readyz while a sync runs: the sync
// succeeds, the server connections of the process stay within the pool size, and the page and the
// metrics are read from the database a few times, not once per request.
func TestFloodDuringSync(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	st := openStore(t, db)
	_, u := newSimulator(t, 3000, 5, func(h http.Handler) http.Handler { return slowHandler(100*time.Millisecond, h) })
	cfg := testConfig(t, simSource("flood", u, "@every 1h"))
	cfg.RunAtStart = true
	cfg.RateLimit = 0
	counting := &countingSource{src: st}
	td := startDaemon(t, cfg, st, Options{Index: statuspage.New(counting, nil)})

	admin := conn(t, db)
	var dbName string
	if err := admin.QueryRow(t.Context(), `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		requests atomic.Int64
		failures atomic.Int64
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range 12 {
		path := []string{"/", "/metrics", "/readyz"}[i%3]
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(td.url + path)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				requests.Add(1)
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	peak := int64(0)
	started := time.Now()
	eventually(t, waitLong, "the sync to end", func() bool {
		n := queryInt(t, admin, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'vizjob-indexer'`, dbName)
		peak = max(peak, n)
		return tryInt(t, admin, `SELECT count(*) FROM modelarts.sync_runs WHERE source = 'flood' AND state <> 'running'`) >= 1
	})
	took := time.Since(started)
	close(stop)
	wg.Wait()
	var state string
	if err := admin.QueryRow(t.Context(), `SELECT state FROM modelarts.sync_runs WHERE source = 'flood'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests in %s (%d failed), peak %d server connections of the indexer (pool %d), %d status page reads",
		requests.Load(), took.Round(time.Millisecond), failures.Load(), peak, st.PoolSize(), counting.reads.Load())
	if state != store.StateSucceeded {
		t.Errorf("the sync ended %s during the flood", state)
	}
	if peak > int64(st.PoolSize()) {
		t.Errorf("%d server connections, more than the pool's %d", peak, st.PoolSize())
	}
	if f := failures.Load(); f > 0 {
		t.Errorf("%d requests failed during the flood", f)
	}
	if max := int64(took/(5*time.Second)) + 2; counting.reads.Load() > max {
		t.Errorf("the status page read the database %d times in %s: want at most %d", counting.reads.Load(), took, max)
	}
}

// countingSource counts the status page's reads of the database.
type countingSource struct {
	src   statuspage.Reports
	reads atomic.Int64
}

func (c *countingSource) StatusReport(ctx context.Context, opts store.StatusOptions) (store.StatusReport, error) {
	c.reads.Add(1)
	return c.src.StatusReport(ctx, opts)
}

// TestSourceHeldTooLongWarns: a source whose lock has been held for longer than a run may last
// (a stuck holder) is skipped with a warning naming the holder; a fresh holder is skipped at debug
// (TestBusySourceSkippedAtDebug).
func TestSourceHeldTooLongWarns(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	st := openStore(t, db)
	_, u := newSimulator(t, 5, 1, nil)
	held, err := st.BeginRun(t.Context(), "stuck", store.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Finish(context.Background(), store.RunStats{State: store.StateFailed}) })
	c := conn(t, db)
	if _, err := c.Exec(t.Context(), `UPDATE modelarts.sync_runs SET started_at = now() - interval '3 hours' WHERE id = $1`, held.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(t.Context(), `UPDATE modelarts.source_leases SET acquired_at = now() - interval '3 hours' WHERE run_id = $1`, held.ID()); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, testConfig(t, simSource("stuck", u, "@every 1s")), openStore(t, db), Options{})
	eventually(t, waitLong, "a warning about the stuck holder", func() bool {
		return td.logs.count(`"level":"WARN"`, `"source":"stuck"`, "longer than a run may last", `"holder_run_id":`) >= 1
	})
}
