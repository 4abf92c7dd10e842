package syncer_test

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

// totals counts what the property cases covered, for the log.
type totals struct {
	cases, syncs, walks, unverifiedWalks, partial, refused int
	heads                                                  int // head walks among the syncs
	explicit, churned                                      int // mutations
	deleted                                                int64
	deletedBy                                              map[string]int
	// Per pages dialect (simulator.Dialect.Pages): cases drawn, syncs, and runs stopped partial because
	// the pages cannot be walked as documented.
	pagesCases, pagesSyncs, pagesStopped map[string]int
}

// walkable says whether a listing of jobs jobs, perPage a page, can be walked in pages dialect mode:
// every dialect but a page parameter that is ignored (unless one page holds the listing) and pages
// counted from 0.
func walkable(mode string, jobs, perPage int) bool {
	switch mode {
	case simulator.PagesIgnore:
		return jobs <= perPage
	case simulator.PagesZeroBased:
		return jobs == 0
	}
	return true
}

// propertyChecks is the number of cases per not-found mode when -rapid.checks is not given: four
// modes, 160 cases in all, within CI's budget. Under the race detector, 20 per mode: 80 cases give
// the detector every concurrent path of a sync (prefetched pages, batches, churn during walks) many
// times over, while each case costs several times the CPU. CI runs this test both ways (.ci/run),
// so the 160 cases of the random search still run on every change.
func propertyChecks() string {
	if raceDetector {
		return "20"
	}
	return "40"
}

// TestSyncProperties drives random sources through random interleavings of
// mutations (renames and jobs that come back included), syncs during which
// the source churns (mutations between the pages of a walk), syncs without
// churn and repeated syncs, against the real client over HTTP and a real
// database, in every dialect the simulator can speak for what the API
// documentation leaves open: each answer of the detail call for a missing job
// (a subtest each), how search_content matches, whether new jobs carry a
// skewed create_time and whether the status filter is honoured (drawn per case). After every sync:
//   - no job is ever marked deleted while it exists in the source;
//   - after a sync without churn the live mirror equals the source exactly;
//   - the history invariants (see model.check);
//   - a repeated sync with nothing changed writes nothing (no row version of
//     the source's jobs or history changes);
//   - a run refusing a mass deletion refuses rightly and marks nothing.
//
// Each case is a source of its own in one shared database.
func TestSyncProperties(t *testing.T) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		if err := flag.Set("rapid.checks", propertyChecks()); err != nil {
			t.Fatal(err)
		}
	}
	t.Parallel() // after the flag is set, before rapid reads it: the longest test of the package, run alongside the others
	f := newFixture(t)
	var next atomic.Int64
	for _, notFound := range simulator.NotFoundModes() {
		t.Run("not-found="+notFound, func(t *testing.T) {
			t.Parallel()
			tot := totals{deletedBy: map[string]int{}, pagesCases: map[string]int{}, pagesSyncs: map[string]int{}, pagesStopped: map[string]int{}}
			start := time.Now()
			rapid.Check(t, func(rt *rapid.T) {
				tot.cases++
				p := &propertyCase{rt: rt, f: f, tot: &tot, m: newModel()}
				dialect := simulator.Dialect{
					NotFound:      notFound,
					Search:        rapid.SampledFrom([]string{simulator.SearchName, simulator.SearchNameDesc, simulator.SearchExact}).Draw(rt, "search"),
					CreateSkew:    rapid.SampledFrom([]time.Duration{0, 0, 2 * time.Second}).Draw(rt, "create_skew"),
					StatusIgnored: rapid.SampledFrom([]bool{false, false, true}).Draw(rt, "status_filter_ignored"),
					// The documented pages half of the time, each other answer about pages otherwise.
					Pages: rapid.SampledFrom(append(slices.Repeat([]string{simulator.PagesDocumented}, 4), simulator.PagesModes()[1:]...)).Draw(rt, "pages"),
				}
				tot.pagesCases[dialect.Pages]++
				auth := rapid.SampledFrom([]string{fetch.AuthAKSK, fetch.AuthToken}).Draw(rt, "auth")
				p.run(fmt.Sprintf("prop-%s-%04d", notFound, next.Add(1)), auth, dialect)
			})
			t.Logf("%d cases in %s: %d syncs (%d head walks), %d walks (%d not verified), %d partial runs, %d mass deletions refused; "+
				"%d mutations between syncs and %d by churn during walks; %d jobs marked deleted (by detail call %d, by name search %d, by listing %d)",
				tot.cases, time.Since(start).Round(time.Millisecond), tot.syncs, tot.heads, tot.walks, tot.unverifiedWalks, tot.partial, tot.refused,
				tot.explicit, tot.churned, tot.deleted, tot.deletedBy[syncer.ByDetail], tot.deletedBy[syncer.BySearch], tot.deletedBy[syncer.ByListing])
			for _, mode := range simulator.PagesModes() {
				t.Logf("pages=%-10s %3d cases, %3d syncs, %3d runs partial because the pages cannot be walked as documented",
					mode, tot.pagesCases[mode], tot.pagesSyncs[mode], tot.pagesStopped[mode])
			}
		})
	}
}

