package syncer_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

var (
	freshJobs    = flag.Int("freshness.jobs", 3000, "jobs of the tenant in TestHeadWalkFreshness (e.g. 100000 by hand)")
	freshActive  = flag.Int("freshness.active", 100, "jobs in a status that is not final at the start")
	freshMinutes = flag.Int("freshness.minutes", 20, "simulated minutes")
)

// simClock is the simulated time shared by the simulator (when statuses change) and the syncs (when
// a history version starts).
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type freshnessResult struct {
	name                 string
	requests             int
	fullWalks, headWalks int
	changes, missed      int
	p50, p95, max        time.Duration
}

func (r freshnessResult) String() string {
	return fmt.Sprintf("%-34s %5d requests/h (%2d full, %2d head walks): %d status changes, lag p50 %s p95 %s max %s, %d never recorded",
		r.name, r.requests, r.fullWalks, r.headWalks, r.changes, r.p50, r.p95, r.max, r.missed)
}

// TestHeadWalkFreshness runs a busy tenant over simulated time: new jobs and status transitions of
// active jobs every few seconds, full walks every 15 minutes and head walks every minute; then full
// walks alone with the same request budget. It reports requests per hour and the lag between each
// status change and the valid_from of the history version that recorded it, and checks that with
// head walks the p95 lag is at most the head interval (plus the 5 s granularity of the workload) at
// under 10% of the requests of full walks every minute. By hand, at scale:
//
//	go test ./internal/syncer -run TestHeadWalkFreshness -v -freshness.jobs=100000 -freshness.minutes=60
func TestHeadWalkFreshness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	withHead := runFreshness(t, f, "full every 15m + head every 1m", 15*time.Minute, time.Minute)
	perFull := withHead.fullRequests / max(withHead.fulls, 1)
	// Full walks alone, with the same requests per hour (the interval in whole ticks of the workload).
	interval := time.Duration(float64(time.Hour) * float64(perFull) / float64(withHead.requests))
	interval = max(interval.Round(5*time.Second), 5*time.Second)
	alone := runFreshness(t, f, fmt.Sprintf("full walks alone every %s", interval.Round(time.Second)), interval, 0)
	minuteFull := 60 * perFull
	t.Logf("%d jobs, %d active at the start, %d simulated minutes:", *freshJobs, *freshActive, *freshMinutes)
	t.Logf("  %s", withHead.freshnessResult)
	t.Logf("  %s", alone.freshnessResult)
	t.Logf("  full walks every minute would need %d requests/h; with head walks: %.1f%% of that", minuteFull,
		100*float64(withHead.requests)/float64(minuteFull))
	if withHead.p95 > time.Minute+5*time.Second {
		t.Errorf("p95 lag with head walks %s, want at most the head interval plus 5 s", withHead.p95)
	}
	if float64(withHead.requests) >= 0.10*float64(minuteFull) && *freshJobs >= 10_000 {
		t.Errorf("head walks took %d requests/h, not under 10%% of %d", withHead.requests, minuteFull)
	}
	if alone.p95 <= withHead.p95 {
		t.Errorf("full walks alone lag less (%s) than with head walks (%s)", alone.p95, withHead.p95)
	}
}

type freshnessRun struct {
	freshnessResult
	fullRequests, fulls int // over the whole run
}

