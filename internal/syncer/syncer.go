// Package syncer runs one sync of one source: it opens a run in the ledger, and either walks every
// page of the list API (a full walk: re-walking when a walk cannot be proven complete, upserting each
// page as it arrives, then settling the deletion candidates on the service's own evidence: evidence.go)
// or lists only where change is likely (a head walk: head.go), and closes the run with its counts and
// state.
package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/vizjob/indexer/internal/config"
	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
)

// API is what a sync needs from the ModelArts API (a *fetch.Client).
type API interface {
	ListPage(ctx context.Context, q fetch.Query) (*fetch.Page, error)
	GetJob(ctx context.Context, jobID int64) (*fetch.Job, error)
}

var _ API = (*fetch.Client)(nil)

// Options configures one sync.
type Options struct {
	Source          string  // name of the source in the database
	PerPage         int     // page size of a walk (default config.DefaultPerPage)
	PerPageSetting  string  // what messages call the page-size setting (default config.EnvPerPage)
	MaxWalks        int     // walks before the run ends partial (default config.DefaultMaxWalks)
	MaxDeleteShare  float64 // refuse to delete more than this share of live jobs (0: any share) ...
	MaxDeleteMin    int     // ... when that is also more than this many jobs (config defaults: 0.5 and 10)
	AllowMassDelete bool    // lift the guard for this run
	// AllowMassDeleteSetting is how a *MassDeleteError tells the user to lift the guard for one run,
	// in the words of the command they run (default DefaultAllowMassDeleteSetting).
	AllowMassDeleteSetting string
	SeenRefresh            time.Duration // see store.RunOptions
	Timeout                time.Duration // the run's deadline, 0: none (cause ErrRunTimeout; baditems.go)
	PageConcurrency        int           // pages of a walk requested at the same time (default 1; see fetch.WalkOptions.Concurrency)
	MaxBufferBytes         int64         // bytes of decoded pages a walk holds ahead (default fetch.DefaultMaxBufferBytes)
	// DeleteCheckBudget is the most calls (detail calls and name searches) a run spends asking the
	// service about deletion candidates (default config.DefaultDeleteCheckBudget); DeleteCheckTime the
	// longest it spends (default config.DefaultDeleteCheckTime, negative none). Candidates beyond either wait for the next
	// run. See evidence.go.
	DeleteCheckBudget int
	DeleteCheckTime   time.Duration
	// Kind is store.KindFull (default: walk every page, settle deletions) or store.KindHead (head.go).
	Kind string
	// HeadMaxNewPages and HeadDetailBudget bound a head walk's requests (head.go).
	HeadMaxNewPages  int
	HeadDetailBudget int
	Now              func() time.Time
	Logger           *slog.Logger

	// Progress, when set, is called after each stored batch of pages (a terminal's progress line);
	// else a "sync progress" line is logged every ProgressLogEvery (default 10s). The run's ledger
	// row is updated with its counts every ProgressEvery (default 2s). See progress.go.
	Progress         func(Progress)
	ProgressEvery    time.Duration
	ProgressLogEvery time.Duration
	RateLimit        float64 // the client's requests per second (0: none), to announce a long walk
}

// Result is the outcome of one run, as recorded in sync_runs.
type Result struct {
	RunID int64
	store.RunStats
	Verified  bool           // a walk was proven complete
	DeletedBy map[string]int // jobs marked deleted per kind of evidence (ByDetail, BySearch, ByListing)
}

// ErrMassDelete is returned when a run refuses to mark too many jobs deleted (a *MassDeleteError).
var ErrMassDelete = errors.New("mass deletion refused")

// DefaultAllowMassDeleteSetting is the default Options.AllowMassDeleteSetting: the command that lifts
// the guard for one run, as the indexer's users type it.
const DefaultAllowMassDeleteSetting = "indexer sync --allow-mass-delete"

// ErrPartial is returned when no walk could be verified complete or some items
// or deletion candidates could not be handled: the run kept what it saw.
var ErrPartial = errors.New("sync partial")