type propertyCase struct {
	rt      *rapid.T
	f       *fixture
	tot     *totals
	m       *model
	src     *source
	pages   string // the dialect's answer about pages
	opts    syncer.Options
	deleted []simulator.JobState // jobs deleted from the source, which may come back
}

func (p *propertyCase) run(name, auth string, dialect simulator.Dialect) {
	rt := p.rt
	sim := simulator.New(simulator.Options{
		Jobs:    rapid.IntRange(0, 300).Draw(rt, "jobs"),
		Seed:    rapid.Int64().Draw(rt, "seed"),
		Dialect: dialect,
	})
	src, err := newSource(name, sim, auth)
	if err != nil {
		rt.Fatal(err)
	}
	p.src, p.pages = src, cmp.Or(dialect.Pages, simulator.PagesDocumented)
	p.opts = options(name)
	p.opts.PerPage = rapid.SampledFrom([]int{100, 100, 50, 25, 20}).Draw(rt, "per_page")
	if rapid.IntRange(0, 3).Draw(rt, "whole_pages") == 0 {
		// Whole pages only, now and then: the end of such a listing is where the pages dialects differ.
		jobs := sim.Jobs()
		for _, j := range jobs[len(jobs)/p.opts.PerPage*p.opts.PerPage:] {
			sim.DeleteJob(j.ID)
		}
	}
	p.opts.MaxWalks = rapid.IntRange(1, 4).Draw(rt, "max_walks")
	p.opts.PageConcurrency = rapid.SampledFrom([]int{1, 4, 8}).Draw(rt, "page_concurrency") // pages fetched ahead, stored in batches
	p.opts.DeleteCheckBudget = rapid.SampledFrom([]int{25, 1000}).Draw(rt, "delete_check_budget")

	for i, n := 0, rapid.IntRange(1, 6).Draw(rt, "steps"); i < n; i++ {
		switch rapid.IntRange(0, 10).Draw(rt, "step") {
		case 9, 10: // a head walk between full walks, the source churning or not
			p.headSync(rapid.SampledFrom([]float64{0, 0, 0.5, 2}).Draw(rt, "head_churn"))
		case 0, 4:
			p.mutate(rapid.IntRange(1, 20).Draw(rt, "mutations"))
		case 5: // many jobs gone at once: the guard may refuse
			p.deleteShare(rapid.Float64Range(0.3, 1).Draw(rt, "share"))
		case 1:
			p.syncWithChurn(rapid.Float64Range(0.05, 3).Draw(rt, "churn"))
		case 2:
			p.syncClean()
		case 3, 6:
			p.syncTwice()
		case 7, 8:
			p.syncWithChurn(rapid.Float64Range(0.05, 1).Draw(p.rt, "churn"))
		}
	}
	p.syncClean() // converges once churn stops
}

