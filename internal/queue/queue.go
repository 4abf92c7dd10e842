// Package queue schedules and distributes the indexer's runs through River
// (github.com/riverqueue/river), the PostgreSQL job queue, over the store's pool: every tick of a
// source's full and head schedules becomes one River job for the whole fleet (River's periodic jobs,
// enqueued by the elected leader only), unique per source and kind while it is queued or running, and
// whichever replica has a free worker runs it. River's tables live in their own schema (Schema),
// migrated by Migrate.
//
// The exclusion of two runs of one source is not River's: it is the store's lease
// (modelarts.source_leases), which also covers `indexer sync`. River's uniqueness only keeps the
// queue from holding the same work twice.
package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/robfig/cron/v3"
)

// DefaultSchema is the PostgreSQL schema of River's tables.
const DefaultSchema = "river"

// Name is the River queue of the indexer's runs.
const Name = "vizjob"

// SyncKind is the River job kind of one run of one source (river_job.kind).
const SyncKind = "vizjob_sync"

// SyncArgs are a run's job arguments (river_job.args): the source and the kind of run (full or
// head), both part of the job's uniqueness.
type SyncArgs struct {
	Source  string `json:"source" river:"unique"`
	RunKind string `json:"run_kind" river:"unique"`
}

// Kind is River's kind of the job.
func (SyncArgs) Kind() string { return SyncKind }

// uniqueStates are the states in which a run's job keeps the next tick of the same source and kind
// out of the queue: queued (available, scheduled, pending), running, or waiting for a retry.
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable,
}

// RunFunc runs one sync of source of the given kind under ctx. An error means the run failed (it is
// recorded in the ledger by the run itself); River records it on the job, which is not retried: the
// next tick runs the source again.
type RunFunc func(ctx context.Context, source, kind string) error

// Source is one configured source and its schedules.
type Source struct {
	Name string
	Full cron.Schedule // full walks
	Head cron.Schedule // head walks; nil: none
}

// Observer is told what the queue does, for metrics. Its methods must not block.
type Observer interface {
	// Enqueued: a tick of kind was enqueued, or skipped because the previous run of that source and
	// kind is still queued or running (duplicate).
	Enqueued(kind string, duplicate bool)
	// Started: a run of kind started late after the tick it was enqueued for.
	Started(kind string, late time.Duration)
}

// Options configure a Queue.
type Options struct {
	Schema     string         // River's schema; "": DefaultSchema
	Workers    int            // runs of this process at the same time
	RunAtStart bool           // the leader enqueues every source's ticks once when it is elected
	Location   *time.Location // of the cron schedules; nil: UTC
	// RescueAfter: a run's job still running after this long is taken for one whose worker died, and
	// retried elsewhere (River's rescuer). It must exceed the longest run: the run timeout plus the
	// lease. The store's lease keeps a retry from overlapping a run that is in fact alive.
	RescueAfter time.Duration
	// Lease is the store's lease of a source (store.DefaultLockLease): a run's job that has been
	// running for a lease while no run holds its source's lease is taken for dead and retried by
	// another worker (the reaper, every half lease), without waiting for RescueAfter.
	Lease time.Duration
	// FinishedRetention: finished jobs are kept this long (River's cleaner), then deleted.
	FinishedRetention time.Duration
	Logger            *slog.Logger // nil: discard; River's own lines are logged from Warn up
	Observer          Observer     // nil: none
	Run               RunFunc
	// Leased reads which sources have a live lease, for the reaper; nil: no reaper (River's rescuer
	// only).
	Leased LeasedFunc
	// Maintenance are jobs of the fleet's upkeep, each enqueued by the leader once per interval and
	// run by one worker of any replica (e.g. deleting old ledger rows in small batches).
	Maintenance []Maintenance
}

// Maintenance is one periodic job of the fleet's upkeep: Work runs once per Every for the whole
// fleet (River's leader enqueues it, unique while queued or running; any replica's worker runs it).
type Maintenance struct {
	Name  string // unique among them; the job's args ({"name": Name}, kind MaintenanceKind)
	Every time.Duration
	Work  func(ctx context.Context) error
}

// Queue is River's client over the store's pool, with the indexer's periodic jobs and workers.
type Queue struct {
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
	schema string
	log    *slog.Logger
	obs    Observer
	run    RunFunc
	leased LeasedFunc
}

