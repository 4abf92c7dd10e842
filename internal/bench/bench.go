// Package bench measures the sync end to end, for `indexer bench`: the built-in simulator and
// `indexer sync` run as child processes of the same binary against a scratch PostgreSQL database, and
// each phase is compared with what it cannot beat, measured in the same run on the same machine:
// fetching the same pages from the same simulator (the fetch-only time), and that plus COPYing the same
// rows into an empty table (the floor).
//
// One run of the benchmark, on a fresh database and a fresh simulator:
//
//  1. fetch only: walk every page (the probe and the pages a sync requests), decode, discard;
//  2. floor: the same walk, COPYing every job's row into an empty table in one COPY;
//  3. initial sync, 4. no-op resync, 5. resync after Share of the jobs changed (POST /_sim/mutate),
//  6. with Latency: a no-op resync against a simulator that answers each request after Latency;
//
// each sync in a child process, timed from start to exit, with its peak resident memory, the requests
// it recorded in sync_runs, and the rows it wrote to the job and history tables according to
// pg_stat_user_tables. Between phases the tables are vacuumed and analysed and a checkpoint is asked
// for (not timed), as autovacuum and the checkpointer would between two scheduled runs.
package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/store/pgadmin"
	"github.com/vizjob/indexer/internal/syncer"
)

// Options configures a benchmark. Zero values take the defaults given per field.
type Options struct {
	Exe             string        // the indexer binary, run as `indexer simulate` and `indexer sync` (required)
	AdminURL        string        // PostgreSQL URL of a role that may create databases (required)
	Jobs            int           // jobs in the simulator, default 100 000
	Runs            int           // runs of every phase, default 3; the report shows medians
	PageConcurrency int           // INDEXER_PAGE_CONCURRENCY of the syncs and of the fetch-only walk, default 4
	Latency         time.Duration // per request in the latency phase; 0: no latency phase
	Share           float64       // share of the jobs changed before the change phase, default 0.01
	Seed            int64         // seed of the simulator's jobs and of the change, default 1
	Keep            bool          // keep the scratch databases (their names are in the report)
	// Quota, when above 0, adds the quota phase: a walk of QuotaJobs jobs (default 100 000) against a
	// simulator that allows Quota requests/s, by a client that starts at the default rate limit and
	// adapts up to the default ceiling. It runs in real time: QuotaJobs/100/Quota seconds at best.
	Quota     float64
	QuotaJobs int
	// Epoch is the simulators' --epoch, so that every simulator of the benchmark holds the same jobs.
	// Default: when the benchmark starts.
	Epoch    time.Time
	Progress io.Writer // one line per phase as it ends; nil: none
	// CPUProfileDir, when set, is where each sync process writes a CPU profile of its life, named
	// run<n>-<phase>.pprof (go tool pprof reads them).
	CPUProfileDir string
}

