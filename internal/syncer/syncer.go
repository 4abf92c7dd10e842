// Package syncer runs one sync of one source: it opens a run in the ledger,
// walks every page of the list API (re-walking when a walk cannot be proven
// complete), upserts each page as it arrives, confirms and marks deletions only
// after a verified-complete walk, and closes the run with its counts and state.
package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vizjob/indexer/internal/fetch"
	"github.com/vizjob/indexer/internal/store"
)

// Source is what a sync needs from the ModelArts API.
type Source interface {
	ListPage(ctx context.Context, q fetch.Query) (*fetch.Page, error)
	GetJob(ctx context.Context, jobID int64) (*fetch.Job, error)
}

var _ Source = (*fetch.Client)(nil)

// Options configures one sync.
type Options struct {
	Source          string        // name of the source in the database
	PerPage         int           // page size of a walk (default 100)
	MaxWalks        int           // walks before the run ends partial (default 3)
	MaxDeleteShare  float64       // refuse to delete more than this share of live jobs (0: any share) ...
	MaxDeleteMin    int           // ... when that is also more than this many jobs (config defaults: 0.5 and 10)
	AllowMassDelete bool          // lift the guard for this run
	SeenRefresh     time.Duration // see store.RunOptions
	Timeout         time.Duration // the run's deadline, 0: none (cause ErrRunTimeout; baditems.go)
	PageConcurrency int           // pages of a walk requested at the same time (default 1; see fetch.WalkOptions.Concurrency)
	Now             func() time.Time
	Logger          *slog.Logger
}

// Result is the outcome of one run, as recorded in sync_runs.
type Result struct {
	RunID int64
	store.RunStats
	Verified bool // a walk was proven complete
}

// ErrMassDelete is returned when a run refuses to mark too many jobs deleted.
var ErrMassDelete = errors.New("mass deletion refused")

// ErrPartial is returned when no walk could be verified complete or some items
// or deletion candidates could not be handled: the run kept what it saw.
var ErrPartial = errors.New("sync partial")

// Sync runs one sync of one source. It returns store.ErrSourceBusy when another
// run of the same source holds the lock (nothing is recorded then). Otherwise
// the run is recorded whatever happens, and the error (if any) is the one
// recorded in sync_runs.error.
func Sync(ctx context.Context, src Source, st *store.Store, opts Options) (res Result, err error) {
	opts.PerPage = cmp.Or(opts.PerPage, 100)
	opts.MaxWalks = cmp.Or(opts.MaxWalks, 3)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := withDeadline(ctx, opts.Timeout)
	defer cancel()

	run, err := st.BeginRun(ctx, opts.Source, store.RunOptions{SeenRefresh: opts.SeenRefresh})
	if err != nil {
		if !errors.Is(err, store.ErrSourceBusy) {
			log.Error("cannot start a run", "source", opts.Source, "error", err)
		}
		return res, fmt.Errorf("begin run: %w", err)
	}
	res.RunID = run.ID()
	log = log.With("source", opts.Source, "run_id", run.ID())
	s := &syncRun{src: src, run: run, opts: opts, log: log}
	log.Info("sync started")
	started := time.Now()

	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
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
		// Record the outcome even when ctx was cancelled (shutdown, deadline).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if ferr := run.Finish(fctx, s.stats); ferr != nil {
			err = errors.Join(err, fmt.Errorf("record run outcome: %w", ferr))
		}
		res.RunStats, res.Verified = s.stats, s.verified
		attrs := []any{"state", s.stats.State, "duration_seconds", time.Since(started).Round(time.Millisecond).Seconds(),
			"pages", s.stats.Pages, "requests", s.stats.Requests, "retries", s.stats.Retries,
			"jobs_seen", s.stats.JobsSeen, "jobs_inserted", s.stats.Inserted, "jobs_updated", s.stats.Updated,
			"jobs_deleted", s.stats.Deleted, "api_total_count", s.stats.APITotalCount}
		if err != nil {
			log.Error("sync ended", append(attrs, "error", err)...)
		} else {
			log.Info("sync ended", attrs...)
		}
	}()
	return res, s.sync(ctx)
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
	src      Source
	run      *store.Run
	opts     Options
	log      *slog.Logger
	stats    store.RunStats
	verified bool
	bad      badItems // malformed items per walk: baditems.go
}