// New builds the queue of sources' runs over pool (the store's). Start starts it.
func New(pool *pgxpool.Pool, sources []Source, opts Options) (*Queue, error) {
	if opts.Run == nil {
		return nil, errors.New("queue: no run function")
	}
	q := &Queue{pool: pool, schema: cmp.Or(opts.Schema, DefaultSchema), obs: opts.Observer, run: opts.Run,
		leased: opts.Leased, log: opts.Logger}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.obs == nil {
		q.obs = nopObserver{}
	}
	loc := cmp.Or(opts.Location, time.UTC)
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &syncWorker{q: q}); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	lease := cmp.Or(opts.Lease, time.Minute)
	maint := append([]Maintenance{{Name: "reap", Every: lease / 2, Work: (&reaper{q: q, lease: lease}).reap}}, opts.Maintenance...)
	byName := map[string]Maintenance{}
	for _, m := range maint {
		if _, dup := byName[m.Name]; dup || m.Work == nil || m.Every <= 0 {
			return nil, fmt.Errorf("queue: maintenance %q: a name of its own, a Work and an interval are required", m.Name)
		}
		byName[m.Name] = m
	}
	if err := river.AddWorkerSafely(workers, &maintenanceWorker{jobs: byName}); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var periodic []*river.PeriodicJob
	now := time.Now().In(loc)
	for _, s := range sources {
		fullOff := offset(s.Name, interval(s.Full, now))
		// Run at start applies to full walks, as before the queue: a head walk at start would only race
		// the full walk of the same source.
		periodic = append(periodic, q.periodic(s.Name, "full", spread(s.Full, fullOff, loc), opts.RunAtStart))
		if s.Head != nil {
			// Half an interval away from the full walk's tick, so that the two rarely meet (a head walk
			// that finds the full walk running skips).
			hi := interval(s.Head, now)
			periodic = append(periodic, q.periodic(s.Name, "head", spread(s.Head, (fullOff+hi/2)%max(hi, time.Second), loc), false))
		}
	}
	// Upkeep (the reaper first): on the leader's tick, run by any worker.
	for _, m := range maint {
		args := MaintenanceArgs{Name: m.Name}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(m.Every), func() (river.JobArgs, *river.InsertOpts) {
			return args, &river.InsertOpts{Queue: Name, MaxAttempts: 1,
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
		}, nil))
	}

	riverLog := slog.New(levelAtLeast{q.log.Handler(), slog.LevelWarn}).With("component", "river")
	cfg := &river.Config{
		Schema:                      q.schema,
		Logger:                      riverLog,
		Queues:                      map[string]river.QueueConfig{Name: {MaxWorkers: max(opts.Workers, 1)}},
		Workers:                     workers,
		PeriodicJobs:                periodic,
		JobTimeout:                  -1, // a run has its own deadline (the run timeout)
		RescueStuckJobsAfter:        cmp.Or(opts.RescueAfter, time.Hour),
		CompletedJobRetentionPeriod: cmp.Or(opts.FinishedRetention, time.Hour),
		CancelledJobRetentionPeriod: cmp.Or(opts.FinishedRetention, time.Hour),
		DiscardedJobRetentionPeriod: cmp.Or(opts.FinishedRetention, time.Hour),
		Middleware:                  []rivertype.Middleware{&insertCounter{q: q}},
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// periodic is the periodic job of one source and kind on sched.
func (q *Queue) periodic(source, kind string, sched river.PeriodicSchedule, runAtStart bool) *river.PeriodicJob {
	args := SyncArgs{Source: source, RunKind: kind}
	return river.NewPeriodicJob(sched, func() (river.JobArgs, *river.InsertOpts) {
		return args, &river.InsertOpts{Queue: Name, MaxAttempts: 2, // a rescued job runs once more
			UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
	}, &river.PeriodicJobOpts{ID: SyncKind + ":" + kind + ":" + source, RunOnStart: runAtStart})
}

// Start starts River: workers on this process, and, if it is elected leader, the periodic jobs and
// River's maintenance (rescuer, cleaner). ctx bounds the start only; Stop stops.
func (q *Queue) Start(ctx context.Context) error {
	// River stops at once (cancelling the runs) when the context given to Start is cancelled: give it
	// one that is not, and stop it with Stop or StopAndCancel.
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for the runs in progress until ctx is done (then it returns
// ctx's error and the runs go on: call StopAndCancel).
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// StopAndCancel cancels the runs in progress and waits for them to return until ctx is done.
func (q *Queue) StopAndCancel(ctx context.Context) error { return q.client.StopAndCancel(ctx) }

// syncWorker runs one tick of one source.
type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	q *Queue
}

func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return -1 }

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	w.q.obs.Started(job.Args.RunKind, time.Since(job.ScheduledAt))
	if err := w.q.run(ctx, job.Args.Source, job.Args.RunKind); err != nil {
		return river.JobCancel(err) // recorded on the job; the next tick is the retry
	}
	return nil
}

// insertCounter tells the observer which runs' jobs were inserted and which were skipped as
// duplicates, whoever inserts them (River's periodic enqueuer on the leader, mostly).
type insertCounter struct {
	river.MiddlewareDefaults
	q *Queue
}

var _ rivertype.JobInsertMiddleware = (*insertCounter)(nil)

func (m *insertCounter) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams,
	doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	res, err := doInner(ctx)
	if err != nil {
		return res, err
	}
	for _, r := range res {
		if r == nil || r.Job == nil || r.Job.Kind != SyncKind {
			continue
		}
		var a SyncArgs
		if json.Unmarshal(r.Job.EncodedArgs, &a) != nil {
			continue
		}
		m.q.obs.Enqueued(a.RunKind, r.UniqueSkippedAsDuplicate)
	}
	return res, nil
}

