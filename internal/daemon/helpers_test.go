package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
)

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

// count is the number of log lines that contain every one of subs.
func (l *lockedBuffer) count(subs ...string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// slowHandler delays every request by d (giving up if the client does).
func slowHandler(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		h.ServeHTTP(w, r)
	})
}

// newSimulator serves a simulator with jobs jobs, its handler wrapped by wrap (if not nil).
func newSimulator(t *testing.T, jobs int, seed int64, wrap func(http.Handler) http.Handler) (*simulator.Simulator, string) {
	t.Helper()
	sim := simulator.New(simulator.Options{Jobs: jobs, Seed: seed})
	var h http.Handler = sim.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func simSource(name, endpoint, schedule string) config.Source {
	return config.Source{
		Name:      name,
		Endpoint:  endpoint,
		ProjectID: simulator.DefaultProjectID,
		AK:        simulator.DefaultAK,
		SK:        simulator.DefaultSK,
		Schedule:  schedule,
	}
}

// testConfig is a validated configuration with the defaults of an empty environment and sources.
func testConfig(t *testing.T, sources ...config.Source) *config.Config {
	t.Helper()
	cfg, _ := config.Load(func(string) string { return "" })
	cfg.Sources = sources
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ShutdownGrace = 10 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openStore opens a store on url; tests that need the schema in place first get url from
// testdb.NewMigrated.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// testDaemon is a daemon running in the test, serving HTTP on a free local port.
type testDaemon struct {
	url    string
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	took   time.Duration
	err    error
}

func startDaemon(t *testing.T, cfg *config.Config, st *store.Store, opts Options) *testDaemon {
	t.Helper()
	logs := &lockedBuffer{}
	opts.Logger = testLogger(logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = ln
	d, err := New(cfg, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td := &testDaemon{url: "http://" + ln.Addr().String(), logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { td.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		td.stop(t)
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	return td
}

// stop cancels the daemon's context (as a signal would) and waits for Run to return; it returns how
// long that took.
func (td *testDaemon) stop(t *testing.T) time.Duration {
	t.Helper()
	td.once.Do(func() {
		start := time.Now()
		td.cancel()
		select {
		case td.err = <-td.done:
		case <-time.After(2 * time.Minute):
			td.err = fmt.Errorf("Run did not return within 2 minutes of the cancellation")
		}
		td.took = time.Since(start)
	})
	if td.err != nil {
		t.Errorf("Run: %v", td.err)
	}
	return td.took
}

// eventually polls cond until it holds or timeout passes.
// waitLong bounds the waits for what the daemon does on its own time: River elects a leader,
// enqueues ticks and hands them to workers on real timers, so a machine under load (25 on 2 cores)
// takes seconds where an idle one takes milliseconds. The waits poll a condition; a passing test
// never waits that long.
const waitLong = 3 * time.Minute

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func conn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func queryInt(t *testing.T, c *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// tryInt is queryInt for polling: -1 while the query fails (the schema is being migrated).
func tryInt(t *testing.T, c *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$`)

// scrape reads /metrics: each sample by its name and labels exactly as exposed, e.g.
// vizjob_sync_runs_total{source="a",state="succeeded"} (client_golang sorts labels by name).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[m[1]] = v
	}
	return out
}
