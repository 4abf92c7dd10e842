// Package daemon runs the indexer as a service: it syncs every configured source
// on its cron schedules through the job queue (internal/queue, River over the store's pool: one
// job per tick for the whole fleet, run by whichever replica has a free worker; at most one run per
// source across every replica through the store's per-source leases), serves /healthz, /readyz and
// /metrics, and shuts down in order: stop fetching jobs, let the runs in flight finish within a grace
// period, cancel the rest and record how they ended, close HTTP. The caller closes the store last.
// Daemon's doc comment states the lifecycle.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/queue"
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
//  1. Serving. HTTP is served, migrations applied (the indexer's, then River's), then the queue
//     starts: its workers (Config.Concurrency) run the runs' jobs of every replica, and, while this
//     replica is River's elected leader, it enqueues every source's ticks (one job per tick for the
//     fleet, each source at a stable offset within its interval, not twice while the previous one
//     of the same source and kind is queued or running).
//  2. Draining, once Run's ctx is done (a signal) or HTTP fails: stopping is done (/readyz answers
//  503. and the queue stops fetching jobs; Run waits for the runs in flight, up to
//     Config.ShutdownGrace.
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
	byName  map[string]*scheduledSource
	reg     *prometheus.Registry
	metrics *metrics
	workers int

	inFlight atomic.Int64 // runs in progress in this process
	// runs is the runs' context: only the end of the grace period cancels it (cause ErrShutdown).
	runs context.Context
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

// minPoolConns is the smallest pool the daemon runs well with: River's notifier holds one
// connection, its producer and leader election take one now and then, /readyz and /metrics one, and
// at least one run writes at a time.
const minPoolConns = 4

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
	workers := cmp.Or(cfg.Concurrency, config.DefaultConcurrency)
	// A run holds a connection only while it writes; River holds one for its notifications.
	if pool := st.PoolSize(); pool < minPoolConns {
		log.Warn("the database pool is small for the daemon: runs will wait for connections; "+
			"raise pool_max_conns in the database URL", "pool_max_conns", pool, "at_least", minPoolConns)
	}
	d := newDaemon(cfg, log, workers)
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
		s := &scheduledSource{cfg: sc, log: srcLog,
			sync: func(ctx context.Context, kind string) (syncer.Result, error) { return runner.Run(ctx, st, kind) }}
		d.sources = append(d.sources, s)
		d.byName[sc.Name] = s
	}
	return d, nil
}

// newDaemon is a daemon before its sources, store and metrics: its lifecycle, with workers runs at once.
func newDaemon(cfg *config.Config, log *slog.Logger, workers int) *Daemon {
	d := &Daemon{
		cfg:     cfg,
		log:     log,
		reg:     prometheus.NewRegistry(),
		workers: workers,
		byName:  map[string]*scheduledSource{},
		runs:    context.Background(),
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

	// Runs get a context of their own: the signal stops the queue, and only the end of the grace
	// period cancels them.
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)
	d.runs = runCtx

	if err := d.prepare(ctx); err != nil {
		d.closeHTTP(srv)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	if err := d.parseSchedules(); err != nil {
		d.closeHTTP(srv)
		return err
	}
	// The queue starts once the database answers and River's tables exist; until then the daemon
	// serves HTTP (/readyz says not ready) and tries again.
	started := make(chan *queue.Queue, 1)
	go func() { started <- d.startQueue(ctx) }()
	var q *queue.Queue
	select {
	case q = <-started:
	case err := <-httpErr:
		d.beginStop(err)
		if q = <-started; q != nil {
			_ = q.StopAndCancel(context.Background())
		}
		d.closeHTTP(srv)
		return fmt.Errorf("http: %w", err)
	}
	if q == nil { // ctx ended first
		d.closeHTTP(srv)
		d.log.Info("daemon stopped")
		return nil
	}
	loc := cmp.Or(d.cfg.Location, time.UTC)
	d.log.Info("daemon started", "sources", len(d.sources), "workers", d.workers,
		"timezone", loc.String(), "run_at_start", d.cfg.RunAtStart, "shutdown_grace", d.cfg.ShutdownGrace)
	for _, s := range d.sources {
		s.log.Debug("source scheduled", "schedule", s.cfg.Schedule, "head_schedule", d.cfg.HeadSchedule)
	}

	var err error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "cause", context.Cause(ctx))
		d.shutdown(q, context.Cause(ctx), cancelRuns)
	case err = <-httpErr:
		err = fmt.Errorf("http: %w", err)
		d.log.Error("http server failed; shutting down", "error", err)
		d.shutdown(q, err, cancelRuns)
	}
	d.closeHTTP(srv)
	d.log.Info("daemon stopped")
	return err
}

