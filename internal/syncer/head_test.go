package syncer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

// finalStatus says whether a status code is final (migration 00001's job_statuses.is_final).
func finalStatus(code int) bool {
	switch code {
	case 3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 21, 22:
		return true
	}
	return false
}

// A head walk sees new jobs and status changes of active jobs with a handful of requests, whatever
// the number of jobs, records them with the same history rules, and never marks a deletion.
func TestHeadWalk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := mustSource(t, "head", simulator.Options{Jobs: 3000, Seed: 21}, fetch.AuthAKSK)
	m := newModel()
	f.mustSync(t, s.client, options(s.name), nil)

	var active []fetch.Job
	statuses := map[int]int{}
	for _, j := range s.sim.Jobs() {
		if !finalStatus(j.Status) {
			active = append(active, j)
			statuses[j.Status]++
		}
	}
	if len(active) < 10 {
		t.Fatalf("only %d active jobs: the test tests nothing", len(active))
	}
	created := []fetch.Job{s.sim.CreateJob(), s.sim.CreateJob(), s.sim.CreateJob()}
	for _, j := range active[:4] {
		s.sim.SetStatus(j.ID, 10, 0) // completed
	}
	s.sim.SetStatus(active[4].ID, 8, 0) // whatever it was, running now (may be the same)
	s.sim.DeleteJob(active[5].ID)
	s.sim.ResetStats()

	opts := options(s.name)
	opts.Kind = store.KindHead
	res := f.mustSync(t, s.client, opts, nil)
	st := s.sim.Stats()
	// Bound: 1 page of new jobs + a page per 100 jobs of each active status (the 3 new jobs count in
	// status 1) + a detail call per job that left its status (4 completed, 1 deleted, maybe 1 moved).
	bound := 1 + 6
	statuses[1] += 3
	for _, n := range statuses {
		bound += n/100 + 1
	}
	if st.ListRequests+st.DetailRequests > bound {
		t.Errorf("head walk made %d list and %d detail requests; bound %d (3000 jobs, %d active in %d statuses)",
			st.ListRequests, st.DetailRequests, bound, len(active), len(statuses))
	}
	if res.Inserted != 3 || res.Deleted != 0 || res.State != store.StateSucceeded {
		t.Fatalf("result %+v", res)
	}
	for _, j := range active[:4] {
		vs := f.versions(t, s.name, j.ID)
		if last := vs[len(vs)-1]; last.Status != 10 || last.To != nil {
			t.Errorf("job %d: versions %+v, want an open version in status 10", j.ID, vs)
		}
	}
	for _, j := range created {
		if vs := f.versions(t, s.name, j.ID); len(vs) != 1 {
			t.Errorf("new job %d: versions %+v", j.ID, vs)
		}
	}
	if at := f.deletedAt(t, s.name, active[5].ID); at != nil {
		t.Errorf("a head walk marked job %d deleted", active[5].ID)
	}
	var kind string
	if err := f.db.QueryRow(ctx, `SELECT kind FROM modelarts.sync_runs WHERE id = $1`, res.RunID).Scan(&kind); err != nil || kind != "head" {
		t.Errorf("kind %q, %v", kind, err)
	}
	if err := m.check(ctx, f.db, s.name, s.sim.Jobs(), false); err != nil {
		t.Fatal(err)
	}
	// The full walk settles the deletion; the mirror is then exact.
	full := f.mustSync(t, s.client, options(s.name), nil)
	if full.Deleted != 1 {
		t.Errorf("full walk after the head walk: %+v", full)
	}
	f.check(t, m, s, true)
	t.Logf("head walk over 3000 jobs (%d active in %d statuses): %d list + %d detail requests; a full walk takes %d",
		len(active), len(statuses), st.ListRequests, st.DetailRequests, 3000/100+2)
	_ = syncer.ByDetail
}

