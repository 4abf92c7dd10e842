package syncer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/simulator"
	"github.com/vizjob/indexer/internal/store"
	"github.com/vizjob/indexer/internal/syncer"
)

// fakeSource lets a test change what the real client answers.
type fakeSource struct {
	inner syncer.API
	list  func(ctx context.Context, q fetch.Query) (*fetch.Page, error) // nil: inner's
}

func (f *fakeSource) ListPage(ctx context.Context, q fetch.Query) (*fetch.Page, error) {
	if f.list != nil {
		return f.list(ctx, q)
	}
	return f.inner.ListPage(ctx, q)
}

func (f *fakeSource) GetJob(ctx context.Context, id int64) (*fetch.Job, error) {
	return f.inner.GetJob(ctx, id)
}

// mustSync runs one sync and fails the test unless it ends as want says:
// nil for success, else an error matching want.
func (f *fixture) mustSync(t *testing.T, src syncer.API, opts syncer.Options, want error) syncer.Result {
	t.Helper()
	res, err := f.sync(src, opts)
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("sync: %v, want %v (result %+v)", err, want, res)
	}
	return res
}

func (f *fixture) check(t *testing.T, m *model, s *source, exact bool) {
	t.Helper()
	if err := m.check(context.Background(), f.db, s.name, s.sim.Jobs(), exact); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) deletedAt(t *testing.T, src string, id int64) *time.Time {
	t.Helper()
	var at *time.Time
	if err := f.db.QueryRow(context.Background(), `SELECT deleted_at FROM modelarts.visualization_jobs WHERE source = $1 AND job_id = $2`,
		src, id).Scan(&at); err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return at
}

// versions returns (status, valid_from, valid_to) of every version of a job.
type version struct {
	Status   int
	From, To *time.Time
}

func (f *fixture) versions(t *testing.T, src string, id int64) []version {
	t.Helper()
	rows, err := f.db.Query(context.Background(), `
		SELECT status, valid_from, valid_to FROM modelarts.visualization_job_history
		WHERE source = $1 AND job_id = $2 ORDER BY valid_from, id`, src, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.Status, &v.From, &v.To); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestSyncMirrorsEveryJobWithOneProbePerWalk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, auth := range []string{fetch.AuthAKSK, fetch.AuthToken} {
		s := mustSource(t, "mirror-"+auth, simulator.Options{Jobs: 537, Seed: 7}, auth)
		res := f.mustSync(t, s.client, options(s.name), nil)
		requests := 7 // the probe and 6 pages, and under token authentication the token request (counted since issue 25)
		if auth == fetch.AuthToken {
			requests++
		}
		if !res.Verified || res.Walks != 1 || res.Pages != 6 || res.Requests != requests || res.JobsSeen != 537 || res.Inserted != 537 {
			t.Fatalf("%s: result %+v", auth, res)
		}
		f.check(t, newModel(), s, true)
		q := s.sim.Stats().Requests
		first := q[0].Query()
		if auth == fetch.AuthToken {
			first = q[1].Query() // q[0] is the token request
		}
		if first.Get("order") != "desc" || first.Get("per_page") != "100" || first.Get(map[string]string{fetch.AuthAKSK: "sortBy", fetch.AuthToken: "sort_by"}[auth]) != "create_time" {
			t.Errorf("%s: probe query %v", auth, first)
		}
	}
}

// The case that makes counting alone unsafe: during the walk one job already read is
// deleted and one is created. job_total_count stays the same and as many
// distinct jobs are seen as it says, yet the first job of page 2 shifted onto
// page 1 and was never listed. The walk is not verified; the next one is.
func TestDeletionPlusCreationDuringWalkIsCaught(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, maxWalks := range []int{1, 3} {
		s := mustSource(t, "shift-"+string(rune('0'+maxWalks)), simulator.Options{Jobs: 250, Seed: 3}, fetch.AuthAKSK)
		order := s.sim.Jobs()
		slices.SortFunc(order, func(a, b fetch.Job) int { return fetch.KeyOf(a).Compare(fetch.KeyOf(b)) })
		skipped := order[100].ID
		fired := false
		s.sim.OnList(func(c simulator.ListCall) {
			if c.Page == 1 && !c.Desc && !fired {
				fired = true
				s.sim.DeleteJob(order[4].ID)
				s.sim.CreateJob()
			}
		})
		opts := options(s.name)
		opts.MaxWalks = maxWalks
		if maxWalks == 1 {
			res := f.mustSync(t, s.client, opts, syncer.ErrPartial)
			if res.State != store.StatePartial || res.Verified || res.Deleted != 0 || res.APITotalCount != 250 || res.JobsSeen != 250 ||
				!strings.Contains(res.Error, "1 of the 250 jobs listed when the walk started were not seen") {
				t.Fatalf("result %+v", res)
			}
			if ids, _ := liveIDs(context.Background(), f.db, s.name); slices.Contains(ids, skipped) {
				t.Fatalf("job %d was not skipped: the test does not test anything", skipped)
			}
			continue
		}
		res := f.mustSync(t, s.client, opts, nil)
		if res.State != store.StateSucceeded || res.Walks != 2 || !res.Verified || res.Deleted != 1 {
			t.Fatalf("result %+v", res)
		}
		f.check(t, newModel(), s, true)
	}
}