// Sync runs one sync of one source: a full walk, or a head walk (Options.Kind). It returns
// store.ErrSourceBusy when another run of the same source holds its lease (nothing is recorded then).
// Otherwise the run is recorded whatever happens, and the error (if any) is the one recorded in
// sync_runs.error.
func Sync(ctx context.Context, src API, st *store.Store, opts Options) (Result, error) {
	opts = opts.withDefaults()
	ctx, cancel := withDeadline(ctx, opts.Timeout)
	defer cancel()

	run, err := st.BeginRun(ctx, opts.Source, store.RunOptions{SeenRefresh: opts.SeenRefresh, Kind: opts.Kind})
	if err != nil {
		if !errors.Is(err, store.ErrSourceBusy) {
			opts.Logger.Error("cannot start a run", "source", opts.Source, "error", err)
		}
		return Result{}, fmt.Errorf("begin run: %w", err)
	}
	log := opts.Logger.With("source", opts.Source, "run_id", run.ID(), "kind", opts.Kind)
	s := &syncRun{src: src, run: run, opts: opts, log: log, started: time.Now(), bad: badItems{log: log,
		record: func(ctx context.Context, rows []store.BadItem) error {
			return run.RecordBadItems(ctx, rows, opts.Now())
		}}}
	s.stats.DeletionsPending = -1 // not counted yet
	log.Info("sync started")
	// Every request of the run (list, detail, search, token; retries included) is counted where the
	// client sends it, by the meter the run's context carries: no caller sums counts.
	ctx = fetch.WithMeter(ctx, &s.meter)
	// A run that lost its lease (it could not renew it for a whole lease, and another run took the
	// source) stops: its writes would race the other's.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	go func() {
		select {
		case <-run.Lost():
			stopRun(ErrLeaseLost)
		case <-ctx.Done():
		}
	}()
	err = s.body(ctx)
	return s.finish(ctx, err)
}

// ErrLeaseLost is the cause of a run stopped because another run took its source's lease.
var ErrLeaseLost = errors.New("the source's lease was lost to another run (this run could not renew it for a whole lease)")

func (o Options) withDefaults() Options {
	// The defaults users see (config) are those of a run built by hand (tests, bench).
	o.PerPage = cmp.Or(o.PerPage, config.DefaultPerPage)
	o.PerPageSetting = cmp.Or(o.PerPageSetting, config.EnvPerPage)
	o.AllowMassDeleteSetting = cmp.Or(o.AllowMassDeleteSetting, DefaultAllowMassDeleteSetting)
	o.MaxWalks = cmp.Or(o.MaxWalks, config.DefaultMaxWalks)
	o.DeleteCheckBudget = cmp.Or(o.DeleteCheckBudget, config.DefaultDeleteCheckBudget)
	o.DeleteCheckTime = cmp.Or(o.DeleteCheckTime, config.DefaultDeleteCheckTime)
	o.Kind = cmp.Or(o.Kind, store.KindFull)
	o.HeadMaxNewPages = cmp.Or(o.HeadMaxNewPages, DefaultHeadMaxNewPages)
	o.HeadDetailBudget = cmp.Or(o.HeadDetailBudget, DefaultHeadDetailBudget)
	o.ProgressEvery = cmp.Or(o.ProgressEvery, DefaultProgressEvery)
	o.ProgressLogEvery = cmp.Or(o.ProgressLogEvery, DefaultProgressLogEvery)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// withDeadline applies Options.Timeout to a run: ctx ends with ErrRunTimeout as its cause.
func withDeadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w (%s)", ErrRunTimeout, timeout))
}

// ErrRunTimeout is the cause of a run cut short by Options.Timeout.
var ErrRunTimeout = errors.New("run deadline exceeded")

// body runs the run's kind of walk; a panic becomes the run's error.
func (s *syncRun) body(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if s.opts.Kind == store.KindHead {
		return s.head(ctx)
	}
	return s.full(ctx)
}

