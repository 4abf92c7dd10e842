package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/testdb"
	"github.com/vizjob/indexer/internal/testmain"
)

// buildIndexer returns the real binary, built once per test process into a directory TestMain removes.
func buildIndexer(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "indexer-test-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir, built.bin = dir, filepath.Join(dir, "indexer")
		if out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// built is the binary buildIndexer made: tests that run it share one build.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	testmain.Parallelism() // most of these tests wait on subprocesses, servers and retries
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// slowSimulator serves a simulator that takes delay to answer each request (less if the client gives up).
func slowSimulator(t *testing.T, jobs int, delay time.Duration) string {
	t.Helper()
	h := simulator.New(simulator.Options{Jobs: jobs, Seed: 7}).Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countRuns counts the ledger rows matching where; -1 while the table does not exist yet.
func countRuns(t *testing.T, c *pgx.Conn, where string) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM modelarts.sync_runs WHERE "+where).Scan(&n); err != nil {
		return -1
	}
	return n
}

// daemonProcess is `indexer run` started as a process against a slow simulator.
type daemonProcess struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	db     *pgx.Conn
	exited chan struct{}
}

func startDaemonProcess(t *testing.T, grace string) *daemonProcess {
	t.Helper()
	bin := buildIndexer(t)
	sim := slowSimulator(t, 1000, time.Second) // a run takes over 10 s
	db := testdb.New(t)
	cmd := exec.Command(bin, "run", "--http-addr", "127.0.0.1:0", "--run-at-start")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"INDEXER_DATABASE_URL=" + db,
		"MODELARTS_ENDPOINT=" + sim,
		"HUAWEICLOUD_SDK_PROJECT_ID=" + simulator.DefaultProjectID,
		"HUAWEICLOUD_SDK_AK=" + simulator.DefaultAK,
		"HUAWEICLOUD_SDK_SK=" + simulator.DefaultSK,
		"INDEXER_SOURCE=slow",
		"INDEXER_SCHEDULE=@every 1h",
		"INDEXER_SHUTDOWN_GRACE=" + grace,
		"INDEXER_LOG_FORMAT=json",
		"INDEXER_LOG_LEVEL=debug",
	}
	p := &daemonProcess{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("indexer run stderr:\n%s", p.stderr.String())
		}
	})
	c, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	p.db = c
	waitFor(t, time.Minute, "a run in flight", func() bool { return countRuns(t, c, "state = 'running'") == 1 })
	return p
}

// signal sends sig; wait returns the exit code and how long after since the process took to exit.
func (p *daemonProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func (p *daemonProcess) wait(t *testing.T, since time.Time, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("indexer run did not exit within %s", timeout)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(since)
}

// SIGTERM during a slow sync: the run gets the grace period, is then cancelled and recorded as failed,
// "interrupted by shutdown"; the process exits 0 and leaves no run 'running'.
func TestRunSIGTERMDuringSlowSync(t *testing.T) {
	t.Parallel()
	const grace = 2 * time.Second
	p := startDaemonProcess(t, grace.String())
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	code, took := p.wait(t, sent, grace+30*time.Second)
	t.Logf("exit %d, %s after SIGTERM (grace %s)", code, took.Round(time.Millisecond), grace)
	if code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
	if took < grace-200*time.Millisecond || took > grace+10*time.Second {
		t.Errorf("exited %s after SIGTERM; want the grace period (%s) and a little more", took, grace)
	}
	if n := countRuns(t, p.db, "state = 'running' OR finished_at IS NULL"); n != 0 {
		t.Errorf("%d runs left running", n)
	}
	if n := countRuns(t, p.db, "state = 'failed' AND error LIKE '%interrupted by shutdown%'"); n != 1 {
		t.Errorf("the interrupted run is not recorded failed, \"interrupted by shutdown\"")
	}
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"grace period over: cancelling the runs in flight"`, `"msg":"daemon stopped"`} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("the log lacks %s", want)
		}
	}
}

// A second signal exits at once, without waiting for the grace period.
func TestRunSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	p := startDaemonProcess(t, "5m")
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	waitFor(t, 30*time.Second, "the daemon to wait for its run", func() bool {
		return strings.Contains(p.stderr.String(), "waiting for the runs in flight")
	})
	p.signal(t, syscall.SIGINT)
	code, took := p.wait(t, sent, time.Minute)
	t.Logf("exit %d, %s after the first signal (grace 5m)", code, took.Round(time.Millisecond))
	if code != exitFailed {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(p.stderr.String(), "second signal") {
		t.Errorf("the second signal is not reported")
	}
}

// `indexer run` with INDEXER_CONFIG syncs every source of the file, then stops cleanly on cancel.
func TestRunWithConfigFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 120, "aksk")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(simulator.DefaultPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "indexer.yaml")
	yaml := "defaults:\n  schedule: \"@every 1h\"\nsources:\n" +
		"  - name: signed\n    endpoint: " + h.url + "\n    project_id: " + simulator.DefaultProjectID + "\n" +
		"    ak: " + simulator.DefaultAK + "\n    sk: {env: SIM_SK}\n" +
		"  - name: token\n    endpoint: " + h.url + "\n    iam_endpoint: " + h.url + "\n    project_id: " + simulator.DefaultProjectID + "\n" +
		"    username: " + simulator.DefaultUsername + "\n    password: {file: password}\n    domain_name: " + simulator.DefaultDomainName + "\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"INDEXER_DATABASE_URL": h.db,
		"INDEXER_CONFIG":       cfgFile,
		"SIM_SK":               simulator.DefaultSK,
		"INDEXER_LOG_FORMAT":   "json",
	}
	getenv := func(k string) string { return env[k] }

	// Per-source flags make no sense with a file.
	var out, errb lockedBuffer
	if code := Main(t.Context(), []string{"run", "--endpoint", "http://x"}, &out, &errb, getenv); code != exitUsage ||
		!strings.Contains(errb.String(), "--endpoint configure the source of the environment") {
		t.Fatalf("run --endpoint with a configuration file: exit %d\n%s", code, errb.String())
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	errb = lockedBuffer{}
	go func() {
		done <- Main(ctx, []string{"run", "--http-addr", "127.0.0.1:0", "--run-at-start", "--grace", "5s"}, &out, &errb, getenv)
	}()
	c := h.conn()
	waitFor(t, time.Minute, "both sources synced", func() bool {
		return countRuns(t, c, "state = 'succeeded' AND jobs_seen = 120 AND source IN ('signed', 'token')") == 2
	})
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d\n%s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("indexer run did not return after its context was cancelled")
	}
}