// panickingDetail lists through the real client, but its detail call panics: a bug in the run.
type panickingDetail struct{ syncer.API }

func (panickingDetail) GetJob(context.Context, int64) (*fetch.Job, error) { panic("boom") }

// A panic inside a run becomes the run's error: the run ends in the ledger as failed with it, the
// source's lock is freed, and the next run is not kept waiting.
func TestPanicInRunIsRecordedAndFreesTheSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "panics", simulator.Options{Jobs: 20, Seed: 1}, fetch.AuthAKSK)
	opts := options(s.name)
	f.mustSync(t, s.client, opts, nil)
	s.sim.DeleteJob(s.sim.Jobs()[0].ID) // a deletion candidate: the next run asks the detail call
	if _, err := f.sync(panickingDetail{s.client}, opts); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("the run with a panic returned %v, want its panic as the error", err)
	}
	var state, msg string
	if err := f.db.QueryRow(context.Background(),
		`SELECT state, error FROM modelarts.sync_runs WHERE source = $1 ORDER BY id DESC LIMIT 1`, s.name).Scan(&state, &msg); err != nil {
		t.Fatal(err)
	}
	if state != store.StateFailed || !strings.Contains(msg, "panic: boom") {
		t.Errorf("the run ended %s with %q, want failed with the panic", state, msg)
	}
	if res, err := f.sync(s.client, opts); err != nil || res.Deleted != 1 {
		t.Errorf("the next run: %+v, %v; want it to run and mark the deleted job", res, err)
	}
}

