// Package daemon runs the indexer as a service: it syncs every configured source
// on its cron schedule (a bounded number at a time; at most one run per source
// across every replica, through the store's per-source locks), serves /healthz,
// /readyz and /metrics, and shuts down in order: stop the scheduler, let the
// runs in flight finish within a grace period, cancel the rest and record how
// they ended, close HTTP. The caller closes the store last. Daemon's doc comment
// states the lifecycle.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
	"github.com/vizjob/indexer/internal/ttlcache"
)

// ErrShutdown is the cause given to runs still in flight when the grace period
// ends; the syncer records it in sync_runs.error.
var ErrShutdown = errors.New("interrupted by shutdown")

// recordTimeout bounds the wait, after cancelling the runs in flight, for them
// to record their outcome.
const recordTimeout = 30 * time.Second

// Options are the parts of a Daemon that are not configuration.
type Options struct {
	Logger *slog.Logger // nil: discard
	// Migrate applies pending migrations before the first run (indexer run without --no-migrate).
	Migrate bool
	// Listener, if set, is where HTTP is served instead of listening on Config.HTTPAddr. Run closes it.
	Listener net.Listener
	// Index is served at "/" and below (the status page); nil: a plain-text list of the endpoints.
	Index http.Handler
	// HTTPClient is used for the ModelArts and IAM APIs; nil: a new one per source.
	HTTPClient *http.Client
}

// Daemon schedules the syncs of every source of a configuration. Create it with New, then call Run
// once; Handler may be used before, during or after Run.
//
// The lifecycle, in Run:
//
//  1. Serving. HTTP is served, migrations applied, then the scheduler starts. Every attempt at a run
//     is a job of the scheduler, the run at start too (the first tick of the source's schedule): the
//     scheduler skips a tick while the previous one's attempt is in progress, and knows when every
//     attempt has returned. An attempt waits its jitter, then for one of the slots, which bound the
//     runs in progress (Config.Concurrency), then runs under the runs' context.
//  2. Draining, once Run's ctx is done (a signal) or HTTP fails: the scheduler stops (no new tick) and
//     stopping is done, so that attempts that have not started a run give up and /readyz answers 503.
//     Run waits for the attempts to return, up to Config.ShutdownGrace.
//  3. Cancelling, if the grace period ends first: the runs' context is cancelled with the cause
//     ErrShutdown; each run records how it ended (the syncer writes the ledger under
//     context.WithoutCancel plus a timeout). Run waits for them up to recordTimeout.
//  4. Stopped: HTTP is closed and Run returns. The caller closes the store last. A second signal is
//     the caller's to handle (cmd/indexer exits at once).
type Daemon struct {
	cfg     *config.Config
	store   *store.Store
	opts    Options
	log     *slog.Logger
	sources []*scheduledSource
	reg     *prometheus.Registry
	metrics *metrics

	// slots bounds the runs in progress: a run holds one from its start to its end, so len(slots) is
	// the number of runs in progress.
	slots chan struct{}
	// stopping is done once shutdown begins (its cause says why): no run starts any more.
	stopping  context.Context
	beginStop context.CancelCauseFunc

	ready ttlcache.Value[struct{}] // /readyz's checks, read at most every readyCacheTTL
}

// scheduledSource is one configured source, how to sync it and its schedules.
type scheduledSource struct {
	cfg   config.Source
	sync  func(ctx context.Context, kind string) (syncer.Result, error) // one run: its syncer.Runner over the store
	log   *slog.Logger
	sched cron.Schedule
	head  cron.Schedule // head walks; nil: none
}

