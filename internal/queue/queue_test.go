package queue_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"

	"github.com/vizjob/indexer/internal/queue"
	"github.com/vizjob/indexer/internal/testdb"
)

// waitLong bounds waits on River's own timers (leader election, the periodic enqueuer, fetching):
// generous, for a machine under load; a passing test polls a condition and never waits that long.
const waitLong = 3 * time.Minute

type counts struct {
	enqueued, duplicates atomic.Int64
}

func (c *counts) Enqueued(_ string, dup bool) {
	if dup {
		c.duplicates.Add(1)
	} else {
		c.enqueued.Add(1)
	}
}
func (c *counts) Started(string, time.Duration) {}

type run struct {
	source, kind string
	replica      int
	start, end   time.Time
}

type ledger struct {
	mu   sync.Mutex
	runs []run
}

func (l *ledger) add(r run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, r)
}

func (l *ledger) snapshot() []run {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]run(nil), l.runs...)
}

func every(t *testing.T, spec string) cron.Schedule {
	t.Helper()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func startQueue(t *testing.T, p *pgxpool.Pool, sources []queue.Source, opts queue.Options) *queue.Queue {
	t.Helper()
	q, err := queue.New(p, sources, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = q.StopAndCancel(ctx)
	})
	return q
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitLong, what)
		}
	}
}

// Two replicas share the ticks of four sources: each tick is run once, by one of them, never two
// runs of a source at the same time; a source whose run outlasts its interval has its next ticks
// counted as duplicates instead of queued behind it.
func TestReplicasShareTicks(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	var sources []queue.Source
	for i := range 4 {
		sources = append(sources, queue.Source{Name: fmt.Sprintf("s%d", i), Full: every(t, "@every 2s")})
	}
	slow := "s3" // its run lasts 5 s: two or three of its ticks come while it runs
	var l ledger
	var obs counts
	for replica := range 2 {
		startQueue(t, pool(t, db), sources, queue.Options{
			Workers:  4,
			Observer: &obs,
			Run: func(ctx context.Context, source, kind string) error {
				r := run{source: source, kind: kind, replica: replica, start: time.Now()}
				d := 100 * time.Millisecond
				if source == slow {
					d = 5 * time.Second
				}
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
				r.end = time.Now()
				l.add(r)
				return nil
			},
		})
	}
	eventually(t, "two runs of the slow source and a duplicate tick", func() bool {
		n := 0
		for _, r := range l.snapshot() {
			if r.source == slow {
				n++
			}
		}
		return n >= 2 && obs.duplicates.Load() >= 1
	})
	runs := l.snapshot()
	perSource := map[string][]run{}
	byReplica := map[int]int{}
	for _, r := range runs {
		perSource[r.source] = append(perSource[r.source], r)
		byReplica[r.replica]++
	}
	for s, rs := range perSource {
		for i := range rs {
			for j := range rs {
				if i < j && rs[i].start.Before(rs[j].end) && rs[j].start.Before(rs[i].end) {
					t.Errorf("source %s: two runs at once (replicas %d and %d)", s, rs[i].replica, rs[j].replica)
				}
			}
		}
	}
	if int64(len(runs)) > obs.enqueued.Load() {
		t.Errorf("%d runs for %d ticks enqueued: a tick ran twice", len(runs), obs.enqueued.Load())
	}
	t.Logf("%d runs (by replica %v), %d ticks enqueued, %d counted as duplicates", len(runs), byReplica,
		obs.enqueued.Load(), obs.duplicates.Load())
}

// A run's job whose worker is gone (here: its run never returns, and no lease is held for the
// source) is handed to a worker again by the reaper after a lease, instead of keeping the source's
// ticks out of the queue until River's rescuer, an hour later.
func TestReaperHandsDeadRunsOn(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	var attempts atomic.Int64
	startQueue(t, pool(t, db), []queue.Source{{Name: "s", Full: every(t, "@every 1h")}}, queue.Options{
		Workers:     2,
		RunAtStart:  true,
		Lease:       2 * time.Second,
		RescueAfter: time.Hour,
		Leased:      func(context.Context) (map[string]bool, error) { return map[string]bool{}, nil },
		Run: func(ctx context.Context, source, kind string) error {
			if attempts.Add(1) == 1 {
				<-ctx.Done() // a worker that hangs for ever, as a dead one does
			}
			return nil
		},
	})
	eventually(t, "the dead run's job run again", func() bool { return attempts.Load() >= 2 })
}

// A replica runs at most its workers' number of runs at once, and every source gets its turn.
func TestWorkersBoundRuns(t *testing.T) {
	t.Parallel()
	db := testdb.NewMigrated(t)
	var sources []queue.Source
	for i := range 6 {
		sources = append(sources, queue.Source{Name: fmt.Sprintf("s%d", i), Full: every(t, "@every 1h")})
	}
	var now, most atomic.Int64
	var mu sync.Mutex
	ran := map[string]bool{}
	startQueue(t, pool(t, db), sources, queue.Options{
		Workers:    2,
		RunAtStart: true,
		Run: func(ctx context.Context, source, kind string) error {
			n := now.Add(1)
			defer now.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			ran[source] = true
			mu.Unlock()
			return nil
		},
	})
	eventually(t, "every source run once", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == len(sources)
	})
	if m := most.Load(); m > 2 {
		t.Errorf("%d runs at once with 2 workers", m)
	}
}