// Deletion checks take a request each, at the rate limit: a run that asks about many candidates
// says how far it has come, as a walk does.
func TestDeletionChecksReportProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "checks-progress", simulator.Options{Jobs: 60, Seed: 3}, fetch.AuthAKSK)
	f.mustSync(t, s.client, options(s.name), nil)
	for _, j := range s.sim.Jobs()[:8] {
		s.sim.DeleteJob(j.ID)
	}
	var logs bytes.Buffer
	opts := options(s.name)
	opts.ProgressLogEvery = time.Nanosecond
	opts.MaxDeleteMin = 100 // 8 of 60 is not a mass deletion here
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	if res := f.mustSync(t, s.client, opts, nil); res.Deleted != 8 {
		t.Fatalf("%d jobs marked deleted, want 8", res.Deleted)
	}
	for _, want := range []string{`"msg":"deletion checks progress","source":"checks-progress"`, `"asked":1,"of":8`, `"asked":7,"of":8`, `"calls_left"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

func TestDeletionConfirmedByDetailCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "deleted", simulator.Options{Jobs: 150, Seed: 5}, fetch.AuthToken)
	m := newModel()
	f.mustSync(t, s.client, options(s.name), nil)
	jobs := s.sim.Jobs()
	gone := []int64{jobs[3].ID, jobs[77].ID, jobs[149].ID}
	for _, id := range gone {
		s.sim.DeleteJob(id)
	}
	s.sim.ResetStats()
	before := time.Now()
	res := f.mustSync(t, s.client, options(s.name), nil)
	if res.Deleted != 3 || res.State != store.StateSucceeded || res.JobsSeen != 147 {
		t.Fatalf("result %+v", res)
	}
	// Two calls learn, once per run, what the detail call answers (an id that cannot exist, a job just
	// listed); then one per candidate.
	if n := s.sim.Stats().DetailRequests; n != 2+3 {
		t.Errorf("%d detail calls, want two to calibrate and one per candidate (5)", n)
	}
	for _, id := range gone {
		at := f.deletedAt(t, s.name, id)
		vs := f.versions(t, s.name, id)
		if at == nil || at.Before(before) || len(vs) != 1 || vs[0].To == nil || !vs[0].To.Equal(*at) {
			t.Errorf("job %d: deleted_at %v, versions %+v", id, at, vs)
		}
	}
	f.check(t, m, s, true)
}

// A job the list leaves out but the detail call finds was skipped, not
// deleted: it is kept, and updated from the detail answer.
func TestJobMissingFromListButFoundIsKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "hidden", simulator.Options{Jobs: 60, Seed: 9}, fetch.AuthAKSK)
	f.mustSync(t, s.client, options(s.name), nil)
	hidden := s.sim.Jobs()[20]
	s.sim.SetStatus(hidden.ID, 12, time.Minute)
	src := &fakeSource{inner: s.client}
	src.list = func(ctx context.Context, q fetch.Query) (*fetch.Page, error) {
		p, err := s.client.ListPage(ctx, q)
		if err == nil {
			p.Jobs = slices.DeleteFunc(p.Jobs, func(j fetch.Job) bool { return j.ID == hidden.ID })
			p.TotalCount--
		}
		return p, err
	}
	res := f.mustSync(t, src, options(s.name), nil)
	if res.Deleted != 0 || res.Updated != 1 || res.State != store.StateSucceeded {
		t.Fatalf("result %+v", res)
	}
	if at := f.deletedAt(t, s.name, hidden.ID); at != nil {
		t.Fatalf("hidden job marked deleted at %v", at)
	}
	if vs := f.versions(t, s.name, hidden.ID); len(vs) != 2 || vs[1].Status != 12 || vs[1].To != nil {
		t.Fatalf("versions %+v", vs)
	}
	f.check(t, newModel(), s, true)
}

func TestReappearanceOpensNewVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "back", simulator.Options{Jobs: 120, Seed: 4}, fetch.AuthAKSK)
	m := newModel()
	f.mustSync(t, s.client, options(s.name), nil)
	id := s.sim.Jobs()[50].ID
	state, _ := s.sim.JobState(id)
	s.sim.DeleteJob(id)
	if res := f.mustSync(t, s.client, options(s.name), nil); res.Deleted != 1 {
		t.Fatalf("result %+v", res)
	}
	f.check(t, m, s, true)
	deleted := f.deletedAt(t, s.name, id)
	s.sim.PutJob(state)
	res := f.mustSync(t, s.client, options(s.name), nil)
	if res.Updated != 1 || res.Inserted != 0 || res.Deleted != 0 {
		t.Fatalf("result %+v", res)
	}
	if at := f.deletedAt(t, s.name, id); at != nil {
		t.Fatalf("deleted_at %v after the job came back", at)
	}
	vs := f.versions(t, s.name, id)
	if len(vs) != 2 || !vs[0].To.Equal(*deleted) || !vs[1].From.After(*deleted) || vs[1].To != nil || vs[0].Status != vs[1].Status {
		t.Fatalf("versions %+v (deleted at %v)", vs, deleted)
	}
	f.check(t, m, s, true)
}

func TestMassDeletionGuard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name          string
		jobs, delete  int
		refused       bool
		share         float64
		min           int
		wantInMessage string
	}{
		{name: "more than half and more than 10", jobs: 100, delete: 60, refused: true, share: 0.5, min: 10, wantInMessage: "60 of 100 live jobs (60%) would be marked deleted (the service confirmed 60 of the 60 candidates checked gone), more than the 50% allowed"},
		{name: "more than 10 but not half", jobs: 100, delete: 11, refused: false, share: 0.5, min: 10, wantInMessage: ""},
		{name: "more than half but only 10", jobs: 12, delete: 10, refused: false, share: 0.5, min: 10, wantInMessage: ""},
		{name: "stricter share", jobs: 100, delete: 21, refused: true, share: 0.2, min: 10, wantInMessage: "21 of 100 live jobs (21%)"},
		// More candidates than the default check budget (200): the share confirmed among those checked is
		// projected onto all of them. With a larger budget, all 450 are marked in one run.
		{name: "more than one mark batch", jobs: 500, delete: 450, refused: true, share: 0.5, min: 10, wantInMessage: "450 of 500 live jobs (90%)"},
	}
	for _, tt := range tests {
		s := mustSource(t, "guard-"+tt.name, simulator.Options{Jobs: tt.jobs, Seed: 2}, fetch.AuthAKSK)
		opts := options(s.name)
		opts.MaxDeleteShare, opts.MaxDeleteMin = tt.share, tt.min
		opts.DeleteCheckBudget = 500
		f.mustSync(t, s.client, opts, nil)
		for _, j := range s.sim.Jobs()[:tt.delete] {
			s.sim.DeleteJob(j.ID)
		}
		if !tt.refused {
			if res := f.mustSync(t, s.client, opts, nil); res.Deleted != int64(tt.delete) {
				t.Fatalf("%s: result %+v", tt.name, res)
			}
			continue
		}
		s.sim.ResetStats()
		res := f.mustSync(t, s.client, opts, syncer.ErrMassDelete)
		r, err := lastRun(context.Background(), f.db, s.name)
		if err != nil {
			t.Fatal(err)
		}
		if res.State != store.StateFailed || r.State != store.StateFailed || r.Delete != 0 ||
			!strings.Contains(r.Error, tt.wantInMessage) || !strings.Contains(r.Error, "--allow-mass-delete") {
			t.Fatalf("%s: result %+v, ledger %+v", tt.name, res, r)
		}
		// The guard counts deletions the service confirmed: every candidate was asked about first.
		if n := s.sim.Stats().DetailRequests; n != 2+tt.delete {
			t.Errorf("%s: %d detail calls before refusing, want %d", tt.name, n, 2+tt.delete)
		}
		if live, _ := liveIDs(context.Background(), f.db, s.name); len(live) != tt.jobs {
			t.Fatalf("%s: %d live jobs after the refusal, want %d", tt.name, len(live), tt.jobs)
		}
		opts.AllowMassDelete = true
		if res := f.mustSync(t, s.client, opts, nil); res.Deleted != int64(tt.delete) || res.State != store.StateSucceeded {
			t.Fatalf("%s: allowed run %+v", tt.name, res)
		}
		f.check(t, newModel(), s, true)
	}
}

// Every walk sees a job of page 1 deleted after reading it: no walk can be
// verified and the run ends partial, keeps what it saw, and still marks the
// jobs the service confirms gone: the two deleted before its last walk. The
// one deleted during the last walk waits for the next run.
func TestUnverifiableWalksEndPartial(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "partial", simulator.Options{Jobs: 250, Seed: 8}, fetch.AuthToken)
	m := newModel()
	f.mustSync(t, s.client, options(s.name), nil)
	var deleted []int64
	s.sim.OnList(func(c simulator.ListCall) {
		if c.Page == 1 && !c.Desc {
			order := s.sim.Jobs()
			slices.SortFunc(order, func(a, b fetch.Job) int { return fetch.KeyOf(a).Compare(fetch.KeyOf(b)) })
			deleted = append(deleted, order[0].ID)
			s.sim.DeleteJob(order[0].ID)
			s.sim.SetStatus(order[200].ID, 11, time.Second) // and something to upsert
		}
	})
	var logs bytes.Buffer
	opts := options(s.name)
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	res := f.mustSync(t, s.client, opts, syncer.ErrPartial)
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"sync ended"`) || strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a partial run is logged as an error:\n%s", logs.String())
	}
	if res.State != store.StatePartial || res.Walks != 3 || res.Verified || res.Deleted != 2 || res.Updated == 0 ||
		!strings.Contains(res.Error, "no walk of 3 could be verified complete") || !strings.Contains(res.Error, "2 deletions confirmed by the service were marked") {
		t.Fatalf("result %+v", res)
	}
	// Every walk listed every page, none proven complete: the run says it listed them, and sync_health
	// has it as the last listing, not as a success.
	var listed bool
	var listedRun, successRun *int64
	if err := f.db.QueryRow(context.Background(), `
		SELECT r.listed_every_page, h.last_listed_run_id, h.last_success_run_id
		FROM modelarts.sync_runs AS r JOIN modelarts.source_sync_state AS h USING (source)
		WHERE r.id = $1`, res.RunID).Scan(&listed, &listedRun, &successRun); err != nil {
		t.Fatal(err)
	}
	if !listed || listedRun == nil || *listedRun != res.RunID || successRun == nil || *successRun == res.RunID {
		t.Errorf("partial run %d: listed_every_page %v, last listing run %v, last success run %v; want listed, the last listing, not the last success",
			res.RunID, listed, listedRun, successRun)
	}
	for i, id := range deleted {
		if at := f.deletedAt(t, s.name, id); (at != nil) != (i < 2) {
			t.Errorf("job %d (deleted during walk %d): deleted_at %v", id, i+1, at)
		}
	}
	if err := m.check(context.Background(), f.db, s.name, s.sim.Jobs(), false); err != nil {
		t.Fatal(err)
	}
	s.sim.OnList(nil)
	if res := f.mustSync(t, s.client, options(s.name), nil); res.Deleted != 1 || len(deleted) != 3 {
		t.Fatalf("clean run %+v after deleting %v", res, deleted)
	}
	f.check(t, m, s, true)
}

func TestFailureOnPageKeepsEarlierPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "fails", simulator.Options{Jobs: 250, Seed: 6}, fetch.AuthAKSK)
	boom := &fetch.APIError{HTTPStatus: 503, Code: "ModelArts.0010", Message: "busy"}
	src := &fakeSource{inner: s.client, list: func(ctx context.Context, q fetch.Query) (*fetch.Page, error) {
		if q.Page == 3 && q.Order == "asc" {
			return nil, boom
		}
		return s.client.ListPage(ctx, q)
	}}
	res := f.mustSync(t, src, options(s.name), fetch.ErrServer)
	r, err := lastRun(context.Background(), f.db, s.name)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := liveIDs(context.Background(), f.db, s.name)
	var listed bool
	if err := f.db.QueryRow(context.Background(), `SELECT listed_every_page FROM modelarts.sync_runs WHERE id = $1`, res.RunID).Scan(&listed); err != nil || listed {
		t.Errorf("a run cut short at page 3: listed_every_page %v (%v), want false", listed, err)
	}
	if res.State != store.StateFailed || r.State != store.StateFailed || len(live) != 200 || r.Pages != 2 || r.Inserted != 200 ||
		!strings.Contains(r.Error, "walk page 3") {
		t.Fatalf("result %+v, ledger %+v, %d jobs kept", res, r, len(live))
	}
	if err := newModel().check(context.Background(), f.db, s.name, s.sim.Jobs(), false); err != nil {
		t.Fatal(err)
	}
}