// parseSchedules parses every source's schedules.
func (d *Daemon) parseSchedules() error {
	for _, s := range d.sources {
		sched, err := cron.ParseStandard(s.cfg.Schedule)
		if err != nil { // config.Validate parses schedules the same way: not expected
			return fmt.Errorf("source %s: schedule %q: %w", s.cfg.Name, s.cfg.Schedule, err)
		}
		s.sched = sched
		if d.cfg.HeadSchedule != "" && d.cfg.HeadSchedule != config.HeadScheduleOff {
			head, err := cron.ParseStandard(d.cfg.HeadSchedule)
			if err != nil { // config.Validate parses it the same way: not expected
				return fmt.Errorf("head schedule %q: %w", d.cfg.HeadSchedule, err)
			}
			s.head = head
		}
	}
	return nil
}

// pruneInterval is how often the fleet prunes the run ledger: a maintenance job of the queue, which
// River's leader enqueues once per interval for the whole fleet and one worker runs; pruneTimeout
// bounds one pruning (the next goes on where it stopped).
const (
	pruneInterval = 10 * time.Minute
	pruneTimeout  = 5 * time.Minute
)

// pruneLedger deletes the runs the retention settings no longer keep and folds the hourly counts of
// runs of the days older than INDEXER_LEDGER_KEEP into daily ones (store.PruneLedger: small batches,
// each under an advisory lock, so that two prunings never run at once even if River ran two jobs).
// Shutdown stops it between two batches.
func (d *Daemon) pruneLedger(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pruneTimeout)
	defer cancel()
	started := time.Now()
	res, err := d.store.PruneLedger(ctx, store.LedgerRetention{KeepNoop: d.cfg.LedgerKeepNoop, Keep: d.cfg.LedgerKeep})
	d.metrics.pruned.WithLabelValues("noop").Add(float64(res.Noop))
	d.metrics.pruned.WithLabelValues("other").Add(float64(res.Other))
	d.metrics.folded.Add(float64(res.FoldedHours))
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		d.log.Info("ledger pruning stopped at its time limit; the next one goes on", "runs_deleted", res.Noop+res.Other,
			"hours_folded", res.FoldedHours, "limit", pruneTimeout, "next_in", pruneInterval)
		return nil
	case err != nil:
		d.log.Warn("ledger pruning failed; the next one, in "+pruneInterval.String()+", goes on",
			"error", err, "runs_deleted", res.Noop+res.Other, "hours_folded", res.FoldedHours)
		return err
	case res.Noop+res.Other+res.FoldedHours > 0:
		d.log.Info("ledger pruned", "noop_runs_deleted", res.Noop, "other_runs_deleted", res.Other,
			"hours_folded", res.FoldedHours, "daily_rows_written", res.FoldedDays,
			"batches", res.Batches, "took", time.Since(started).Round(time.Millisecond))
	case res.Busy:
		d.log.Debug("ledger pruning left to another process, which holds the pruning lock")
	}
	return nil
}

// queueRetry is the wait between two attempts at starting the queue.
const queueRetry = 2 * time.Second