func (o Options) withDefaults() Options {
	o.Jobs = cmp.Or(o.Jobs, 100_000)
	o.Runs = cmp.Or(o.Runs, 3)
	o.PageConcurrency = cmp.Or(o.PageConcurrency, config.DefaultPageConcurrency)
	o.Share = cmp.Or(o.Share, 0.01)
	o.Seed = cmp.Or(o.Seed, 1)
	o.QuotaJobs = cmp.Or(o.QuotaJobs, 100_000)
	if o.Epoch.IsZero() {
		o.Epoch = time.Now().UTC().Truncate(time.Second)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Exe == "" {
		errs = append(errs, errors.New("no indexer binary to run"))
	}
	if o.AdminURL == "" {
		errs = append(errs, errors.New("no database URL: set --database-url or "+config.EnvDatabaseURL))
	}
	if o.Jobs < 1 || o.Runs < 1 {
		errs = append(errs, fmt.Errorf("--jobs and --runs must be at least 1, got %d and %d", o.Jobs, o.Runs))
	}
	if o.PageConcurrency < 1 || o.PageConcurrency > config.MaxPageConcurrency {
		errs = append(errs, fmt.Errorf("--page-concurrency must be between 1 and %d, got %d", config.MaxPageConcurrency, o.PageConcurrency))
	}
	if !(o.Quota >= 0) || o.QuotaJobs < 1 {
		errs = append(errs, fmt.Errorf("--quota must not be negative and --quota-jobs must be at least 1, got %g and %d", o.Quota, o.QuotaJobs))
	}
	if o.Latency < 0 || !(o.Share > 0 && o.Share <= 1) {
		errs = append(errs, fmt.Errorf("--latency must not be negative and --share must be in (0, 1], got %s and %g", o.Latency, o.Share))
	}
	return errors.Join(errs...)
}

// Phase names, in the order a run measures them.
const (
	PhaseFetch   = "fetch only"
	PhaseFloor   = "floor: fetch + COPY"
	PhaseInitial = "initial sync"
	PhaseNoop    = "no-op resync"
	PhaseChange  = "resync after change"
	PhaseLatency = "no-op resync, latency"
	PhaseQuota   = "walk against a quota"
)

// Phase is what one phase of one run measured.
type Phase struct {
	Wall     time.Duration
	Requests int    // list requests (the probe included): sync_runs.requests, or the walk's own count
	Pages    int    // pages read
	Rows     int64  // jobs seen by the sync, or rows copied by the floor
	Writes   Writes // rows written to the job and history tables (syncs only)
	MaxRSS   int64  // peak resident memory of the sync's process, bytes; 0: in process or unknown
	// WritePath is where the sync's write path spent its time (its "write path" log line); syncs only.
	WritePath *WritePath
	// Throttled and Rate: the quota phase's 429s and the rate its client settled at.
	Throttled int
	Rate      float64
}

// WritePath is store.WriteTimes as a sync logs it.
type WritePath struct {
	Batches int   `json:"batches"`
	SeenMS  int64 `json:"seen_ms"`
	Lookup  int64 `json:"lookup_ms"`
	Prepare int64 `json:"prepare_ms"`
	Copy    int64 `json:"copy_ms"`
	Write   int64 `json:"write_ms"`
}

// writePath finds the "write path" line in a sync's JSON log.
func writePath(log string) *WritePath {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"msg":"write path"`) {
			continue
		}
		var v struct {
			Times WritePath `json:"times"`
		}
		if json.Unmarshal([]byte(line), &v) == nil {
			return &v.Times
		}
	}
	return nil
}

// RunResult is one run of every phase.
type RunResult struct {
	Database string // the scratch database
	Phases   map[string]Phase
	Changed  simulator.ChurnStats // what POST /_sim/mutate changed
}

// Report is the outcome of a benchmark.
type Report struct {
	Options Options
	Server  string // PostgreSQL's version string
	Runs    []RunResult
}

const source = "bench"

// Run runs the benchmark. It stops at the first failure; the report holds the runs completed.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Options: opts}
	for i := range opts.Runs {
		run, err := runOnce(ctx, opts, rep, i)
		if err != nil {
			return rep, fmt.Errorf("run %d: %w", i+1, err)
		}
		rep.Runs = append(rep.Runs, run)
	}
	return rep, nil
}

// runOnce measures every phase once, on a fresh database and simulator.
func runOnce(ctx context.Context, opts Options, rep *Report, i int) (run RunResult, err error) {
	progress := func(format string, a ...any) {
		fmt.Fprintf(opts.Progress, "run %d/%d: "+format+"\n", append([]any{i + 1, opts.Runs}, a...)...)
	}
	run = RunResult{Database: fmt.Sprintf("vizjob_bench_%d_%d", time.Now().Unix(), i+1), Phases: map[string]Phase{}}
	dbURL, err := pgadmin.CreateDatabase(ctx, opts.AdminURL, run.Database, "")
	if err != nil {
		return run, err
	}
	if !opts.Keep {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			err = errors.Join(err, pgadmin.DropDatabase(dctx, opts.AdminURL, run.Database))
		}()
	}
	benchURL, err := pgadmin.WithApplicationName(dbURL, "vizjob-bench")
	if err != nil {
		return run, err
	}
	// Before anything is written: the URL reaches the database just created and marked, no other.
	session, err := pgadmin.ConnectScratch(ctx, benchURL, run.Database)
	if err != nil {
		return run, err
	}
	defer session.Close(context.WithoutCancel(ctx))
	st, err := store.Open(ctx, benchURL, nil)
	if err != nil {
		return run, err
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		return run, err
	}
	db := database{session}
	if rep.Server == "" {
		rep.Server, _ = session.ServerVersion(ctx)
	}

	sim, err := startSimulator(ctx, opts, 0)
	if err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, sim.stop()) }()

	b := &bencher{opts: opts, st: st, db: db, dbURL: dbURL}
	if err := b.warm(ctx, sim.url); err != nil {
		return run, err
	}
	fetchOnly, err := b.fetchOnly(ctx, sim.url)
	if err != nil {
		return run, fmt.Errorf("%s: %w", PhaseFetch, err)
	}
	run.Phases[PhaseFetch] = fetchOnly
	progress("%-22s %8s  %d requests", PhaseFetch, seconds(fetchOnly.Wall), fetchOnly.Requests)

	floor, err := b.floor(ctx, sim.url)
	if err != nil {
		return run, fmt.Errorf("%s: %w", PhaseFloor, err)
	}
	run.Phases[PhaseFloor] = floor
	progress("%-22s %8s  %d rows copied", PhaseFloor, seconds(floor.Wall), floor.Rows)

	phase := func(name, endpoint string) error {
		if err := db.settle(ctx); err != nil {
			return err
		}
		p, err := b.sync(ctx, endpoint, b.profilePath(i, name))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		run.Phases[name] = p
		progress("%-22s %8s  %d requests, job rows %s, history rows %s, peak RSS %s", name, seconds(p.Wall), p.Requests,
			writes(p.Writes.Jobs), writes(p.Writes.History), mib(p.MaxRSS))
		return nil
	}
	if err := phase(PhaseInitial, sim.url); err != nil {
		return run, err
	}
	if err := phase(PhaseNoop, sim.url); err != nil {
		return run, err
	}
	if run.Changed, err = sim.mutate(ctx, opts.Share, opts.Seed); err != nil {
		return run, err
	}
	if err := b.warm(ctx, sim.url); err != nil {
		return run, err
	}
	if err := phase(PhaseChange, sim.url); err != nil {
		return run, err
	}
	if opts.Latency > 0 {
		// The same jobs, changed the same way, served slowly: a no-op resync.
		slow, err := startSimulator(ctx, opts, opts.Latency)
		if err != nil {
			return run, err
		}
		defer func() { err = errors.Join(err, slow.stop()) }()
		if _, err := slow.mutate(ctx, opts.Share, opts.Seed); err != nil {
			return run, err
		}
		if err := b.warm(ctx, slow.url); err != nil {
			return run, err
		}
		if err := phase(PhaseLatency, slow.url); err != nil {
			return run, err
		}
	}
	if opts.Quota > 0 {
		p, err := quotaWalk(ctx, opts)
		if err != nil {
			return run, fmt.Errorf("%s: %w", PhaseQuota, err)
		}
		run.Phases[PhaseQuota] = p
		progress("%-22s %8s  %d requests, %d throttled, settled at %.1f requests/s", PhaseQuota, seconds(p.Wall), p.Requests, p.Throttled, p.Rate)
	}
	return run, nil
}

// quotaWalk walks QuotaJobs jobs against a simulator that allows Quota requests/s, from the default
// rate limit up to the default ceiling, as a sync would.
func quotaWalk(ctx context.Context, opts Options) (Phase, error) {
	q := opts
	q.Jobs = opts.QuotaJobs
	sim, err := startSimulator(ctx, q, 0, "--quota", strconv.FormatFloat(opts.Quota, 'g', -1, 64))
	if err != nil {
		return Phase{}, err
	}
	defer func() { _ = sim.stop() }()
	var mu sync.Mutex
	throttled := 0
	c, err := fetch.New(fetch.Config{
		Endpoint: sim.url, ProjectID: simulator.DefaultProjectID, AK: simulator.DefaultAK, SK: simulator.DefaultSK,
		RateLimit: config.DefaultRateLimit, MaxRateLimit: config.DefaultMaxRateLimit,
		OnResponse: func(status int) {
			if status == http.StatusTooManyRequests {
				mu.Lock()
				throttled++
				mu.Unlock()
			}
		},
	})
	if err != nil {
		return Phase{}, err
	}
	var m fetch.Meter
	start := time.Now()
	res, err := fetch.Walk(fetch.WithMeter(ctx, &m), c, fetch.WalkOptions{PerPage: config.DefaultPerPage, Concurrency: opts.PageConcurrency, Verify: true},
		func(context.Context, *fetch.Page) error { return nil })
	wall := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	return Phase{Wall: wall, Requests: m.Counts().Requests(), Pages: res.Pages, Rows: int64(res.Delivered), Throttled: throttled, Rate: c.Rate()}, err
}

// bencher runs the phases of one run.
type bencher struct {
	opts  Options
	st    *store.Store // the store's work: migrations and the floor
	db    database     // the rest: statistics, VACUUM, the ledger's last run
	dbURL string
}

func (b *bencher) client(endpoint string) (*fetch.Client, error) {
	return fetch.New(fetch.Config{
		Endpoint: endpoint, ProjectID: simulator.DefaultProjectID, AK: simulator.DefaultAK, SK: simulator.DefaultSK,
	})
}

func (b *bencher) walkOptions() fetch.WalkOptions {
	return fetch.WalkOptions{PerPage: config.DefaultPerPage, Concurrency: b.opts.PageConcurrency, Verify: true}
}

// warm asks the simulator for the first page in both orders a sync uses, so that it sorts its jobs
// (which it does again after every change) before a phase is timed, not during it.
func (b *bencher) warm(ctx context.Context, endpoint string) error {
	c, err := b.client(endpoint)
	if err != nil {
		return err
	}
	for _, order := range []string{"desc", "asc"} {
		q := fetch.Query{Page: 1, PerPage: config.DefaultPerPage, SortBy: fetch.SortCreateTime, Order: order}
		if _, err := c.ListPage(ctx, q); err != nil {
			return fmt.Errorf("warm the simulator up: %w", err)
		}
	}
	return nil
}

// fetchOnly walks every page as a sync does and keeps nothing.
func (b *bencher) fetchOnly(ctx context.Context, endpoint string) (Phase, error) {
	c, err := b.client(endpoint)
	if err != nil {
		return Phase{}, err
	}
	var (
		jobs int64
		m    fetch.Meter
	)
	start := time.Now()
	res, err := fetch.Walk(fetch.WithMeter(ctx, &m), c, b.walkOptions(), func(_ context.Context, p *fetch.Page) error {
		jobs += int64(len(p.Jobs))
		return nil
	})
	return Phase{Wall: time.Since(start), Requests: m.Counts().Requests(), Pages: res.Pages, Rows: jobs}, err
}

// floor walks every page as a sync does and COPYs every job's row into an empty table, in one COPY
// that streams the pages as they come.
func (b *bencher) floor(ctx context.Context, endpoint string) (Phase, error) {
	c, err := b.client(endpoint)
	if err != nil {
		return Phase{}, err
	}
	var m fetch.Meter
	wctx, cancel := context.WithCancel(fetch.WithMeter(ctx, &m))
	defer cancel()
	pages := make(chan []store.Job, 16)
	type walked struct {
		res fetch.WalkResult
		err error
	}
	done := make(chan walked, 1)
	start := time.Now()
	go func() {
		res, err := fetch.Walk(wctx, c, b.walkOptions(), func(ctx context.Context, p *fetch.Page) error {
			select {
			case pages <- syncer.Rows(p.Jobs):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(pages)
		done <- walked{res, err}
	}()
	n, err := b.st.CopyFloor(wctx, source, time.Now(), func() ([]store.Job, error) {
		for jobs := range pages {
			if len(jobs) > 0 {
				return jobs, nil
			}
		}
		return nil, nil
	})
	wall := time.Since(start)
	cancel()
	w := <-done
	if err == nil && w.err != nil {
		err = w.err
	}
	if err == nil {
		err = b.st.DropFloor(ctx)
	}
	return Phase{Wall: wall, Requests: m.Counts().Requests(), Pages: w.res.Pages, Rows: n}, err
}

// profilePath is where the sync of phase in run i writes its CPU profile ("": none).
func (b *bencher) profilePath(i int, phase string) string {
	if b.opts.CPUProfileDir == "" {
		return ""
	}
	name := strings.NewReplacer(" ", "-", ",", "", ":", "", "+", "").Replace(phase)
	return filepath.Join(b.opts.CPUProfileDir, fmt.Sprintf("run%d-%s.pprof", i+1, name))
}

// sync runs `indexer sync` in a child process against endpoint and the scratch database, with a CPU
// profile to profile unless it is "".
func (b *bencher) sync(ctx context.Context, endpoint, profile string) (Phase, error) {
	before, err := b.db.writes(ctx)
	if err != nil {
		return Phase{}, err
	}
	cmd := exec.CommandContext(ctx, b.opts.Exe, "sync")
	cmd.Env = []string{ // the whole environment: nothing of the caller's leaks in (INDEXER_CONFIG, ...)
		config.EnvDatabaseURL + "=" + b.dbURL,
		config.EnvEndpoint + "=" + endpoint,
		config.EnvProjectID + "=" + simulator.DefaultProjectID,
		config.EnvAK + "=" + simulator.DefaultAK,
		config.EnvSK + "=" + simulator.DefaultSK,
		config.EnvSource + "=" + source,
		config.EnvRateLimit + "=0",
		config.EnvPageConcurrency + "=" + strconv.Itoa(b.opts.PageConcurrency),
		config.EnvRunTimeout + "=0",
		config.EnvLogFormat + "=json",
	}
	if profile != "" {
		cmd.Env = append(cmd.Env, config.EnvCPUProfile+"="+profile)
	}
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if profile != "" { // the end of its log beside the profile: where the time went
		_ = os.WriteFile(strings.TrimSuffix(profile, ".pprof")+".log", []byte(out.String()+"\n"), 0o644)
	}
	if err != nil {
		return Phase{}, fmt.Errorf("indexer sync: %w\n%s", err, out.String())
	}
	after, err := b.db.writes(ctx)
	if err != nil {
		return Phase{}, err
	}
	run, err := b.db.lastRun(ctx, source)
	if err != nil {
		return Phase{}, err
	}
	if run.State != store.StateSucceeded {
		return Phase{}, fmt.Errorf("indexer sync ended %s: %s", run.State, run.Error)
	}
	return Phase{Wall: wall, Requests: run.Requests, Pages: run.Pages, Rows: run.JobsSeen,
		Writes: after.Sub(before), MaxRSS: maxRSS(cmd.ProcessState), WritePath: writePath(out.String())}, nil
}

// simProcess is `indexer simulate` running as a child process.
type simProcess struct {
	cmd  *exec.Cmd
	url  string
	out  *tail
	wait chan error
}

var servingLine = regexp.MustCompile(`simulator on (http://\S+) with`)

// startSimulator starts the simulator with the benchmark's jobs and seed on a free port of the
// loopback interface, and returns once it serves.
func startSimulator(ctx context.Context, opts Options, latency time.Duration, extra ...string) (*simProcess, error) {
	args := append([]string{"simulate", "--addr", "127.0.0.1:0", "--jobs", strconv.Itoa(opts.Jobs),
		"--seed", strconv.FormatInt(opts.Seed, 10), "--latency", latency.String(), "--log-level", "warn", "--log-format", "text",
		"--epoch", opts.Epoch.Format(time.RFC3339)}, extra...)
	cmd := exec.Command(opts.Exe, args...)
	cmd.Env = []string{}
	s := &simProcess{cmd: cmd, out: &tail{}, wait: make(chan error, 1)}
	cmd.Stderr = s.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the simulator: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				lines <- m[1]
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		s.wait <- cmd.Wait()
	}()
	select {
	case u, ok := <-lines:
		if !ok {
			return nil, fmt.Errorf("the simulator stopped before serving: %s", s.out.String())
		}
		s.url = u
		return s, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

// stop interrupts the simulator and waits for it, killing it after 10 seconds.
func (s *simProcess) stop() error {
	_ = s.cmd.Process.Signal(interrupt)
	select {
	case <-s.wait:
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.wait
		return nil
	}
}

// mutate changes share of the simulator's jobs (POST /_sim/mutate).
func (s *simProcess) mutate(ctx context.Context, share float64, seed int64) (simulator.ChurnStats, error) {
	var st simulator.ChurnStats
	u := s.url + "/_sim/mutate?share=" + strconv.FormatFloat(share, 'g', -1, 64) + "&seed=" + strconv.FormatInt(seed, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("change the simulator's jobs: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("change the simulator's jobs: http %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("change the simulator's jobs: %w", err)
	}
	return st, nil
}

// tail keeps the last 8 KiB written to it: the end of a child's output, for error messages.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	const keep = 8 << 10
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > keep {
		t.b = append(t.b[:0], t.b[len(t.b)-keep:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.b, nil)))
}