// With no evidence at all (the detail route unpublished, name searches matching nothing), deleted jobs
// stay live and queued, the run says why, and nothing is marked deleted; once name searches work, the
// next run marks them.
func TestNoEvidenceKeepsCandidatesQueued(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := mustSource(t, "no-evidence", simulator.Options{Jobs: 150, Seed: 4,
		Dialect: simulator.Dialect{NotFound: simulator.NotFoundUnpublished, Search: simulator.SearchNothing}}, fetch.AuthAKSK)
	f.mustSync(t, s.client, options(s.name), nil)
	jobs := s.sim.Jobs()
	gone := []int64{jobs[10].ID, jobs[90].ID}
	for _, id := range gone {
		s.sim.DeleteJob(id)
	}
	res := f.mustSync(t, s.client, options(s.name), syncer.ErrPartial)
	if res.Deleted != 0 || res.DeletionsPending != 2 || !res.Verified ||
		!strings.Contains(res.Error, "2 jobs missing from the listing still wait") || !strings.Contains(res.Error, "APIG.0101") {
		t.Fatalf("result %+v", res)
	}
	var answer string
	if err := f.db.QueryRow(context.Background(), `SELECT last_answer FROM modelarts.deletion_candidates WHERE source = $1 AND job_id = $2`,
		s.name, gone[0]).Scan(&answer); err != nil || !strings.Contains(answer, "name search not trusted") {
		t.Errorf("last_answer %q, %v", answer, err)
	}
	for _, id := range gone {
		if at := f.deletedAt(t, s.name, id); at != nil {
			t.Errorf("job %d marked deleted without evidence", id)
		}
	}
	if err := s.sim.SetDialect(simulator.Dialect{NotFound: simulator.NotFoundUnpublished, Search: simulator.SearchName}); err != nil {
		t.Fatal(err)
	}
	res = f.mustSync(t, s.client, options(s.name), nil)
	if res.Deleted != 2 || res.DeletedBy[syncer.BySearch] != 2 || res.DeletionsPending != 0 {
		t.Fatalf("result with name searches %+v", res)
	}
	f.check(t, newModel(), s, true)
}