func (s *syncRun) sync(ctx context.Context) error {
	var why string
	for walk := 1; walk <= s.opts.MaxWalks; walk++ {
		if walk > 1 {
			s.run.NextWalk()
		}
		ok, reason, err := s.walk(ctx, walk)
		if err != nil {
			return err
		}
		if ok {
			s.verified = true
			return s.bad.outcome(walk, s.deletions(ctx))
		}
		why = reason
		s.log.Warn("walk not verified complete, walking again", "walk", walk, "reason", reason)
	}
	return fmt.Errorf("%w: no walk of %d could be verified complete (last: %s); upserted what was seen, marked no deletion",
		ErrPartial, s.opts.MaxWalks, why)
}

// batchJobs is the most jobs a walk stores in one transaction.
const batchJobs = 1000

// walk walks every page once and says whether the walk is proven complete.
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
// required (the next run sees them). The distinct count comes from the run's seen table in the
// database, so memory stays bounded whatever the number of jobs.
func (s *syncRun) walk(ctx context.Context, walk int) (verified bool, reason string, err error) {
	s.stats.Walks = walk
	bad, anonymous := 0, 0
	// Pages that arrived while the previous ones were being stored are stored together, in one
	// transaction of up to batchJobs jobs: a transaction costs about the same for 100 jobs as for 1000.
	opts := fetch.WalkOptions{PerPage: s.opts.PerPage, Concurrency: s.opts.PageConcurrency, MaxBatch: max(1, batchJobs/s.opts.PerPage), Verify: true}
	var jobs []fetch.Job
	wr, err := fetch.WalkBatches(ctx, s.src, opts, func(ctx context.Context, pages []*fetch.Page) error {
		jobs = jobs[:0]
		for _, p := range pages {
			n, err := s.bad.keep(ctx, s, walk, p.BadItems) // bad-item policy: baditems.go
			if err != nil {
				return err
			}
			anonymous += n
			bad += len(p.BadItems)
			jobs = append(jobs, p.Jobs...)
		}
		pr, err := s.run.UpsertPage(ctx, toRows(jobs), s.opts.Now())
		if err != nil {
			return err
		}
		s.stats.Inserted += int64(pr.Inserted)
		s.stats.Updated += int64(pr.Updated)
		return nil
	})
	s.stats.Pages += wr.Pages
	s.stats.Requests += wr.Requests
	s.stats.Retries += wr.Retries
	s.stats.BadItems += int64(bad)
	s.stats.APITotalCount = wr.LastTotal
	if errors.Is(err, fetch.ErrAuth) {
		err = fmt.Errorf("%w (not retried: repeated failures lock an AK/SK key or IAM user; check the source's credentials and project id)", err)
	}
	if seen, serr := s.run.SeenCount(ctx); serr == nil {
		s.stats.JobsSeen = seen
	} else if err == nil {
		err = serr
	}
	if err != nil {
		return false, "", err
	}
	reason = verdict(wr, s.stats.JobsSeen, anonymous)
	s.log.Debug("walk ended", "walk", walk, "pages", wr.Pages, "jobs_at_start", wr.Baseline.Total,
		"jobs_seen", s.stats.JobsSeen, "created_during_walk", wr.Created, "total_at_end", wr.LastTotal, "unverified_because", reason)
	return reason == "", reason, nil
}

