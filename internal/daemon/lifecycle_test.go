package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

// The lifecycle (see Daemon) on synctest's clock: the real scheduler, jitter, slots and shutdown over
// fake syncs, with no database and no network, so that every duration is exact and nothing waits on
// the wall clock.

// fakeSyncs stands for the syncs of every source: each run does body and is recorded.
type fakeSyncs struct {
	body func(ctx context.Context) error

	mu       sync.Mutex
	started  []string // the sources of the runs, in the order they started
	inFlight int
	peak     int     // most runs in progress at once
	causes   []error // context.Cause of each ended run's context (nil: not cancelled)
	ended    time.Time
}

func (f *fakeSyncs) sync(source string) func(context.Context, string) (syncer.Result, error) {
	return func(ctx context.Context, kind string) (syncer.Result, error) {
		f.mu.Lock()
		f.started = append(f.started, source)
		f.inFlight++
		f.peak = max(f.peak, f.inFlight)
		f.mu.Unlock()
		err := f.body(ctx)
		f.mu.Lock()
		f.inFlight--
		f.causes = append(f.causes, context.Cause(ctx))
		f.ended = time.Now()
		f.mu.Unlock()
		state := store.StateSucceeded
		if err != nil {
			state = store.StateFailed
		}
		return syncer.Result{RunID: 1, RunStats: store.RunStats{State: state}}, err
	}
}

func (f *fakeSyncs) runs() (started []string, peak int, causes []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.started...), f.peak, append([]error(nil), f.causes...)
}

// lifecycleDaemon is a daemon over f, with slots for concurrency runs, its scheduler started; stop
// shuts it down as Run does when its context is done. Call it inside the bubble.
func lifecycleDaemon(t *testing.T, cfg *config.Config, concurrency int, f *fakeSyncs) (d *Daemon, logs *lockedBuffer, stop func()) {
	t.Helper()
	logs = &lockedBuffer{}
	log := testLogger(logs)
	d = newDaemon(cfg, log, concurrency)
	var names []string
	for _, sc := range cfg.Sources {
		names = append(names, sc.Name)
		d.sources = append(d.sources, &scheduledSource{cfg: sc, log: log.With("source", sc.Name), sync: f.sync(sc.Name)})
	}
	d.metrics = newMetrics(d.reg, nil, names, false, log)
	runCtx, cancelRuns := context.WithCancelCause(context.Background())
	c, err := d.scheduler(runCtx)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	return d, logs, func() {
		d.shutdown(c, errors.New("test: signal"), cancelRuns)
		cancelRuns(nil)
	}
}

func lifecycleConfig(t *testing.T, schedule string, sources ...string) *config.Config {
	t.Helper()
	var scs []config.Source
	for _, s := range sources {
		scs = append(scs, simSource(s, "http://127.0.0.1:1", schedule))
	}
	return testConfig(t, scs...)
}

// A run that outlives the grace period is cancelled exactly when it ends, with the cause ErrShutdown,
// and shutdown returns once it has returned; an attempt still waiting for a slot never starts, and
// the daemon is not ready from the start of the shutdown.
func TestLifecycleCancelsAfterGrace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := lifecycleConfig(t, "@every 1h", "a", "b")
		cfg.RunAtStart = true
		cfg.ShutdownGrace = 30 * time.Second
		f := &fakeSyncs{body: func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) }}
		d, logs, stop := lifecycleDaemon(t, cfg, 1, f)

		time.Sleep(time.Minute) // both runs at start are past their jitter (at most 3 s): one runs, one waits
		synctest.Wait()
		if started, _, _ := f.runs(); len(started) != 1 {
			t.Fatalf("runs started with one slot: %v, want one", started)
		}
		if d.isStopping() {
			t.Fatal("stopping before shutdown")
		}
		begin := time.Now()
		stop()
		if took := time.Since(begin); took != cfg.ShutdownGrace {
			t.Errorf("shutdown took %s, want the grace period, %s", took, cfg.ShutdownGrace)
		}
		started, _, causes := f.runs()
		if len(started) != 1 {
			t.Errorf("runs started: %v; the attempt waiting for a slot should have given up", started)
		}
		if len(causes) != 1 || !errors.Is(causes[0], ErrShutdown) {
			t.Errorf("the run ended with causes %v, want [%v]", causes, ErrShutdown)
		}
		if !d.isStopping() {
			t.Error("not stopping after shutdown")
		}
		if logs.count("waiting for the runs in flight", `"runs":1`) != 1 || logs.count("grace period over") != 1 {
			t.Errorf("the wait for one run and the end of the grace period are not logged")
		}
		if logs.count("did not end after being cancelled") != 0 {
			t.Errorf("a run that ended when cancelled is said not to have")
		}
	})
}