// mutate changes the source between syncs as people do, now and then
// bringing a deleted job back.
func (p *propertyCase) mutate(n int) {
	rt, sim := p.rt, p.src.sim
	for range n {
		jobs := sim.Jobs()
		kind := rapid.IntRange(0, 6).Draw(rt, "kind")
		if len(jobs) == 0 && kind != 4 {
			kind = 0
		}
		switch kind {
		case 0:
			sim.CreateJob()
		case 1:
			j := jobs[rapid.IntRange(0, len(jobs)-1).Draw(rt, "delete")]
			state, _ := sim.JobState(j.ID)
			sim.DeleteJob(j.ID)
			p.deleted = append(p.deleted, state)
		case 2:
			j := jobs[rapid.IntRange(0, len(jobs)-1).Draw(rt, "status_of")]
			sim.SetStatus(j.ID, rapid.IntRange(0, 23).Draw(rt, "status"), time.Duration(rapid.IntRange(0, 3600).Draw(rt, "secs"))*time.Second)
		case 3: // the duration alone: no new version
			j := jobs[rapid.IntRange(0, len(jobs)-1).Draw(rt, "duration_of")]
			sim.UpdateJob(j.ID, func(s *simulator.JobState) { s.Duration += 60_000 })
		case 4: // a deleted job comes back
			if len(p.deleted) == 0 {
				sim.CreateJob()
				break
			}
			i := rapid.IntRange(0, len(p.deleted)-1).Draw(rt, "back")
			sim.PutJob(p.deleted[i])
			p.deleted = slices.Delete(p.deleted, i, i+1)
		case 5:
			j := jobs[rapid.IntRange(0, len(jobs)-1).Draw(rt, "desc_of")]
			sim.UpdateJob(j.ID, func(s *simulator.JobState) { s.Desc += " (edited)" })
		case 6: // a rename: a name search for the old name no longer finds it
			j := jobs[rapid.IntRange(0, len(jobs)-1).Draw(rt, "rename_of")]
			sim.UpdateJob(j.ID, func(s *simulator.JobState) { s.Name = fmt.Sprintf("renamed-%d", s.ID) })
		}
		p.tot.explicit++
	}
}

// deleteShare deletes about share of the source's jobs at once.
func (p *propertyCase) deleteShare(share float64) {
	for _, j := range p.src.sim.Jobs() {
		if rapid.Float64Range(0, 1).Draw(p.rt, "pick") < share {
			state, _ := p.src.sim.JobState(j.ID)
			p.src.sim.DeleteJob(j.ID)
			p.deleted = append(p.deleted, state)
			p.tot.explicit++
		}
	}
}

// sync runs one sync and checks what must hold after any sync.
func (p *propertyCase) sync() (syncer.Result, error) { return p.syncWith(p.opts) }

func (p *propertyCase) syncWith(opts syncer.Options) (syncer.Result, error) {
	rt := p.rt
	ctx := context.Background()
	res, err := p.f.sync(p.src.client, opts)
	p.tot.syncs++
	p.tot.walks += res.Walks
	p.tot.deleted += res.Deleted
	for k, v := range res.DeletedBy {
		p.tot.deletedBy[k] += v
	}
	if res.Walks > 0 && !res.Verified {
		p.tot.unverifiedWalks += res.Walks
	} else if res.Walks > 1 {
		p.tot.unverifiedWalks += res.Walks - 1
	}
	// The counters agree in every outcome: jobs_seen counts distinct jobs over all walks, the
	// inserted ones are among them, and the ledger row says what the result says.
	if res.RunID != 0 {
		if res.Inserted > res.JobsSeen || res.JobsSeen < 0 || res.Updated < 0 || res.Deleted < 0 {
			rt.Fatalf("inconsistent counters: %+v", res.RunStats)
		}
		if r, lerr := lastRun(ctx, p.f.db, p.src.name); lerr != nil || r.Seen != res.JobsSeen || r.Inserted != res.Inserted ||
			r.Updated != res.Updated || r.Delete != res.Deleted {
			rt.Fatalf("ledger row %+v (%v) differs from the result %+v", r, lerr, res.RunStats)
		}
	}
	p.tot.pagesSyncs[p.pages]++
	var pagesErr *fetch.PagesError
	if errors.As(err, &pagesErr) {
		// Only where the pages cannot be walked, and never in a documented dialect, even under churn.
		p.tot.pagesStopped[p.pages]++
		if p.pages != simulator.PagesIgnore && p.pages != simulator.PagesZeroBased {
			rt.Fatalf("pages=%s: a walk stopped on its pages: %v", p.pages, err)
		}
		// Walks before it may have ended (a listing that fitted one page, then grew): none after it.
		if res.State != store.StatePartial || res.Deleted != 0 {
			rt.Fatalf("pages=%s: a walk stopped on its pages recorded %+v, want partial, nothing deleted", p.pages, res)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, syncer.ErrPartial):
		p.tot.partial++
		if res.State != store.StatePartial {
			rt.Fatalf("partial run recorded %+v", res)
		}
	case errors.Is(err, syncer.ErrMassDelete):
		p.tot.refused++
		p.checkRefusal(res)
	default:
		rt.Fatalf("sync: %v (result %+v)", err, res)
	}
	jobs := p.src.sim.Jobs()
	var check error
	if opts.Kind == store.KindHead {
		check = p.m.checkAfterHead(ctx, p.f.db, p.src.name, jobs)
	} else {
		check = p.m.check(ctx, p.f.db, p.src.name, jobs, false)
	}
	if check != nil {
		rt.Fatalf("after sync %d: %v", p.tot.syncs, check)
	}
	return res, err
}