// A deployment that ignores the status filter: the head walk notices jobs in other statuses, asks
// the detail call about the active jobs instead, and still records their changes and deletes nothing.
func TestHeadWalkStatusFilterIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "head-ignored", simulator.Options{Jobs: 40, Seed: 22, Dialect: simulator.Dialect{StatusIgnored: true}}, fetch.AuthAKSK)
	// Of 40 jobs over a year, about one is recent enough not to have ended: make the newest active.
	jobs := s.sim.Jobs()
	for i, j := range jobs[len(jobs)-6:] {
		s.sim.SetStatus(j.ID, []int{8, 7, 1}[i%3], 0) // running, waiting, initializing
	}
	f.mustSync(t, s.client, options(s.name), nil)
	var active []fetch.Job
	for _, j := range s.sim.Jobs() {
		if !finalStatus(j.Status) {
			active = append(active, j)
		}
	}
	if len(active) < 4 {
		t.Fatalf("only %d active jobs: the test tests nothing", len(active))
	}
	for _, j := range active[:3] {
		s.sim.SetStatus(j.ID, 11, 0) // failed
	}
	s.sim.DeleteJob(active[3].ID)
	opts := options(s.name)
	opts.Kind, opts.HeadDetailBudget = store.KindHead, 100
	res := f.mustSync(t, s.client, opts, nil)
	if res.Deleted != 0 || res.State != store.StateSucceeded {
		t.Fatalf("result %+v", res)
	}
	for _, j := range active[:3] {
		if vs := f.versions(t, s.name, j.ID); vs[len(vs)-1].Status != 11 || vs[len(vs)-1].To != nil {
			t.Errorf("job %d: versions %+v, want an open version in status 11", j.ID, vs)
		}
	}
	if at := f.deletedAt(t, s.name, active[3].ID); at != nil {
		t.Errorf("a head walk marked job %d deleted", active[3].ID)
	}
	f.mustSync(t, s.client, options(s.name), nil)
	f.check(t, newModel(), s, true)
}

// Many jobs enter an active status the mirror barely holds (a queue drains into running): the status
// listing outgrows its page cap (a few pages more than the mirror held). The head walk keeps what it
// read, ends partial with a note rather than failed, marks nothing deleted, and the next full walk
// settles the rest. Found by TestSyncProperties (a head walk over a mirror that had seen one page).
func TestHeadWalkStatusOutgrowsItsCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "head-cap", simulator.Options{Jobs: 400, Seed: 23}, fetch.AuthAKSK)
	opts := options(s.name)
	opts.PerPage = 20
	f.mustSync(t, s.client, opts, nil)
	moved := 0
	for _, j := range s.sim.Jobs() {
		if j.Status != 8 && moved < 150 {
			s.sim.SetStatus(j.ID, 8, 0)
			moved++
		}
	}
	head := opts
	head.Kind = store.KindHead
	res := f.mustSync(t, s.client, head, syncer.ErrPartial)
	if res.State != store.StatePartial || res.Deleted != 0 || res.Updated == 0 {
		t.Fatalf("head walk after %d jobs entered status 8: %+v; want partial, some updated, none deleted", moved, res)
	}
	if !strings.Contains(res.Error, "more jobs in status [8] than the page cap allowed") {
		t.Errorf("head walk note %q does not name the capped status", res.Error)
	}
	f.mustSync(t, s.client, opts, nil)
	f.check(t, newModel(), s, true)
}

// A head walk against a service that ignores page stops each status listing of more than a page
// where page 2 repeats page 1, keeps what it read and ends partial naming the pages; it marks no
// deletion and asks the detail call about none of the jobs it could not reach.
func TestHeadWalkPagesIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "head-pages", simulator.Options{Jobs: 3000, Seed: 21}, fetch.AuthAKSK)
	// Enough running jobs that the head walk's listing of them takes several pages: a generated year
	// has few jobs not ended.
	jobs := s.sim.Jobs()
	for _, j := range jobs[len(jobs)-400:] {
		s.sim.SetStatus(j.ID, 8, time.Minute)
	}
	f.mustSync(t, s.client, options(s.name), nil)
	if err := s.sim.SetDialect(simulator.Dialect{Pages: simulator.PagesIgnore}); err != nil {
		t.Fatal(err)
	}
	s.sim.ResetStats()
	opts := options(s.name)
	opts.Kind = store.KindHead
	res, err := f.sync(s.client, opts)
	if res.State != store.StatePartial || res.Deleted != 0 || !strings.Contains(res.Error, "pages cannot be walked as documented") ||
		!strings.Contains(res.Error, "run `indexer probe`") {
		t.Fatalf("head walk: %v, %+v; want partial naming the pages, nothing deleted", err, res)
	}
	if st := s.sim.Stats(); st.DetailRequests != 0 {
		t.Errorf("%d detail calls about jobs the head walk could not reach", st.DetailRequests)
	}
}