// New builds a daemon for cfg (validated: see config.Config.Validate) over st, which the caller closes
// after Run returns.
func New(cfg *config.Config, st *store.Store, opts Options) (*Daemon, error) {
	if len(cfg.Sources) == 0 {
		return nil, errors.New("daemon: no source configured")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	concurrency := min(cmp.Or(cfg.Concurrency, config.DefaultConcurrency), len(cfg.Sources))
	// A run holds one connection of the pool from start to end: keep one for /readyz and /metrics.
	if pool := st.PoolSize(); concurrency >= pool {
		log.Warn("concurrency lowered to leave a database connection for health checks and metrics; "+
			"raise pool_max_conns in the database URL to sync more sources at once",
			"concurrency", concurrency, "pool_max_conns", pool, "effective_concurrency", max(pool-1, 1))
		concurrency = max(pool-1, 1)
	}
	d := newDaemon(cfg, log, concurrency)
	d.store, d.opts = st, opts
	names := make([]string, 0, len(cfg.Sources))
	for _, sc := range cfg.Sources {
		names = append(names, sc.Name)
	}
	d.ready = ttlcache.Value[struct{}]{TTL: readyCacheTTL, Load: d.checkReady}
	d.metrics = newMetrics(d.reg, st, names, cfg.MetricsDetail, log)
	for _, sc := range cfg.Sources {
		srcLog := log.With("source", sc.Name)
		m := d.metrics
		runner, err := syncer.NewRunner(cfg, sc, syncer.Hooks{
			HTTPClient: opts.HTTPClient,
			Logger:     log,
			OnResponse: func(status int) { m.request(sc.Name, status) },
		})
		if err != nil {
			return nil, fmt.Errorf("daemon: source %s: %w", sc.Name, err)
		}
		d.metrics.watchRate(sc.Name, runner.Client.Rate)
		d.sources = append(d.sources, &scheduledSource{cfg: sc, log: srcLog,
			sync: func(ctx context.Context, kind string) (syncer.Result, error) { return runner.Run(ctx, st, kind) }})
	}
	return d, nil
}

// newDaemon is a daemon before its sources, store and metrics: its lifecycle, with slots for
// concurrency runs at once.
func newDaemon(cfg *config.Config, log *slog.Logger, concurrency int) *Daemon {
	d := &Daemon{
		cfg:   cfg,
		log:   log,
		reg:   prometheus.NewRegistry(),
		slots: make(chan struct{}, concurrency),
	}
	d.stopping, d.beginStop = context.WithCancelCause(context.Background())
	return d
}

// Run serves HTTP, applies migrations if asked, and syncs every source on its schedule until ctx is
// done; then it shuts down in order (see Daemon) and returns nil. It returns an error if it cannot
// start (the HTTP address is taken, a migration fails) or if the HTTP server fails.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.beginStop(errRunReturned) // whichever way Run returns, the daemon is no longer ready
	ln := d.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", d.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("http: %w", err)
		}
	}
	srv := newServer(d.Handler())
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	endpoints := "/healthz /readyz /metrics"
	if d.opts.Index != nil {
		endpoints = "/ (status page) " + endpoints
	}
	d.log.Info("http serving", "addr", ln.Addr().String(), "url", browseURL(ln.Addr()), "endpoints", endpoints)
	if msg := exposureWarning(ln.Addr(), d.cfg.HTTPToken); msg != "" {
		d.log.Warn(msg, "addr", ln.Addr().String())
	}

	// Runs get a context of their own: the signal stops the scheduler, and only the end of the grace
	// period cancels them.
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)

	if err := d.prepare(ctx); err != nil {
		d.closeHTTP(srv)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	c, err := d.scheduler(runCtx)
	if err != nil {
		d.closeHTTP(srv)
		return err
	}
	c.Start()
	d.log.Info("daemon started", "sources", len(d.sources), "concurrency", cap(d.slots),
		"timezone", c.Location().String(), "run_at_start", d.cfg.RunAtStart, "shutdown_grace", d.cfg.ShutdownGrace)
	now := time.Now().In(c.Location())
	for _, s := range d.sources {
		s.log.Info("source scheduled", "schedule", s.cfg.Schedule, "next_run", s.sched.Next(now), "head_schedule", d.cfg.HeadSchedule)
	}

	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "cause", context.Cause(ctx))
		d.shutdown(c, context.Cause(ctx), cancelRuns)
	case err = <-httpErr:
		err = fmt.Errorf("http: %w", err)
		d.log.Error("http server failed; shutting down", "error", err)
		d.shutdown(c, err, cancelRuns)
	}
	d.closeHTTP(srv)
	d.log.Info("daemon stopped")
	return err
}