// startQueue builds and starts the job queue, trying again every queueRetry while the database
// does not answer or River's tables are missing (logged once, and once when it recovers). It returns
// nil if ctx ends first.
func (d *Daemon) startQueue(ctx context.Context) *queue.Queue {
	var srcs []queue.Source
	for _, s := range d.sources {
		srcs = append(srcs, queue.Source{Name: s.cfg.Name, Full: s.sched, Head: s.head})
	}
	// A job still running a run timeout plus two leases after it started has lost its worker (the
	// reaper finds most such jobs within two leases: see queue.Options.Lease).
	rescue := cmp.Or(d.cfg.RunTimeout, time.Hour) + 2*store.DefaultLockLease
	opts := queue.Options{
		Workers:     d.workers,
		RunAtStart:  d.cfg.RunAtStart,
		Location:    d.cfg.Location,
		RescueAfter: rescue,
		Lease:       store.DefaultLockLease,
		Logger:      d.log,
		Observer:    d.metrics.queue,
		Run:         d.runOne,
		Leased:      d.store.LeasedSources,
	}
	if d.cfg.LedgerKeepNoop > 0 || d.cfg.LedgerKeep > 0 {
		opts.Maintenance = append(opts.Maintenance, queue.Maintenance{Name: "prune-ledger", Every: pruneInterval, Work: d.pruneLedger})
	}
	failing := false
	for {
		err := d.queuePending(ctx)
		var q *queue.Queue
		if err == nil {
			q, err = queue.New(d.store.Pool(), srcs, opts)
		}
		if err == nil {
			if err = q.Start(ctx); err == nil {
				if failing {
					d.log.Info("the job queue started")
				}
				d.metrics.watchQueue(q)
				return q
			}
		}
		if !failing {
			d.log.Error("cannot start the job queue; trying again until it starts", "error", err, "every", queueRetry)
			failing = true
		}
		t := time.NewTimer(queueRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// queuePending returns an error while River's tables are missing or not up to date.
func (d *Daemon) queuePending(ctx context.Context) error {
	pending, err := queue.Pending(ctx, d.store.Pool(), queue.DefaultSchema)
	if err != nil {
		return err
	}
	if pending {
		return fmt.Errorf("the job queue's tables (River, schema %s) are missing or not up to date: run `indexer migrate up`", queue.DefaultSchema)
	}
	return nil
}

// prepare applies pending migrations (the indexer's, then River's), or warns that some are pending.
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
	river, err := queue.MigrateUp(ctx, d.store.Pool(), queue.DefaultSchema)
	for _, m := range river {
		d.log.Info("river migration applied", "version", m.Version, "name", m.Name, "schema", queue.DefaultSchema)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// shutdown drains and, once the grace period is over, cancels (see Daemon): it begins stopping with
// cause, stops the queue (no new job fetched) and waits for the runs in progress up to the grace
// period, then cancels the runs' context and waits for the runs to record their outcome.
func (d *Daemon) shutdown(q *queue.Queue, cause error, cancelRuns context.CancelCauseFunc) {
	d.beginStop(cause) // /readyz answers 503
	if n := d.inFlight.Load(); n > 0 {
		d.log.Info("waiting for the runs in flight", "runs", n, "grace", d.cfg.ShutdownGrace)
	}
	graceCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
	err := q.Stop(graceCtx)
	cancel()
	if err == nil {
		return
	}
	d.log.Warn("grace period over: cancelling the runs in flight", "grace", d.cfg.ShutdownGrace, "runs", d.inFlight.Load())
	cancelRuns(ErrShutdown)
	recordCtx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := q.StopAndCancel(recordCtx); err != nil {
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

// runOne is one job of the queue: one sync of the named source of the given kind (store.KindFull or
// store.KindHead) under ctx (River's, cancelled if River stops hard) and the runs' context (cancelled
// with ErrShutdown when the grace period ends). A source that another run holds is skipped and
// counted. It returns the run's error, which River records on the job.
func (d *Daemon) runOne(ctx context.Context, source, kind string) (err error) {
	s := d.byName[source]
	if s == nil { // a job of a source that another replica's configuration has and this one's not
		d.log.Warn("a queued run is of a source this replica does not know: skipped; give every replica the same sources",
			"source", source, "kind", kind)
		d.metrics.counter(kind).WithLabelValues(source, stateUnknownSource).Inc()
		return nil
	}
	if d.isStopping() {
		return nil
	}
	// The run's context is the runs' context (cancelled with ErrShutdown at the end of the grace
	// period, synchronously, so that the run records that cause) and ends as well with River's.
	jobCtx := ctx
	ctx, cancel := context.WithCancelCause(d.runs)
	defer cancel(nil)
	stop := context.AfterFunc(jobCtx, func() { cancel(context.Cause(jobCtx)) })
	defer stop()
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	d.metrics.queue.running(kind, 1)
	defer d.metrics.queue.running(kind, -1)
	// A panic must not take the worker down. (The syncer recovers its own panics and records them;
	// this is for the rest.)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in a run", "panic", p, "stack", string(debug.Stack()))
			d.metrics.counter(kind).WithLabelValues(s.cfg.Name, store.StateFailed).Inc()
			err = fmt.Errorf("panic in a run: %v", p)
		}
	}()

	started := time.Now()
	res, err := s.sync(ctx, kind)
	if errors.Is(err, store.ErrSourceBusy) {
		// A run lasts at most the run timeout; a holder that died loses the lease within it.
		expected := cmp.Or(d.cfg.RunTimeout, time.Hour) + store.DefaultLockLease
		var busy *store.BusyError
		if errors.As(err, &busy) && time.Since(busy.StartedAt) > expected {
			s.log.Warn("source skipped: another run has held its lease for longer than a run may last; is it stuck?",
				"kind", kind, "held_for", time.Since(busy.StartedAt).Round(time.Second), "expected_at_most", expected,
				"holder_run_id", busy.RunID, "holder_host", busy.Host, "holder_pid", busy.PID)
		} else {
			s.log.Debug("source is being synced by another run (another replica, indexer sync, or a full and a head walk); skipped",
				"kind", kind, "reason", err.Error())
		}
		d.metrics.counter(kind).WithLabelValues(s.cfg.Name, stateSkipped).Inc()
		return nil
	}
	d.metrics.observe(s.cfg.Name, kind, res, time.Since(started))
	return err
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