// checkRefusal: a refused run marks nothing, and refuses rightly: more than
// MaxDeleteMin live jobs, and more than MaxDeleteShare of them, are gone.
func (p *propertyCase) checkRefusal(res syncer.Result) {
	if res.Deleted != 0 || res.State != store.StateFailed {
		p.rt.Fatalf("refused run recorded %+v", res)
	}
	live, err := liveIDs(context.Background(), p.f.db, p.src.name)
	if err != nil {
		p.rt.Fatal(err)
	}
	truth := jobIDs(p.src.sim.Jobs())
	gone := 0
	for _, id := range live {
		if _, found := slices.BinarySearch(truth, id); !found {
			gone++
		}
	}
	if gone <= p.opts.MaxDeleteMin || float64(gone) <= p.opts.MaxDeleteShare*float64(len(live)) {
		p.rt.Fatalf("refused to delete although only %d of %d live jobs are gone: %s", gone, len(live), res.Error)
	}
}

// headSync runs a head walk, with churn during it when rate > 0: it never marks a deletion, and the
// history invariants hold after it.
func (p *propertyCase) headSync(rate float64) {
	sim := p.src.sim
	before := sim.ChurnStats().Total()
	sim.SetChurn(rate)
	opts := p.opts
	opts.Kind = store.KindHead
	res, err := p.syncWith(opts)
	sim.SetChurn(0)
	p.tot.churned += sim.ChurnStats().Total() - before
	p.tot.heads++
	if res.Deleted != 0 || (err != nil && !errors.Is(err, syncer.ErrPartial)) {
		p.rt.Fatalf("head walk: %v, %+v", err, res)
	}
}

// syncWithChurn syncs while the source mutates after every list request.
func (p *propertyCase) syncWithChurn(rate float64) {
	sim := p.src.sim
	before := sim.ChurnStats().Total()
	sim.SetChurn(rate)
	_, _ = p.sync()
	sim.SetChurn(0)
	p.tot.churned += sim.ChurnStats().Total() - before
}

// syncClean syncs a source that does not change meanwhile until every
// deletion candidate is settled: each run settles up to its check budget
// (so a small budget takes several runs, and none may stall), lifting a
// rightful mass-deletion refusal. Then the run must succeed and the live
// mirror must equal the source.
func (p *propertyCase) syncClean() syncer.Result {
	opts := p.opts
	for i := 0; ; i++ {
		res, err := p.syncWith(opts)
		if i < 100 {
			if errors.Is(err, syncer.ErrMassDelete) {
				opts.AllowMassDelete = true
				continue
			}
			if errors.Is(err, syncer.ErrPartial) && res.Verified && res.DeletionsPending > 0 && res.Deleted+res.Updated > 0 {
				continue // the budget was spent: the next run goes on where this one stopped
			}
		}
		if pagesErr := (*fetch.PagesError)(nil); errors.As(err, &pagesErr) && !walkable(p.pages, len(p.src.sim.Jobs()), opts.PerPage) {
			// The listing cannot be walked: partial, nothing marked deleted, what was read stored
			// (checked by syncWith); the mirror cannot equal the source.
			return res
		}
		if err != nil || res.State != store.StateSucceeded || !res.Verified || res.Walks != 1 {
			p.rt.Fatalf("sync without churn (run %d of the quiet period): %v, %+v", i+1, err, res)
		}
		if err := p.m.check(context.Background(), p.f.db, p.src.name, p.src.sim.Jobs(), true); err != nil {
			p.rt.Fatalf("after a sync without churn: %v", err)
		}
		return res
	}
}

// syncTwice syncs without churn, then again: the second sync must write
// nothing at all.
func (p *propertyCase) syncTwice() {
	ctx := context.Background()
	p.syncClean()
	before, err := rowVersions(ctx, p.f.db, p.src.name)
	if err != nil {
		p.rt.Fatal(err)
	}
	res := p.syncClean()
	after, err := rowVersions(ctx, p.f.db, p.src.name)
	if err != nil {
		p.rt.Fatal(err)
	}
	if res.Inserted != 0 || res.Updated != 0 || res.Deleted != 0 || !slices.Equal(before, after) {
		p.rt.Fatalf("a repeated sync with nothing changed wrote: %+v\nbefore %v\nafter  %v", res, before, after)
	}
}