// scheduler is the scheduler of every source's attempts, not started: runs get runCtx.
func (d *Daemon) scheduler(runCtx context.Context) (*cron.Cron, error) {
	logger := cronLogger{d.log}
	c := cron.New(
		cron.WithLocation(cmp.Or(d.cfg.Location, time.UTC)),
		cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)),
	)
	for _, s := range d.sources {
		sched, err := cron.ParseStandard(s.cfg.Schedule) // cron.New's parser
		if err != nil {                                  // config.Validate parses schedules the same way: not expected
			return nil, fmt.Errorf("source %s: schedule %q: %w", s.cfg.Name, s.cfg.Schedule, err)
		}
		s.sched = sched
		var ticks cron.Schedule = sched
		if d.cfg.RunAtStart {
			ticks = &tickAtStart{Schedule: sched}
		}
		c.Schedule(ticks, cron.FuncJob(func() { d.runOnce(runCtx, s, store.KindFull) }))
		if d.cfg.HeadSchedule != "" && d.cfg.HeadSchedule != config.HeadScheduleOff {
			head, err := cron.ParseStandard(d.cfg.HeadSchedule)
			if err != nil { // config.Validate parses it the same way: not expected
				return nil, fmt.Errorf("head schedule %q: %w", d.cfg.HeadSchedule, err)
			}
			s.head = head
			// Its own entry (SkipIfStillRunning per entry); the source's lock keeps it from overlapping
			// a full walk, which it then skips.
			c.Schedule(head, cron.FuncJob(func() { d.runOnce(runCtx, s, store.KindHead) }))
		}
	}
	if d.store != nil && (d.cfg.LedgerKeepNoop > 0 || d.cfg.LedgerKeep > 0) {
		// At start, then every pruneInterval: a daemon restarted more often still prunes.
		c.Schedule(&tickAtStart{Schedule: cron.Every(pruneInterval)}, cron.FuncJob(d.pruneLedger))
	}
	return c, nil
}

// pruneInterval is how often the daemon prunes the run ledger (and once at start); pruneTimeout
// bounds one pruning. Issue 26's River scheduling is to make this a leader-only periodic job; until
// then every replica prunes on its timer, and the advisory lock each batch takes (store.PruneLedger)
// keeps two replicas from pruning at the same moment.
const (
	pruneInterval = 10 * time.Minute
	pruneTimeout  = 5 * time.Minute
)

// pruneLedger deletes the runs the retention settings no longer keep (store.PruneLedger: small
// batches, one replica at a time through an advisory lock). Shutdown stops it between two batches.
func (d *Daemon) pruneLedger() {
	ctx, cancel := context.WithTimeout(d.stopping, pruneTimeout)
	defer cancel()
	started := time.Now()
	res, err := d.store.PruneLedger(ctx, store.LedgerRetention{KeepNoop: d.cfg.LedgerKeepNoop, Keep: d.cfg.LedgerKeep})
	d.metrics.pruned.WithLabelValues("noop").Add(float64(res.Noop))
	d.metrics.pruned.WithLabelValues("other").Add(float64(res.Other))
	switch {
	case err != nil && d.isStopping():
		d.log.Info("ledger pruning stopped by shutdown", "runs_deleted", res.Noop+res.Other)
	case err != nil:
		d.log.Warn("ledger pruning failed; the next one, in "+pruneInterval.String()+", goes on",
			"error", err, "runs_deleted", res.Noop+res.Other)
	case res.Noop+res.Other > 0:
		d.log.Info("ledger pruned", "noop_runs_deleted", res.Noop, "other_runs_deleted", res.Other,
			"batches", res.Batches, "took", time.Since(started).Round(time.Millisecond))
	case res.Busy:
		d.log.Debug("ledger pruning left to another replica, which holds the pruning lock")
	}
}

// prepare applies pending migrations, or warns that some are pending.
func (d *Daemon) prepare(ctx context.Context) error {
	if !d.opts.Migrate {
		if pending, err := d.store.MigrationsPending(ctx); err == nil && pending {
			d.log.Warn("migrations are pending and --no-migrate is set: runs will fail until `indexer migrate up` is run")
		}
		return nil
	}
	res, err := d.store.MigrateUp(ctx)
	for _, r := range res {
		d.log.Info("migration applied", "migration", r.Name, "duration", r.Duration)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// shutdown drains and, once the grace period is over, cancels (see Daemon): it stops the scheduler
// and begins stopping with cause, waits for the attempts in progress up to the grace period, then
// cancels the runs' context and waits for the runs to record their outcome.
func (d *Daemon) shutdown(c *cron.Cron, cause error, cancelRuns context.CancelCauseFunc) {
	attempts := c.Stop() // no new tick; done once every attempt the scheduler started has returned
	d.beginStop(cause)   // attempts that have not started a run give up; /readyz answers 503
	grace := time.NewTimer(d.cfg.ShutdownGrace)
	defer grace.Stop()
	if n := len(d.slots); n > 0 {
		d.log.Info("waiting for the runs in flight", "runs", n, "grace", d.cfg.ShutdownGrace)
	}
	select {
	case <-attempts.Done():
		return
	case <-grace.C:
	}
	d.log.Warn("grace period over: cancelling the runs in flight", "grace", d.cfg.ShutdownGrace)
	cancelRuns(ErrShutdown)
	select {
	case <-attempts.Done():
	case <-time.After(recordTimeout):
		d.log.Error("runs did not end after being cancelled; the next run of their source will close them",
			"waited", recordTimeout)
	}
}

func (d *Daemon) closeHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		d.log.Warn("http shutdown", "error", err)
	}
}