func runFreshness(t *testing.T, f *fixture, name string, fullEvery, headEvery time.Duration) freshnessRun {
	t.Helper()
	clock := &simClock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	sim := simulator.New(simulator.Options{Jobs: *freshJobs, Seed: 5, Now: clock.Now, Epoch: clock.Now()})
	// A realistic tenant: all but a few jobs ended long ago.
	rng := rand.New(rand.NewPCG(5, 6))
	var active []int64 // the jobs in a status that is not final, which the workload moves on
	for _, j := range sim.Jobs() {
		if !finalStatus(j.Status) && len(active) < *freshActive {
			active = append(active, j.ID)
			continue
		}
		if !finalStatus(j.Status) {
			sim.SetStatus(j.ID, 10, 0)
		}
	}
	for len(active) < *freshActive {
		active = append(active, sim.CreateJob().ID)
	}
	sim.ResetTransitions()
	// The client signs with the simulated time too: the simulator checks x-sdk-date against it.
	src, err := newSourceAt(fmt.Sprintf("fresh-%d", time.Now().UnixNano()), sim, fetch.AuthAKSK, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	opts := options(src.name)
	opts.Now = clock.Now
	opts.PageConcurrency = 4
	if _, err := f.sync(src.client, opts); err != nil {
		t.Fatalf("initial sync: %v", err)
	}
	sim.ResetStats()
	sim.ResetTransitions()
	start := clock.Now()

	var res freshnessRun
	res.name = name
	next := func(st int) int { // the life of an active job: INIT, WAITING, RUNNING, then an end
		switch st {
		case 1:
			return 7
		case 7:
			return 8
		}
		return []int{10, 10, 10, 10, 10, 10, 10, 11, 11, 12}[rng.IntN(10)]
	}
	const tick = 5 * time.Second
	head := headEvery
	for elapsed := time.Duration(0); elapsed < time.Duration(*freshMinutes)*time.Minute; elapsed += tick {
		clock.add(tick)
		// About 2 new jobs a minute; each active job moves on after 5 minutes on average.
		if rng.Float64() < 2*tick.Minutes() {
			active = append(active, sim.CreateJob().ID)
		}
		active = slices.DeleteFunc(active, func(id int64) bool {
			j, ok := sim.Job(id)
			if !ok || finalStatus(j.Status) {
				return true
			}
			if rng.Float64() < tick.Minutes()/5 {
				to := next(j.Status)
				sim.SetStatus(id, to, tick)
				return finalStatus(to)
			}
			return false
		})
		now := elapsed + tick
		switch {
		case now%fullEvery == 0:
			before := sim.Stats()
			if _, err := f.sync(src.client, opts); err != nil && !isPartial(err) {
				t.Fatalf("full walk: %v", err)
			}
			after := sim.Stats()
			res.fullRequests += after.ListRequests + after.DetailRequests - before.ListRequests - before.DetailRequests
			res.fulls++
			res.fullWalks++
		case head > 0 && now%head == 0:
			h := opts
			h.Kind = store.KindHead
			if _, err := f.sync(src.client, h); err != nil && !isPartial(err) {
				t.Fatalf("head walk: %v", err)
			}
			res.headWalks++
		}
	}
	st := sim.Stats()
	hours := clock.Now().Sub(start).Hours()
	res.requests = int(float64(st.ListRequests+st.DetailRequests) / hours)
	res.changes, res.missed, res.p50, res.p95, res.max = lags(t, f, src.name, sim.Transitions())
	res.fullWalks = int(float64(res.fullWalks) / hours)
	res.headWalks = int(float64(res.headWalks) / hours)
	return res
}

func isPartial(err error) bool { return err != nil && errors.Is(err, syncer.ErrPartial) }

// lags measures, for each status change (not creations), how long after it the history opened a
// version in the new status; changes overtaken by another before any sync saw them are "missed".
func lags(t *testing.T, f *fixture, source string, trs []simulator.Transition) (changes, missed int, p50, p95, mx time.Duration) {
	t.Helper()
	var ds []time.Duration
	for _, tr := range trs {
		if tr.From < 0 {
			continue
		}
		changes++
		var from *time.Time
		err := f.db.QueryRow(context.Background(), `
			SELECT min(valid_from) FROM modelarts.visualization_job_history
			WHERE source = $1 AND job_id = $2 AND status = $3 AND valid_from >= $4`,
			source, tr.JobID, tr.To, tr.At).Scan(&from)
		if err != nil {
			t.Fatal(err)
		}
		if from == nil {
			missed++
			continue
		}
		ds = append(ds, from.Sub(tr.At))
	}
	if len(ds) == 0 {
		return changes, missed, 0, 0, 0
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return changes, missed, q(0.5), q(0.95), ds[len(ds)-1]
}