// finish records how the run ended in the ledger, even when ctx was cancelled (shutdown, deadline),
// logs it, and returns the result and the run's error.
func (s *syncRun) finish(ctx context.Context, err error) (Result, error) {
	if err != nil && ctx.Err() != nil {
		// Say why the run was cut short (e.g. "interrupted by shutdown"), not just "context canceled".
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}
	s.stats.State = stateFor(err)
	if err != nil {
		s.stats.Error = err.Error()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	// jobs_seen: the distinct jobs of every walk, whatever the outcome (an interrupted run too).
	if n, serr := s.run.SeenTotal(fctx); serr == nil {
		s.stats.JobsSeen = n
	}
	s.stats.JobsSeen = max(s.stats.JobsSeen, s.stats.Inserted) // the database is gone: every insert was seen
	s.stats = s.metered(s.stats)
	if ferr := s.run.Finish(fctx, s.stats); ferr != nil {
		err = errors.Join(err, fmt.Errorf("record run outcome: %w", ferr))
	}
	s.logEnd(err)
	return Result{RunID: s.run.ID(), RunStats: s.stats, Verified: s.verified, DeletedBy: s.deletedBy}, err
}

// logEnd logs how the run ended: partial is a warning, not an error.
func (s *syncRun) logEnd(err error) {
	attrs := []any{"state", s.stats.State, "duration_seconds", math.Round(time.Since(s.started).Seconds()*1000) / 1000,
		"pages", s.stats.Pages, "requests", s.stats.Requests, "retries", s.stats.Retries,
		"jobs_seen", s.stats.JobsSeen, "jobs_inserted", s.stats.Inserted, "jobs_updated", s.stats.Updated,
		"jobs_deleted", s.stats.Deleted, "api_total_count", s.stats.APITotalCount,
		"page_wait_seconds", math.Round(s.pageWait.Seconds()*1000) / 1000,
		"deletion_candidates_seconds", math.Round(s.candidatesTime.Seconds()*1000) / 1000}
	if s.stats.DeletionsPending >= 0 {
		attrs = append(attrs, "deletion_checks", s.stats.DeletionChecks, "deletions_pending", s.stats.DeletionsPending)
	}
	switch {
	case errors.Is(err, ErrPartial):
		s.log.Warn("sync ended", append(attrs, "reason", err)...)
	case err != nil:
		s.log.Error("sync ended", append(attrs, "error", err)...)
	default:
		s.log.Info("sync ended", attrs...)
	}
}

func stateFor(err error) string {
	switch {
	case err == nil:
		return store.StateSucceeded
	case errors.Is(err, ErrPartial):
		return store.StatePartial
	default:
		return store.StateFailed
	}
}

type syncRun struct {
	src      API
	run      *store.Run
	opts     Options
	log      *slog.Logger
	started  time.Time
	stats    store.RunStats
	meter    fetch.Meter // every request of the run, counted where it is sent
	verified bool
	bad      badItems // malformed items per walk: baditems.go

	// For the deletion checks (evidence.go): the largest job id listed, the last jobs listed (known to
	// exist, to test the detail call and name searches with), and the last walk's probe.
	maxID         int64
	recent        []fetch.Job
	lastBaseline  *fetch.Baseline
	deletedBy     map[string]int
	lastDetailWhy string
	lastSearchWhy string
	headPages     []string // head walk: status listings stopped because their pages cannot be walked as documented
	prog          progress // progress of the walk: progress.go
	// Where the run's time went besides the store's steps (the store logs those: "write path"):
	// waiting for the next pages while nothing was being stored, and refreshing and checking the
	// deletion candidates. Logged with the run's end.
	pageWait, candidatesTime time.Duration
}

// full walks every page until a walk is proven complete or MaxWalks walks were made, then settles
// the deletion candidates (evidence.go).
func (s *syncRun) full(ctx context.Context) error {
	var why string
	walk := 1
	for ; ; walk++ {
		if walk > 1 {
			s.run.NextWalk()
		}
		v, err := s.walk(ctx, walk)
		if err != nil {
			return err // a walk cut short lists only some jobs: no deletion candidate is checked
		}
		s.stats.ListedAll = true // every page was listed, proven complete or not
		if v.verified {
			s.verified = true
			break
		}
		why = v.why
		if walk == s.opts.MaxWalks {
			break
		}
		s.log.Warn("walk not verified complete, walking again", "walk", walk, "reason", v.why)
	}
	// Whether or not a walk was proven complete, the jobs no walk listed are checked with the service
	// (evidence.go): the proof only bounds how many candidates there are.
	start := time.Now()
	err := s.settleCandidates(ctx)
	s.candidatesTime = time.Since(start)
	if err != nil {
		return err
	}
	if !s.verified {
		return fmt.Errorf("%w: no walk of %d could be verified complete (last: %s); upserted what was seen; %d deletions confirmed by the service were marked, %d candidates wait for evidence",
			ErrPartial, s.opts.MaxWalks, why, s.stats.Deleted, s.stats.DeletionsPending)
	}
	if s.stats.DeletionsPending > 0 {
		return fmt.Errorf("%w: %d jobs missing from the listing still wait for the service's word on them (%s); %d deletions were confirmed and marked",
			ErrPartial, s.stats.DeletionsPending, s.pendingWhy(), s.stats.Deleted)
	}
	return s.bad.outcome(walk, nil)
}

// pendingWhy says why candidates could not be settled, from what the checks learnt.
func (s *syncRun) pendingWhy() string {
	switch {
	case s.lastDetailWhy != "" && s.lastSearchWhy != "":
		return "detail call: " + s.lastDetailWhy + "; name search: " + s.lastSearchWhy
	case s.lastDetailWhy != "":
		return "detail call: " + s.lastDetailWhy
	case s.lastSearchWhy != "":
		return "name search: " + s.lastSearchWhy
	}
	return "the check budget of the run was spent, or the answers were inconclusive; see modelarts.deletion_candidates.last_answer"
}

// batchJobs is the most jobs a walk stores in one transaction.
const batchJobs = 1000

// walk walks every page once and says whether the walk is proven complete, and why not.
//
// The walk is sorted by create_time then job_id, so a job created during the
// walk lands at the end and cannot move the jobs before it; only a deletion
// does (the jobs after it shift one place left, and the one crossing the
// boundary of the page being read is skipped). A probe just before page 1
// tells how many jobs existed (T0) and which was last; the walk counts the
// distinct jobs it saw after that one (created meanwhile). The walk is
// complete iff every one of the T0 jobs was seen: distinct seen - created ==
// T0 (fetch.WalkResult.Unseen). A deletion during the walk therefore makes it
// unverified (skip or not: the two cannot be told apart), and so do
// malformed items without a job_id; jobs created during the walk are not
// required (the next run sees them). The distinct count comes from the store: bits in memory for the
// jobs the source held when the run started (16 bytes and a few bits a job), the run's seen table in
// the database for the others.
func (s *syncRun) walk(ctx context.Context, walk int) (walkVerdict, error) {
	s.stats.Walks = walk
	s.startWalk()
	bad, anonymous := 0, 0
	// Pages that arrived while the previous ones were being stored are stored together, in one
	// transaction of up to batchJobs jobs: a transaction costs about the same for 100 jobs as for 1000.
	opts := fetch.WalkOptions{PerPage: s.opts.PerPage, Concurrency: s.opts.PageConcurrency, MaxBufferBytes: s.opts.MaxBufferBytes,
		MaxBatch: max(1, batchJobs/s.opts.PerPage), Verify: true}
	var jobs []fetch.Job
	idle := time.Now() // since the last batch was stored: waiting for pages
	wr, err := fetch.WalkBatches(ctx, s.src, opts, func(ctx context.Context, pages []*fetch.Page) error {
		s.pageWait += time.Since(idle)
		defer func() { idle = time.Now() }()
		jobs = jobs[:0]
		for _, p := range pages {
			n, err := s.bad.keep(ctx, walk, p.BadItems) // bad-item policy: baditems.go
			if err != nil {
				return err
			}
			anonymous += n
			bad += len(p.BadItems)
			jobs = append(jobs, p.Jobs...)
		}
		s.noteListed(jobs)
		err := s.upsert(ctx, jobs)
		clear(jobs) // keep no page alive while the next one is fetched (the walk's byte budget)
		if err != nil {
			return err
		}
		s.batchStored(ctx, walk, pages, len(jobs))
		return nil
	})
	s.stats.Pages += wr.Pages
	s.stats.BadItems += int64(bad)
	s.stats.APITotalCount = wr.LastTotal
	s.lastBaseline = &wr.Baseline
	if errors.Is(err, fetch.ErrAuth) {
		err = fmt.Errorf("%w (not retried: repeated failures lock an AK/SK key or IAM user; check the source's credentials and project id)", err)
	}
	seen, serr := s.run.SeenCount(ctx) // this walk's: the run's total is recorded at the end
	if serr == nil {
		s.stats.JobsSeen = max(s.stats.JobsSeen, seen)
	} else if err == nil {
		err = serr
	}
	if err != nil {
		return walkVerdict{}, s.pagesOutcome(err, seen)
	}
	v := verdict(wr, seen, anonymous)
	s.log.Debug("walk ended", "walk", walk, "pages", wr.Pages, "jobs_at_start", wr.Baseline.Total,
		"jobs_seen", seen, "created_during_walk", wr.Created, "total_at_end", wr.LastTotal, "unverified_because", v.why)
	return v, nil
}

// pagesOutcome turns a walk stopped because its pages cannot be walked as documented into the run's
// outcome: partial (what was read is stored) with the cause and what to do, in one line. No other
// walk follows and no deletion candidate is checked: another walk would read the same pages, and a
// job the walk could not reach is no candidate. A per_page the service refuses outright fails the
// run (nothing could be read), with the setting to change. Other errors pass through.
func (s *syncRun) pagesOutcome(err error, seen int64) error {
	var pe *fetch.PagesError
	var ppe *fetch.PerPageError
	switch {
	case errors.As(err, &ppe) && ppe.Err != nil:
		return fmt.Errorf("%w; set %s lower than %d, to a page size the endpoint accepts, or run `indexer probe`",
			err, s.opts.PerPageSetting, ppe.PerPage)
	case errors.As(err, &ppe):
		return fmt.Errorf("%w: %w; set %s to %d or lower, or run `indexer probe`; upserted the %d jobs read, checked no deletion and did not walk again",
			ErrPartial, err, s.opts.PerPageSetting, ppe.Served, seen)
	case errors.As(err, &pe):
		return fmt.Errorf("%w: %w; upserted the %d jobs read, checked no deletion and did not walk again (it would read the same pages); run `indexer probe` to see how the endpoint numbers its pages",
			ErrPartial, err, seen)
	}
	return err
}

// walkVerdict is whether a walk is proven complete, and why not.
type walkVerdict struct {
	verified bool
	why      string // when not verified
}

func unverified(format string, a ...any) walkVerdict {
	return walkVerdict{why: fmt.Sprintf(format, a...)}
}

// verdict judges a walk that saw seen distinct jobs, anonymous of its malformed items without a
// usable job_id.
func verdict(wr fetch.WalkResult, seen int64, anonymous int) walkVerdict {
	switch unseen := wr.Unseen(seen); {
	case anonymous > 0:
		return unverified("%d malformed items without a usable job_id (kept in modelarts.bad_items)", anonymous)
	case wr.Baseline.Ambiguous:
		return unverified("the probe before the walk could not tell which job was the newest (a full page of jobs created in the same millisecond, or undecodable items)")
	case unseen > 0:
		return unverified("%d of the %d jobs listed when the walk started were not seen (deleted during the walk, or skipped because a deletion shifted later pages)",
			unseen, wr.Baseline.Total)
	case unseen < 0:
		return unverified("saw %d more jobs than were listed when the walk started or created since: the listing order moved", -unseen)
	}
	return walkVerdict{verified: true}
}

// recentKept is how many of the last jobs listed a run keeps, to test its sources of evidence with.
const recentKept = 3

// noteListed keeps the largest id and the last jobs listed.
func (s *syncRun) noteListed(jobs []fetch.Job) {
	for _, j := range jobs {
		s.maxID = max(s.maxID, j.ID)
	}
	if n := len(jobs); n > 0 {
		s.recent = append(s.recent, jobs[max(0, n-recentKept):]...)
		s.recent = s.recent[max(0, len(s.recent)-recentKept):]
	}
}

// Rows are the rows the store keeps of jobs as listed: the one mapping of fetch.Job to store.Job.
func Rows(jobs []fetch.Job) []store.Job {
	rows := make([]store.Job, len(jobs))
	for i, j := range jobs {
		rows[i] = store.Job{
			JobID: j.ID, Name: j.Name, Desc: j.Desc, Status: j.Status, CreateTime: j.CreatedAt(),
			DurationMS: j.Duration, ServiceURL: j.ServiceURL, TrainURL: j.TrainURL, ResourceID: j.ResourceID, Raw: j.Raw,
			RemainingDurationMS: j.RemainingDuration,
		}
	}
	return rows
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