type nopObserver struct{}

func (nopObserver) Enqueued(string, bool)         {}
func (nopObserver) Started(string, time.Duration) {}

// levelAtLeast is a handler that drops records below min.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(a []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(a), h.min}
}

func (h levelAtLeast) WithGroup(g string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(g), h.min}
}

// interval is the time between two ticks of sched after now (at least a second).
func interval(sched cron.Schedule, now time.Time) time.Duration {
	next := sched.Next(now)
	return max(sched.Next(next).Sub(next), time.Second)
}

// offset is a source's stable place in an interval, in whole seconds: every replica computes the
// same one, so a new leader keeps the schedule, and sources spread evenly over the interval instead
// of all ticking at the same second.
func offset(source string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(source))
	secs := uint64(max(interval/time.Second, 1))
	return time.Duration(h.Sum64()%secs) * time.Second
}

// spread is sched shifted by off: a cron expression's ticks come off later (*/5 with an offset of
// 90 s ticks at 1:30, 6:30, ...); an @every schedule ticks on multiples of its delay since the epoch,
// plus off (so that it does not depend on when the leader started).
func spread(sched cron.Schedule, off time.Duration, loc *time.Location) river.PeriodicSchedule {
	return spreadSchedule{sched: sched, off: off, loc: loc}
}

type spreadSchedule struct {
	sched cron.Schedule
	off   time.Duration
	loc   *time.Location
}

func (s spreadSchedule) Next(t time.Time) time.Time {
	t = t.In(s.loc)
	if c, ok := s.sched.(cron.ConstantDelaySchedule); ok {
		return t.Add(-s.off).Truncate(c.Delay).Add(c.Delay + s.off)
	}
	return s.sched.Next(t.Add(-s.off)).Add(s.off)
}

// Count is how many runs' jobs of one kind of run are in one River state.
type Count struct {
	Kind  string // full or head
	State string // available, scheduled, pending, retryable or running
	N     int64
}

// Counts counts the runs' jobs waiting or running, by kind of run and state.
func (q *Queue) Counts(ctx context.Context) ([]Count, error) {
	// River's table, read as River's own UI does: one scan of its state index.
	rows, err := q.pool.Query(ctx, `
		SELECT coalesce(args->>'run_kind', '?'), state::text, count(*)
		FROM `+pgx.Identifier{q.schema, "river_job"}.Sanitize()+`
		WHERE kind = $1 AND state IN ('available', 'scheduled', 'pending', 'retryable', 'running')
		GROUP BY 1, 2`, SyncKind)
	if err != nil {
		return nil, fmt.Errorf("queue: count runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Count, error) {
		var c Count
		return c, r.Scan(&c.Kind, &c.State, &c.N)
	})
	if err != nil {
		return nil, fmt.Errorf("queue: count runs: %w", err)
	}
	return out, nil
}