// verdict says why a walk that saw seen distinct jobs is not proven complete,
// or "" when it is.
func verdict(wr fetch.WalkResult, seen int64, anonymous int) string {
	switch unseen := wr.Unseen(seen); {
	case anonymous > 0:
		return fmt.Sprintf("%d malformed items without a usable job_id (kept in modelarts.bad_items)", anonymous)
	case wr.Baseline.Ambiguous:
		return "the probe before the walk could not tell which job was the newest (a full page of jobs created in the same millisecond, or undecodable items)"
	case unseen > 0:
		return fmt.Sprintf("%d of the %d jobs listed when the walk started were not seen (deleted during the walk, or skipped because a deletion shifted later pages)",
			unseen, wr.Baseline.Total)
	case unseen < 0:
		return fmt.Sprintf("saw %d more jobs than were listed when the walk started or created since: the listing order moved", -unseen)
	}
	return ""
}

// deletions confirms every job absent from the verified walk with the detail
// call, upserts the ones that still exist (they were skipped, not deleted) and
// marks the rest deleted, unless that would delete too large a share.
func (s *syncRun) deletions(ctx context.Context) error {
	const maxCandidates = 100_000
	cands, total, err := s.run.DeletionCandidates(ctx, maxCandidates)
	if err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	live, err := s.run.LiveCount(ctx)
	if err != nil {
		return err
	}
	if !s.opts.AllowMassDelete && total > int64(s.opts.MaxDeleteMin) && float64(total) > s.opts.MaxDeleteShare*float64(live) {
		return fmt.Errorf("%w: %d of %d live jobs (%.0f%%) are missing from the API, more than the %.0f%% allowed; "+
			"nothing was marked deleted. If they really are gone, run once with --allow-mass-delete",
			ErrMassDelete, total, live, 100*float64(total)/float64(live), 100*s.opts.MaxDeleteShare)
	}
	// Confirmed deletions are marked in batches, so a run cut short by its
	// deadline (thousands of detail calls under a rate limit) keeps its progress.
	const markBatch = 200
	var gone []int64
	confirmed, unconfirmed := 0, 0
	mark := func() error {
		n, err := s.run.MarkDeleted(ctx, s.opts.Now(), gone)
		s.stats.Deleted += n
		gone = gone[:0]
		return err
	}
	for _, c := range cands {
		j, err := s.src.GetJob(ctx, c.JobID)
		switch {
		case errors.Is(err, fetch.ErrNotFound):
			confirmed++
			if gone = append(gone, c.JobID); len(gone) >= markBatch {
				if err := mark(); err != nil {
					return err
				}
			}
		case err != nil:
			if ctx.Err() != nil {
				return errors.Join(ctx.Err(), mark())
			}
			unconfirmed++
			s.log.Warn("cannot confirm deletion; keeping the job", "job_id", c.JobID, "error", err)
		default:
			// Skipped by the walk, not deleted: keep it current.
			s.log.Warn("deletion candidate still exists; kept and updated", "job_id", c.JobID)
			pr, err := s.run.UpsertPage(ctx, toRows([]fetch.Job{*j}), s.opts.Now())
			if err != nil {
				return err
			}
			s.stats.Inserted += int64(pr.Inserted)
			s.stats.Updated += int64(pr.Updated)
		}
	}
	if err := mark(); err != nil {
		return err
	}
	if unconfirmed > 0 || int64(len(cands)) < total {
		return fmt.Errorf("%w: %d of %d deletion candidates could not be confirmed and were kept", ErrPartial,
			total-int64(confirmed), total)
	}
	return nil
}

func toRows(jobs []fetch.Job) []store.Job {
	rows := make([]store.Job, len(jobs))
	for i, j := range jobs {
		rows[i] = store.Job{
			JobID: j.ID, Name: j.Name, Desc: j.Desc, Status: j.Status, CreateTime: j.CreatedAt(),
			DurationMS: j.Duration, ServiceURL: j.ServiceURL, TrainURL: j.TrainURL, ResourceID: j.ResourceID, Raw: j.Raw,
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