// isStopping says whether shutdown has begun.
func (d *Daemon) isStopping() bool { return d.stopping.Err() != nil }

// errRunReturned is the cause of stopping when Run returns without a shutdown (it could not start).
var errRunReturned = errors.New("daemon: Run returned")

// tickAtStart is a schedule whose first tick is when the scheduler starts, then the ticks of
// Schedule: the run at start is an attempt of the scheduler like any other. Only the scheduler's
// goroutine calls Next.
type tickAtStart struct {
	cron.Schedule
	ticked bool
}

func (s *tickAtStart) Next(t time.Time) time.Time {
	if !s.ticked {
		s.ticked = true
		return t
	}
	return s.Schedule.Next(t)
}

// maxJitter caps the random wait before a run; it is also at most a tenth of the schedule's interval.
const maxJitter = 3 * time.Second

// jitter draws the random wait before a run of a source on sched.
func jitter(sched cron.Schedule, now time.Time) time.Duration {
	if sched == nil {
		return 0
	}
	next := sched.Next(now)
	interval := sched.Next(next).Sub(next)
	if limit := min(interval/10, maxJitter); limit > 0 {
		return rand.N(limit)
	}
	return 0
}

// runOnce is one attempt: after its jitter, when a slot is free, it runs one sync of s of the given
// kind (store.KindFull or store.KindHead) under ctx, the runs' context, unless stopping is done first.
func (d *Daemon) runOnce(ctx context.Context, s *scheduledSource, kind string) {
	// Replicas tick at the same instants: a short random wait lets a different one win the source's
	// lock each time, so that they share the work, and spreads the requests of sources that share a
	// schedule.
	sched := s.sched
	if kind == store.KindHead {
		sched = s.head
	}
	if j := jitter(sched, time.Now()); j > 0 {
		t := time.NewTimer(j)
		defer t.Stop()
		select {
		case <-t.C:
		case <-d.stopping.Done():
			return
		}
	}
	select {
	case d.slots <- struct{}{}:
	case <-d.stopping.Done():
		return
	}
	defer func() { <-d.slots }()
	if d.isStopping() { // both were ready and select chose the slot
		return
	}
	// A panic must not reach the scheduler's SkipIfStillRunning, which would then skip the source for
	// ever. (The syncer recovers its own panics and records them; this is for the rest.)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in a run", "panic", p, "stack", string(debug.Stack()))
			d.metrics.counter(kind).WithLabelValues(s.cfg.Name, store.StateFailed).Inc()
		}
	}()

	started := time.Now()
	res, err := s.sync(ctx, kind)
	if errors.Is(err, store.ErrSourceBusy) {
		// A run lasts at most the run timeout; a holder that died loses the lock within the lease.
		expected := cmp.Or(d.cfg.RunTimeout, time.Hour) + store.DefaultLockLease
		var busy *store.BusyError
		if errors.As(err, &busy) && time.Since(busy.StartedAt) > expected {
			s.log.Warn("source skipped: another run has held its lock for longer than a run may last; is it stuck?",
				"kind", kind, "held_for", time.Since(busy.StartedAt).Round(time.Second), "expected_at_most", expected,
				"holder_run_id", busy.RunID, "holder_host", busy.Host, "holder_pid", busy.PID)
		} else {
			s.log.Debug("source is being synced by another run (another replica, or a full and a head walk); skipped",
				"kind", kind, "reason", err.Error())
		}
		d.metrics.counter(kind).WithLabelValues(s.cfg.Name, stateSkipped).Inc()
		return
	}
	d.metrics.observe(s.cfg.Name, kind, res, time.Since(started))
}

// browseURL is the URL to open for a listen address: localhost when it listens on every interface.
func browseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