// A run that ends within the grace period ends on its own: shutdown returns the moment it does, and
// nothing is cancelled.
func TestLifecycleRunEndsWithinGrace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := lifecycleConfig(t, "@every 1h", "a")
		cfg.RunAtStart = true
		cfg.ShutdownGrace = time.Minute
		f := &fakeSyncs{body: func(ctx context.Context) error {
			select {
			case <-time.After(20 * time.Second):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}}
		_, logs, stop := lifecycleDaemon(t, cfg, 1, f)

		time.Sleep(10 * time.Second) // the run at start began within 3 s and lasts 20 s
		synctest.Wait()
		stop()
		started, _, causes := f.runs()
		if len(started) != 1 || len(causes) != 1 || causes[0] != nil {
			t.Errorf("runs %v ended with causes %v, want one run, not cancelled", started, causes)
		}
		f.mu.Lock()
		ended := f.ended
		f.mu.Unlock()
		if !time.Now().Equal(ended) {
			t.Errorf("shutdown returned %s after the run ended, want at once", time.Since(ended))
		}
		if logs.count("grace period over") != 0 {
			t.Errorf("the grace period is said to be over")
		}
	})
}

// The run at start is the first tick of the source's schedule: the scheduler skips the next tick while
// it is still in progress, never runs the source twice at once, and shutdown waits for it. Without
// RunAtStart the first run is at the schedule's first tick.
func TestLifecycleRunAtStartIsATick(t *testing.T) {
	t.Parallel()
	for _, atStart := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			cfg := lifecycleConfig(t, "@every 10s", "a")
			cfg.RunAtStart = atStart
			cfg.ShutdownGrace = time.Minute
			f := &fakeSyncs{body: func(ctx context.Context) error {
				select {
				case <-time.After(15 * time.Second):
					return nil
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}}
			_, logs, stop := lifecycleDaemon(t, cfg, 1, f)

			time.Sleep(5 * time.Second)
			synctest.Wait()
			started, _, _ := f.runs()
			if want := map[bool]int{true: 1, false: 0}[atStart]; len(started) != want {
				t.Fatalf("RunAtStart %v: %d runs in the first 5 s, want %d", atStart, len(started), want)
			}
			// With RunAtStart: runs from about 0 s and 20 s, the ticks at 10 s and 30 s skipped.
			// Without: from about 10 s and 30 s, the tick at 20 s skipped.
			time.Sleep(30 * time.Second)
			synctest.Wait()
			stop()
			started, peak, causes := f.runs()
			if len(started) != 2 || peak != 1 {
				t.Errorf("RunAtStart %v: %d runs in 35 s, at most %d at once; want 2, one at a time", atStart, len(started), peak)
			}
			if logs.count("scheduler: skip") < 1 {
				t.Errorf("RunAtStart %v: no tick skipped while a run was in progress", atStart)
			}
			for _, c := range causes {
				if c != nil {
					t.Errorf("RunAtStart %v: a run was cancelled (%v); shutdown should have waited for it", atStart, c)
				}
			}
		})
	}
}

// The slots bound the runs in progress, and every source gets its turn.
func TestLifecycleSlotsBoundRuns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := lifecycleConfig(t, "@every 1h", "a", "b", "c", "d", "e")
		cfg.RunAtStart = true
		f := &fakeSyncs{body: func(ctx context.Context) error {
			select {
			case <-time.After(5 * time.Second):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}}
		_, _, stop := lifecycleDaemon(t, cfg, 2, f)

		time.Sleep(time.Minute)
		synctest.Wait()
		stop()
		started, peak, _ := f.runs()
		if len(started) != 5 || peak != 2 {
			t.Errorf("%d runs (%v), at most %d at once; want 5, at most 2 at once", len(started), started, peak)
		}
	})
}
